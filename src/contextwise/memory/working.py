"""Working memory: the current task and its state, persisted so a restarted process picks the task up again."""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Mapping

from contextwise.errors import UsageError
from contextwise.memory._base import MemoryBackend, MemoryItem, Stored, Timer

_ID = "working:current"


class WorkingMemory:
    """The task at hand and a small JSON-serialisable state; every change is written through to the store.

    >>> from contextwise.testing import HashEmbedder
    >>> wm = WorkingMemory(MemoryBackend("memory:", HashEmbedder(384), tenant="t"))
    >>> _ = wm.set_task("book a table for 4"); _ = wm.update(people=4)
    >>> wm.task, wm.state["people"]
    ('book a table for 4', 4)
    """

    tier = "working"

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.task: str = ""
        self.state: dict[str, Any] = {}
        if not backend.async_store:  # an async store is read by `await aload()`
            self._loaded(backend.get([_ID]))

    async def aload(self) -> None:
        """Read the persisted task from an async store (a sync store is read when the tier is made)."""
        self._loaded(await self.backend.aget([_ID]))

    def _loaded(self, found: list[Any]) -> None:
        if found:
            self.state = json.loads(found[0].metadata.get("state_json", "{}"))
            self.task = found[0].text if found[0].text != "(no task)" else ""

    def set_task(self, task: str, *, state: Mapping[str, Any] | None = None) -> Stored:
        """Start a task (replacing the current one and its state)."""
        if not task or not task.strip():
            raise UsageError("a task needs a description")
        return self._write("working.set_task", task.strip(), dict(state or {}))

    def update(self, **changes: Any) -> Stored:
        """Change entries of the state (a value of None removes the entry)."""
        state = {**self.state, **changes}
        return self._write("working.update", self.task, {k: v for k, v in state.items() if v is not None})

    def clear(self) -> Stored:
        """No task, no state."""
        return self._write("working.clear", "", {})

    def render(self) -> str:
        """The task and state as text for a prompt ("" when there is no task)."""
        if not self.task:
            return ""
        lines = [f"Current task: {self.task}"] + [f"- {k}: {v}" for k, v in self.state.items()]
        return "\n".join(lines)

    def _write(self, operation: str, task: str, state: dict[str, Any]) -> Stored:
        timer = Timer(operation)
        try:
            encoded = json.dumps(state, sort_keys=True)
        except TypeError as exc:
            raise UsageError(f"working-memory state must be JSON-serialisable: {exc}") from exc
        self.backend.put(self.tier, [(_ID, task or "(no task)", {"state_json": encoded, "importance": 1.0})],
                         embed=False)
        self.task, self.state = task, state
        item = MemoryItem(_ID, task, "working", 1.0, self.backend.clock(), {"state": state})
        return Stored(item, timer.stats(tokens=self.backend.counter.count(self.render())))
