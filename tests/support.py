"""Helpers shared by the tests: skip for a missing part locally, fail for it in CI (CONTEXTWISE_REQUIRE_ALL=1)."""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

REQUIRE_ALL = os.environ.get("CONTEXTWISE_REQUIRE_ALL") == "1"
# What contextwise.llm sets before it imports llama_cpp, set here too because need("llama_cpp") imports it first:
# OpenMP reads it once, and idle workers that spin made the model's tests 5-20x slower on a loaded machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def need(module: str, reason: str = "") -> Any:
    """Import `module` or skip the test (fail in CI, where everything the README names is installed)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(f"{module} is not installed{': ' + reason if reason else ''} ({exc})")


def missing(reason: str) -> None:
    """Skip for a missing part; in CI, fail instead, since CI installs everything."""
    if REQUIRE_ALL:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def local_chat_model() -> Any:
    """The shared embedded model (`contextwise.llm.local_model()`, SmolLM2-135M), or a skip (a failure in CI) when
    llama-cpp-python or the weights are missing: the body of every test module's `model` fixture."""
    need("llama_cpp", "the local model needs the `local` extra")
    from contextwise.errors import MissingDependencyError
    from contextwise.llm import local_model

    try:
        return local_model()
    except MissingDependencyError as exc:
        missing(str(exc))
        raise


@contextlib.contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free 127.0.0.1 port in a daemon thread; yields "http://127.0.0.1:PORT", shuts down
    on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
