"""A real OpenAI-compatible HTTP server on 127.0.0.1 that counts the prompt itself and reports usage.

It counts with tiktoken's o200k_base, by its own framing rules (not contextwise's): "openai" frames each message
with 3 tokens plus its role (+1 and the name for a name) and primes the reply with 3, as OpenAI's cookbook
documents for gpt-4o; "chatml" renders the messages
the way an Ollama ChatML template does and counts the text. With `num_ctx` set it truncates as Ollama does:
the oldest non-system messages are dropped until the prompt fits, and the usage reports what was kept, with no
error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from support import serve_http
import tiktoken


@dataclass
class CountingServer:
    url: str
    framing: str = "openai"
    num_ctx: int | None = None
    cached_tokens: int = 0
    requests: list[Any] = field(default_factory=list)

    def count(self, messages: list[dict[str, Any]]) -> int:
        enc = tiktoken.get_encoding("o200k_base")
        if self.framing == "openai":
            total = 3
            for m in messages:
                total += 3 + len(enc.encode(m["role"])) + len(enc.encode(m.get("content") or ""))
                total += 1 + len(enc.encode(m["name"])) if m.get("name") else 0
            return total
        text = "".join(f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages)
        return len(enc.encode(text + "<|im_start|>assistant\n"))

    def truncate(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = list(messages)
        while self.num_ctx is not None and self.count(kept) > self.num_ctx and len(kept) > 1:
            drop = next(i for i, m in enumerate(kept) if m["role"] != "system")
            if drop == len(kept) - 1:
                break  # Ollama keeps the last message whole
            kept.pop(drop)
        return kept

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        prompt = self.count(self.truncate(body["messages"]))
        usage = {"prompt_tokens": prompt, "completion_tokens": 2, "total_tokens": prompt + 2,
                 "prompt_tokens_details": {"cached_tokens": min(self.cached_tokens, prompt)}}
        return {"id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK."},
                             "finish_reason": "stop"}], "usage": usage}


class _Handler(BaseHTTPRequestHandler):
    server_state: CountingServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        answer = self.server_state.answer(body)
        if body.get("stream"):
            self._stream(answer)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


    def _stream(self, answer: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": answer["model"]}
        for chunk in ({**base, "choices": [{"index": 0, "delta": {"content": "OK."}, "finish_reason": "stop"}]},
                      {**base, "choices": [], "usage": answer["usage"]}):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


@pytest.fixture(scope="session")
def _counting_server() -> Iterator[CountingServer]:
    with serve_http(_Handler) as url:
        state = CountingServer(f"{url}/v1")
        _Handler.server_state = state
        yield state


@pytest.fixture
def counting_server(_counting_server: CountingServer) -> Iterator[CountingServer]:
    """The server, reset to OpenAI framing, no truncation, no cache."""
    s = _counting_server
    s.framing, s.num_ctx, s.cached_tokens = "openai", None, 0
    s.requests.clear()
    yield s


@pytest.fixture
def events() -> Iterator[list[Any]]:
    """Every event emitted during the test."""
    from contextwise import observe

    seen: list[Any] = []
    with observe.subscribe(seen.append):
        yield seen


@pytest.fixture
def fresh_calibration() -> Iterator[Any]:
    """A process calibration of the test's own."""
    from contextwise import observe

    previous = observe.use_calibration(observe.Calibration())
    yield observe.calibration()
    observe.use_calibration(previous)



@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


from stores.conftest import pg_dsn  # noqa: E402,F401  (the real PostgreSQL server the store tests start)
