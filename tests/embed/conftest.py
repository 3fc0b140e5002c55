"""A real HTTP server on 127.0.0.1 that answers `/v1/embeddings` in OpenAI's wire format."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from collections.abc import Iterator

import numpy as np
import pytest

DIMS = 8


def server_vector(text: str) -> np.ndarray:
    """The (not normalised) vector the server returns for `text`."""
    raw = np.frombuffer(hashlib.sha256(text.encode()).digest(), dtype=np.uint8)[:DIMS].astype(np.float32)
    return raw - 100.0


class EmbeddingsServer:
    """Answers embeddings requests; queued `failures` (status, headers, body) are answered first, in order."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures: list[tuple[int, dict[str, str], bytes]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> EmbeddingsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.failures.append((status, headers or {}, payload))

    def expected(self, texts: list[str]) -> np.ndarray:
        """What a client should return for `texts`: the server's vectors scaled to unit length."""
        vectors = np.array([server_vector(t) for t in texts], dtype=np.float32).reshape(len(texts), DIMS)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        inputs = request["input"]
        data = []
        for index, text in enumerate(inputs):
            vector = server_vector(text)
            if request.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                encoded = [float(x) for x in vector]
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(t.split()) for t in inputs)
        return {"object": "list", "data": data[::-1],  # out of order on purpose: clients must sort by index
                "model": request["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if server.failures:
                    status, headers, payload = server.failures.pop(0)
                elif self.path != "/v1/embeddings":
                    status, headers, payload = 404, {}, b'{"error": {"message": "not found"}}'
                else:
                    status, headers, payload = 200, {}, json.dumps(server.answer(body)).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture()
def embeddings_server() -> Iterator[EmbeddingsServer]:
    server = EmbeddingsServer().start()
    yield server
    server.stop()
