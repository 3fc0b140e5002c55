"""Cache fixtures: a real redis-server (Debian's package, or any on PATH) started on a free loopback port for the
session, and a factory of ResponseCaches over each back-end."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any
from collections.abc import Callable, Iterator

import pytest
from support import missing, need

from contextwise.cache import ResponseCache

BACKENDS = ["memory", "sqlite", "redis"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real redis-server on 127.0.0.1, started for this session and stopped after it."""
    need("redis", "the Redis cache needs redis-py (extra `redis`)")
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    folder = tempfile.mkdtemp(prefix="cw-redis-")
    port = _free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                               "no", "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        server.kill()
        missing("redis-server did not start")
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


CacheFactory = Callable[..., ResponseCache]


@pytest.fixture(params=BACKENDS)
def make_cache(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[CacheFactory]:
    """`make_cache(**options)` over the parametrized back-end; each test starts from an empty store."""
    backend = request.param
    opened: list[ResponseCache] = []
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        import redis

        redis.Redis.from_url(url).flushdb()
    spec = {"memory": "memory:", "sqlite": f"sqlite:{tmp_path / 'cache.db'}"}.get(backend) or url

    def factory(**options: Any) -> ResponseCache:
        cache = ResponseCache(spec, **options)
        opened.append(cache)
        return cache

    yield factory
    for cache in opened:
        cache.close()
