"""Pieces of a request body more than one provider's dialect builds alike: tool-call arguments as an object,
data: URLs split, and consecutive same-role turns merged."""

from __future__ import annotations

import json
from typing import Any

from contextwise.errors import UsageError
from contextwise.types import ToolCall


def tool_arguments(call: ToolCall, provider: str) -> Any:
    """The call's arguments as the JSON value they encode (providers that want an object, not text)."""
    try:
        return json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise UsageError(f"tool call {call.id!r} has arguments that are not JSON: {call.arguments[:80]!r}; "
                         f"{provider} needs them as an object") from exc


def data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a data: URL, None for any other URL.

    >>> data_url("data:image/png;base64,iVBO")
    ('image/png', 'iVBO')
    """
    if not url.startswith("data:"):
        return None
    header, _, data = url.partition(",")
    return header[5:].split(";")[0], data


def append_turn(turns: list[dict[str, Any]], role: str, key: str, parts: list[dict[str, Any]]) -> None:
    """Add a turn, merged into the last one when it has the same role (providers that want turns to alternate)."""
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(parts)
    else:
        turns.append({"role": role, key: parts})
