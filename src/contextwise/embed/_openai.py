"""Remote embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, llama.cpp).

`OpenAIEmbeddings` and `AsyncOpenAIEmbeddings` are twins over `EmbeddingsCore`, which builds each request and
parses each answer without doing I/O; the twins send through the transports the chat clients use, so there is
one retry policy and one error mapping.
"""

from __future__ import annotations

import base64
import os
from typing import Any
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from contextwise._http import AsyncTransport, SyncTransport
from contextwise._wire import HttpRequest, Retry
from contextwise.errors import ProviderError, UsageError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Output sizes of OpenAI's own models; any other model needs `dimensions=` (or learns it from its first answer).
KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_RETRY_WAIT_S = 60.0


class EmbeddingsCore:
    """The I/O-free half of the client: batches, builds requests, parses answers, maps errors, plans retries.

    Args:
        model: the model name the endpoint knows.
        base_url: up to and including "/v1"; None reads OPENAI_BASE_URL, else OpenAI's.
        api_key: None reads OPENAI_API_KEY; no key sends no Authorization header (local servers).
        dimensions: vector size; None takes extra_body's "dimensions", else the known size of OpenAI's models,
            else the size of the first answer.
        batch_size: texts per request (OpenAI accepts up to 2,048).
        max_retries: retries after a rate limit or an unavailable server, waiting as the server asks.
        extra_body: more request fields sent as they are, e.g. {"dimensions": 256} for a shortened vector.
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 dimensions: int | None = None, batch_size: int = 256, max_retries: int = 2,
                 timeout_s: float = 60.0, extra_body: Mapping[str, Any] | None = None) -> None:
        if not model:
            raise UsageError("an OpenAI-compatible embedder needs a model name")
        if batch_size < 1 or max_retries < 0 or timeout_s <= 0:
            raise UsageError("need batch_size >= 1, max_retries >= 0 and timeout_s > 0")
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.extra_body = dict(extra_body or {})
        self.dimensions: int | None = dimensions or self.extra_body.get("dimensions") or KNOWN_DIMENSIONS.get(model)
        self.batch_size, self.max_retries, self.timeout_s = batch_size, max_retries, timeout_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, base_url={self.base_url!r})"

    def batches(self, texts: Sequence[str], kind: str) -> Iterator[list[str]]:
        """`texts` split into request-sized batches, after checking the call."""
        if kind not in ("query", "document"):
            raise UsageError(f"kind must be 'query' or 'document', got {kind!r}")
        if isinstance(texts, str):
            raise UsageError("embed() takes a sequence of texts; wrap a single text in a list")
        texts = list(texts)
        for start in range(0, len(texts), self.batch_size):
            yield texts[start:start + self.batch_size]

    def build_request(self, batch: Sequence[str]) -> HttpRequest:
        """The request that embeds `batch`.

        Empty strings are sent as one space (OpenAI refuses ""), lone surrogates as "?" (JSON must be UTF-8).
        """
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = {"model": self.model, "input": [_wire_text(t) for t in batch], "encoding_format": "float",
                **self.extra_body}
        return HttpRequest(f"{self.base_url}/embeddings", body, headers)

    def parse_answer(self, answer: Any, *, expected: int) -> np.ndarray:
        """The (expected, dimensions) unit vectors of a 2xx answer's JSON, in input order."""
        try:
            data = sorted(answer["data"], key=lambda item: item["index"])
            vectors = np.array([_vector(item["embedding"]) for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"unreadable embeddings answer: {str(answer)[:200]!r}", backend=self.name) from exc
        return self._checked(vectors, expected)

    def retry(self) -> Retry:
        """The retry policy: `max_retries` retries after a rate limit or an unavailable server."""
        return Retry(attempts=self.max_retries, max_delay_s=MAX_RETRY_WAIT_S)

    def empty(self) -> np.ndarray:
        """The answer for no texts."""
        return np.empty((0, self.dimensions or 0), dtype=np.float32)

    def _checked(self, vectors: np.ndarray, expected: int) -> np.ndarray:
        if vectors.ndim != 2 or len(vectors) != expected:
            raise ProviderError(f"asked for {expected} embeddings, got {len(vectors)}", backend=self.name)
        if self.dimensions is None:
            self.dimensions = vectors.shape[1]
        elif vectors.shape[1] != self.dimensions:
            raise ProviderError(f"expected {self.dimensions} dimensions, got {vectors.shape[1]}; "
                                "pass the model's real size as dimensions=", backend=self.name)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        result: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return result


class OpenAIEmbeddings(EmbeddingsCore):
    """Embeddings from an OpenAI-compatible endpoint, over the shared sync HTTP transport.

    Args: as EmbeddingsCore, plus `client`, an httpx.Client to use instead of one of our own.

    Raises (from embed): RateLimitError (with retry_after), AuthError, ContextLengthError, UnavailableError,
    ProviderError.

    >>> emb = OpenAIEmbeddings("text-embedding-3-small", base_url="http://127.0.0.1:8080/v1")  # doctest: +SKIP
    >>> emb.embed(["hello"]).shape  # doctest: +SKIP
    (1, 1536)
    """

    def __init__(self, model: str, *, client: Any = None, **options: Any) -> None:
        super().__init__(model, **options)
        self._transport = SyncTransport(backend=self.name, timeout_s=self.timeout_s, retry=self.retry(),
                                        client=client)

    def __enter__(self) -> OpenAIEmbeddings:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client, if we made it."""
        self._transport.close()

    def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        """Embed `texts` in batches; returns (len(texts), dimensions) float32 unit vectors."""
        parts = [self.parse_answer(self._transport.post_json(self.build_request(batch)), expected=len(batch))
                 for batch in self.batches(texts, kind)]
        return np.concatenate(parts) if parts else self.empty()


class AsyncOpenAIEmbeddings(EmbeddingsCore):
    """The async twin of OpenAIEmbeddings, over the shared async HTTP transport (an httpx.AsyncClient)."""

    def __init__(self, model: str, *, client: Any = None, **options: Any) -> None:
        super().__init__(model, **options)
        self._transport = AsyncTransport(backend=self.name, timeout_s=self.timeout_s, retry=self.retry(),
                                         client=client)

    async def __aenter__(self) -> AsyncOpenAIEmbeddings:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client, if we made it."""
        await self._transport.aclose()

    async def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        """Embed `texts` in batches, one request at a time; returns (len(texts), dimensions) unit vectors."""
        parts = [self.parse_answer(await self._transport.post_json(self.build_request(batch)), expected=len(batch))
                 for batch in self.batches(texts, kind)]
        return np.concatenate(parts) if parts else self.empty()


def _wire_text(text: str) -> str:
    if not text:
        return " "
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _vector(embedding: Any) -> np.ndarray:
    if isinstance(embedding, str):  # encoding_format="base64": little-endian float32
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)
