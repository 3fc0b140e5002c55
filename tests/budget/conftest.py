"""A real HTTP server on 127.0.0.1 that checks requests the way OpenAI's and Anthropic's APIs do (roles, tool-call
pairing, block shapes, cache breakpoints) and answers in their wire format."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from collections.abc import Iterator

import pytest
from support import serve_http


def openai_errors(body: dict[str, Any]) -> list[str]:
    """What OpenAI's chat-completions API would reject in `body` (400s we have met in practice)."""
    errors, open_calls = [], set()
    for n, m in enumerate(body.get("messages") or []):
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            errors.append(f"messages[{n}]: bad role {role!r}")
        if role == "tool" and m.get("tool_call_id") not in open_calls:
            errors.append(f"messages[{n}]: tool message must answer a preceding tool_call")
        if role == "assistant" and m.get("tool_calls"):
            for c in m["tool_calls"]:
                if c.get("type") != "function" or not isinstance(c["function"].get("arguments"), str):
                    errors.append(f"messages[{n}]: malformed tool call")
            open_calls = {c["id"] for c in m["tool_calls"]}
        elif role != "tool":
            open_calls = set()
    for t in body.get("tools") or []:
        if t.get("type") != "function" or "name" not in t.get("function", {}):
            errors.append("malformed tool")
    return errors or ([] if body.get("messages") else ["messages is empty"])


def anthropic_errors(body: dict[str, Any]) -> list[str]:
    """What Anthropic's messages API would reject in `body`."""
    errors = []
    system = body.get("system", [])
    if not isinstance(system, (str, list)) or isinstance(system, list) and any(b.get("type") != "text"
                                                                               for b in system):
        errors.append("system must be a string or text blocks")
    msgs = body.get("messages") or []
    if not msgs or msgs[0].get("role") != "user":
        errors.append("the first message must be a user message")
    tool_uses: set[str] = set()
    for n, m in enumerate(msgs):
        if n and m["role"] == msgs[n - 1]["role"]:
            errors.append(f"messages[{n}]: roles must alternate")
        blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        for b in blocks:
            if b.get("type") not in ("text", "image", "tool_use", "tool_result"):
                errors.append(f"messages[{n}]: bad block {b.get('type')!r}")
            if b.get("type") == "tool_result" and (m["role"] != "user" or b.get("tool_use_id") not in tool_uses):
                errors.append(f"messages[{n}]: tool_result must answer a tool_use of the previous turn")
            if b.get("type") == "tool_use" and not isinstance(b.get("input"), dict):
                errors.append(f"messages[{n}]: tool_use input must be an object")
        tool_uses = {b["id"] for b in blocks if b.get("type") == "tool_use"}
    marks = json.dumps(body).count('"cache_control"')
    if marks > 4:
        errors.append(f"at most 4 cache_control blocks, got {marks}")
    for t in body.get("tools") or []:
        if "input_schema" not in t:
            errors.append("a tool needs input_schema")
    return errors


class _Handler(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.received.append((self.path, body))
        if self.path.endswith("/chat/completions"):
            errors, answer = openai_errors(body), {
                "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Bikes cost 0.08 euro per minute [1]."}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        else:
            errors, answer = anthropic_errors(body), {
                "id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
                "content": [{"type": "text", "text": "Bikes cost 0.08 euro per minute [1]."}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5}}
        status = 400 if errors else 200
        if errors:
            answer = {"error": {"type": "invalid_request_error", "message": "; ".join(errors)}}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def provider_server() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """(base URL, received requests) of a provider-shaped server on 127.0.0.1."""
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Handler", (_Handler,), {"received": received})
    with serve_http(handler) as url:
        yield url, received
