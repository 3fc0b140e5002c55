"""The protocols back-ends implement. They are structural (typing.Protocol): a back-end need not import us."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable
from collections.abc import Mapping, Sequence

from contextwise.types import ChatOptions, Completion, Compressed, Hit, Message, Record

EmbedKind = Literal["query", "document"]
Where = Mapping[str, Any]


@runtime_checkable
class Tokenizer(Protocol):
    """Text to token ids and back. `exact` is False when counts are an estimate for the model."""

    name: str
    exact: bool

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def count(self, text: str) -> int: ...


@runtime_checkable
class Embedder(Protocol):
    """Texts to unit-length vectors of `dimensions` floats."""

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str], kind: EmbedKind = "document") -> Any:  # numpy (n, dimensions) float32
        ...


@runtime_checkable
class AsyncEmbedder(Protocol):
    """The async twin of Embedder."""

    name: str
    dimensions: int

    async def embed(self, texts: Sequence[str], kind: EmbedKind = "document") -> Any: ...


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: messages in, Completion out, the answer capped at `max_output_tokens` (contextwise's clients
    also take the old spelling `max_tokens=`, with a DeprecationWarning)."""

    name: str

    def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                 options: ChatOptions | None = None) -> Completion: ...


@runtime_checkable
class AsyncChatModel(Protocol):
    """The async twin of ChatModel."""

    name: str

    async def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                       options: ChatOptions | None = None) -> Completion: ...


@runtime_checkable
class VectorStore(Protocol):
    """Records with vectors, searched by similarity. `tenant` scopes every call and is a hard partition."""

    name: str
    dimensions: int

    def upsert(self, records: Sequence[Record], *, tenant: str) -> None: ...

    def query(self, vector: Sequence[float], k: int = 10, *, tenant: str,
              where: Where | None = None) -> list[Hit]: ...

    def get(self, ids: Sequence[str], *, tenant: str) -> list[Record]: ...

    def delete(self, ids: Sequence[str], *, tenant: str) -> int: ...

    def count(self, *, tenant: str) -> int: ...


@runtime_checkable
class AsyncVectorStore(Protocol):
    """The async twin of VectorStore."""

    name: str
    dimensions: int

    async def upsert(self, records: Sequence[Record], *, tenant: str) -> None: ...

    async def query(self, vector: Sequence[float], k: int = 10, *, tenant: str,
                    where: Where | None = None) -> list[Hit]: ...

    async def get(self, ids: Sequence[str], *, tenant: str) -> list[Record]: ...

    async def delete(self, ids: Sequence[str], *, tenant: str) -> int: ...

    async def count(self, *, tenant: str) -> int: ...


@runtime_checkable
class Compressor(Protocol):
    """Shortens text to at most `target_tokens` under `tokenizer`, optionally focused on `query`."""

    name: str

    def compress(self, text: str, target_tokens: int, tokenizer: Tokenizer,
                 query: str | None = None) -> Compressed: ...
