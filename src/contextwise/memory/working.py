"""Working memory: the current task and its state, persisted so a restarted process picks the task up again."""

from __future__ import annotations

import json
from typing import Any, Mapping

from contextwise.errors import UsageError
from contextwise.memory._base import MemoryBackend

_ID = "working:current"


class WorkingMemory:
    """The task at hand and a small JSON-serialisable state; every change is written through to the store.

    >>> from contextwise.testing import HashEmbedder
    >>> wm = WorkingMemory(MemoryBackend("memory:", HashEmbedder(384), tenant="t"))
    >>> wm.set_task("book a table for 4"); wm.update(people=4)
    >>> wm.task, wm.state["people"]
    ('book a table for 4', 4)
    """

    tier = "working"

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        found = backend.get([_ID])
        data = json.loads(found[0].metadata.get("state_json", "{}")) if found else {}
        self.task: str = found[0].text if found and found[0].text != "(no task)" else ""
        self.state: dict[str, Any] = data

    def set_task(self, task: str, *, state: Mapping[str, Any] | None = None) -> None:
        """Start a task (replacing the current one and its state)."""
        if not task or not task.strip():
            raise UsageError("a task needs a description")
        self._write(task.strip(), dict(state or {}))

    def update(self, **changes: Any) -> None:
        """Change entries of the state (a value of None removes the entry)."""
        state = {**self.state, **changes}
        self._write(self.task, {k: v for k, v in state.items() if v is not None})

    def clear(self) -> None:
        """No task, no state."""
        self._write("", {})

    def render(self) -> str:
        """The task and state as text for a prompt ("" when there is no task)."""
        if not self.task:
            return ""
        lines = [f"Current task: {self.task}"] + [f"- {k}: {v}" for k, v in self.state.items()]
        return "\n".join(lines)

    def _write(self, task: str, state: dict[str, Any]) -> None:
        try:
            encoded = json.dumps(state, sort_keys=True)
        except TypeError as exc:
            raise UsageError(f"working-memory state must be JSON-serialisable: {exc}") from exc
        self.backend.put(self.tier, [(_ID, task or "(no task)", {"state_json": encoded, "importance": 1.0})],
                         embed=False)
        self.task, self.state = task, state
