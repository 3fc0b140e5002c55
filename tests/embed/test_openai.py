"""OpenAI-compatible embeddings clients against a real HTTP server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest
from support import need

from contextwise.embed import AsyncOpenAIEmbeddings, EmbeddingsCore, OpenAIEmbeddings
from contextwise.errors import (
    AuthError,
    ContextLengthError,
    MissingDependencyError,
    ProviderError,
    RateLimitError,
    UnavailableError,
    UsageError,
)
from contextwise.protocols import AsyncEmbedder, Embedder
from contextwise.registry import resolve

MODEL = "text-embedding-3-small"


@pytest.fixture()
def client(embeddings_server):
    need("httpx")
    with OpenAIEmbeddings(MODEL, base_url=embeddings_server.base_url, api_key="sk-test", dimensions=8,
                          batch_size=3, max_retries=0) as emb:
        yield emb


def test_openai_embeds_in_batches_and_in_input_order(client, embeddings_server):
    texts = [f"sentence number {i}" for i in range(7)]
    got = client.embed(texts)
    np.testing.assert_allclose(got, embeddings_server.expected(texts), atol=1e-6)
    assert [len(r["body"]["input"]) for r in embeddings_server.requests] == [3, 3, 1]
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_openai_sends_the_wire_format(client, embeddings_server):
    client.embed(["hello", "", "naïve \ud800"])
    request = embeddings_server.requests[0]
    assert request["path"] == "/v1/embeddings"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"] == {"model": MODEL, "input": ["hello", " ", "naïve ?"], "encoding_format": "float"}


def test_openai_reads_base64_vectors(embeddings_server):
    need("httpx")
    with OpenAIEmbeddings(MODEL, base_url=embeddings_server.base_url, dimensions=8,
                          extra_body={"encoding_format": "base64"}) as emb:
        got = emb.embed(["packed floats"])
    np.testing.assert_allclose(got, embeddings_server.expected(["packed floats"]), atol=1e-6)


def test_openai_learns_unknown_dimensions_from_the_first_answer(embeddings_server):
    need("httpx")
    with OpenAIEmbeddings("some-local-model", base_url=embeddings_server.base_url) as emb:
        assert emb.dimensions is None
        emb.embed(["x"])
        assert emb.dimensions == 8


def test_openai_shortened_vectors_take_their_size_from_the_request():
    emb = EmbeddingsCore(MODEL, base_url="http://127.0.0.1:1/v1", extra_body={"dimensions": 256})
    assert emb.dimensions == 256
    assert emb.build_request(["x"]).body["dimensions"] == 256


def test_openai_wrong_dimensions_is_a_provider_error(embeddings_server):
    need("httpx")
    # OpenAI's model has 1536 dimensions; the server sends 8
    with OpenAIEmbeddings(MODEL, base_url=embeddings_server.base_url) as emb, \
            pytest.raises(ProviderError, match="1536"):
        emb.embed(["x"])


def test_openai_no_texts_sends_nothing(client, embeddings_server):
    assert client.embed([]).shape == (0, 8)
    assert embeddings_server.requests == []


ERRORS = [
    (429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
     {"Retry-After": "7"}, RateLimitError),
    (401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}, {}, AuthError),
    (403, {"error": {"message": "forbidden"}}, {}, AuthError),
    (400, {"error": {"message": "This model's maximum context length is 8192 tokens, however you requested 9000 "
                                "tokens. Please reduce your prompt.", "type": "invalid_request_error"}}, {},
     ContextLengthError),
    (503, {"error": {"message": "The server is overloaded"}}, {}, UnavailableError),
    (500, b"<html>internal error</html>", {}, UnavailableError),
    (404, {"error": {"message": "The model does not exist", "code": "model_not_found"}}, {}, ProviderError),
]


@pytest.mark.parametrize(("status", "body", "headers", "error"), ERRORS,
                         ids=["429", "401", "403", "400-context", "503", "500-html", "404"])
def test_openai_maps_http_errors_once(client, embeddings_server, status, body, headers, error):
    embeddings_server.fail_next(status, body, headers)
    with pytest.raises(error) as caught:
        client.embed(["x"])
    assert type(caught.value) is error
    assert caught.value.status_code == status and caught.value.backend == f"openai:{MODEL}"


def test_openai_rate_limit_carries_retry_after(client, embeddings_server):
    embeddings_server.fail_next(429, {"error": {"message": "slow down"}}, {"retry-after-ms": "1500"})
    with pytest.raises(RateLimitError) as caught:
        client.embed(["x"])
    assert caught.value.retry_after == pytest.approx(1.5)


def test_openai_retries_after_rate_limit_then_succeeds(embeddings_server):
    need("httpx")
    embeddings_server.fail_next(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
    embeddings_server.fail_next(503, {"error": {"message": "busy"}}, {"Retry-After": "0"})
    with OpenAIEmbeddings(MODEL, base_url=embeddings_server.base_url, dimensions=8, max_retries=2) as emb:
        got = emb.embed(["persist"])
    np.testing.assert_allclose(got, embeddings_server.expected(["persist"]), atol=1e-6)
    assert len(embeddings_server.requests) == 3


def test_openai_does_not_retry_an_auth_error(embeddings_server):
    need("httpx")
    embeddings_server.fail_next(401, {"error": {"message": "bad key"}})
    with OpenAIEmbeddings(MODEL, base_url=embeddings_server.base_url, dimensions=8, max_retries=3) as emb, \
            pytest.raises(AuthError):
        emb.embed(["x"])
    assert len(embeddings_server.requests) == 1


def test_openai_unreachable_server_is_unavailable():
    need("httpx")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OpenAIEmbeddings(MODEL, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0) as emb, \
            pytest.raises(UnavailableError) as caught:
        emb.embed(["x"])
    assert caught.value.__cause__ is not None


def test_openai_unreadable_answer_is_a_provider_error():
    core = EmbeddingsCore(MODEL, base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ProviderError, match="unreadable"):
        core.parse_answer({"data": "nope"}, expected=1)
    with pytest.raises(ProviderError, match="asked for 2"):
        core.parse_answer({"data": [{"index": 0, "embedding": [1.0]}]}, expected=2)


def test_openai_sync_and_async_twins_agree(embeddings_server):
    need("httpx")
    texts = ["one", "two", "three", "four", "five"]
    options = {"base_url": embeddings_server.base_url, "api_key": "k", "dimensions": 8, "batch_size": 2}
    with OpenAIEmbeddings(MODEL, **options) as sync_client:
        sync_out = sync_client.embed(texts, kind="query")
    sync_requests = [r["body"] for r in embeddings_server.requests]
    embeddings_server.requests.clear()

    async def run() -> np.ndarray:
        async with AsyncOpenAIEmbeddings(MODEL, **options) as async_client:
            return await async_client.embed(texts, kind="query")

    np.testing.assert_array_equal(asyncio.run(run()), sync_out)
    assert [r["body"] for r in embeddings_server.requests] == sync_requests


def test_openai_async_maps_errors_like_sync(embeddings_server):
    need("httpx")
    embeddings_server.fail_next(429, {"error": {"message": "slow"}}, {"Retry-After": "3"})

    async def run() -> None:
        async with AsyncOpenAIEmbeddings(MODEL, base_url=embeddings_server.base_url, max_retries=0) as emb:
            await emb.embed(["x"])

    with pytest.raises(RateLimitError) as caught:
        asyncio.run(run())
    assert caught.value.retry_after == 3


def test_openai_registry_reads_base_url_and_key_from_env(embeddings_server, monkeypatch):
    need("httpx")
    monkeypatch.setenv("OPENAI_BASE_URL", embeddings_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    emb = resolve("embedder", "openai:my-local-model")
    try:
        assert emb.name == "openai:my-local-model" and isinstance(emb, Embedder)
        emb.embed(["env"])
    finally:
        emb.close()
    request = embeddings_server.requests[0]
    assert request["headers"]["Authorization"] == "Bearer sk-env"
    assert request["body"]["model"] == "my-local-model"


def test_openai_async_twin_is_an_async_embedder():
    need("httpx")
    emb = AsyncOpenAIEmbeddings(MODEL, base_url="http://127.0.0.1:1/v1")
    assert isinstance(emb, AsyncEmbedder) and emb.dimensions == 1536
    asyncio.run(emb.aclose())


@pytest.mark.parametrize("call", [
    lambda c: c.embed("bare"),
    lambda c: c.embed(["x"], kind="passage"),
], ids=["bare-string", "bad-kind"])
def test_openai_rejects_bad_calls_before_sending(client, embeddings_server, call):
    with pytest.raises(UsageError):
        call(client)
    assert embeddings_server.requests == []


def test_openai_missing_httpx_names_the_http_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingDependencyError) as caught:
        OpenAIEmbeddings(MODEL)
    assert caught.value.extra == "http"
