"""A real HTTP server on 127.0.0.1 that answers like a model provider, from replies each test queues.

It speaks the wire formats for real: JSON bodies with Content-Length, text/event-stream written event by event,
error bodies with status codes and headers, a dropped connection, a slow answer. Every request it receives is
recorded (path, headers, JSON body and its bytes) so tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from collections.abc import Iterator

import pytest
from support import serve_http


@dataclass
class Reply:
    """One queued answer: JSON `body`, or SSE `events` ((event name or None, data) pairs), or a dropped line."""

    status: int = 200
    body: Any = None
    events: list[tuple[str | None, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False


@dataclass
class Received:
    """What the server got."""

    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""


class FakeProvider:
    """The queue of replies and the record of requests behind the server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.requests: list[Received] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()

    def reply(self, *replies: Reply) -> None:
        """Queue answers, served in order, one per request."""
        with self._lock:
            self._replies.extend(replies)

    def json(self, body: Any, *, status: int = 200, **headers: str) -> None:
        """Queue one JSON answer."""
        self.reply(Reply(status, body, headers=headers))

    def sse(self, events: list[tuple[str | None, Any]]) -> None:
        """Queue one event-stream answer; dict data is sent as JSON."""
        self.reply(Reply(events=[(n, d if isinstance(d, str) else json.dumps(d)) for n, d in events]))

    def slow(self, body: Any, *, delay_s: float) -> None:
        """Queue one JSON answer sent only after `delay_s`."""
        self.reply(Reply(body=body, delay_s=delay_s))

    def drop(self) -> None:
        """Queue a connection closed without any answer."""
        self.reply(Reply(drop=True))

    def next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            return self._replies.pop(0) if self._replies else Reply(599, {"error": "no reply queued"})

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._replies.clear()


class _Handler(BaseHTTPRequestHandler):
    provider: FakeProvider

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        reply = self.provider.next_reply(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                   raw))
        time.sleep(reply.delay_s)
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if reply.events is not None:
            self._stream(reply)
        else:
            self._json(reply)

    def _json(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for name, data in reply.events or ():
            head = f"event: {name}\n" if name else ""
            self.wfile.write(f"{head}data: {data}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeProvider]:
    with serve_http(_Handler) as url:
        provider = FakeProvider(url)
        _Handler.provider = provider
        yield provider


@pytest.fixture
def provider(_server: FakeProvider) -> Iterator[FakeProvider]:
    """The fake provider, with an empty queue and record."""
    _server.reset()
    yield _server
    _server.reset()


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
