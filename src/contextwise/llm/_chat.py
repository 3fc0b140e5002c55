"""The sync and async chat twins over one I/O-free dialect; they differ only in their transport's `send`."""

from __future__ import annotations

from typing import Any, Protocol
from collections.abc import AsyncIterator, Iterator, Sequence

from contextwise.errors import UsageError
from contextwise._http import AsyncTransport, SyncTransport
from contextwise._wire import HttpRequest, Retry, ServerEvent
from contextwise.types import ChatOptions, Completion, Message, MessageLike, as_messages


class StreamParser(Protocol):
    """Folds a provider's stream events into text deltas and, at the end, one Completion."""

    def feed(self, event: ServerEvent) -> str: ...

    def result(self) -> Completion: ...


class Dialect(Protocol):
    """A provider's wire format: build a request, parse an answer; pure, no I/O."""

    backend: str
    model: str

    def request(self, messages: Sequence[Message], max_tokens: int | None, options: ChatOptions | None, *,
                stream: bool) -> HttpRequest: ...

    def parse(self, data: Any) -> Completion: ...

    def stream_parser(self) -> StreamParser: ...


class _ChatClient:
    """Holds a dialect and a transport; subclasses pick the transport."""

    _transport_class: type[Any]

    def _setup(self, dialect: Dialect, *, timeout_s: float, retry: Retry | None, http_client: Any) -> None:
        if timeout_s <= 0:
            raise UsageError(f"timeout_s must be positive, got {timeout_s}")
        self._dialect = dialect
        self._transport = self._transport_class(backend=dialect.backend, timeout_s=timeout_s, retry=retry,
                                                client=http_client)
        self.name = dialect.model

    def _build(self, messages: Sequence[MessageLike], max_tokens: int | None, options: ChatOptions | None,
               stream: bool) -> HttpRequest:
        converted = as_messages(messages)  # Message, OpenAI dicts and SDK objects, converted once here
        if not converted:
            raise UsageError("complete() needs at least one message")
        if max_tokens is not None and max_tokens < 1:
            raise UsageError(f"max_tokens must be at least 1, got {max_tokens}")
        return self._dialect.request(converted, max_tokens, options, stream=stream)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class SyncChat(_ChatClient):
    """A blocking chat client: `complete` and `stream`."""

    _transport_class = SyncTransport

    def complete(self, messages: Sequence[MessageLike], max_tokens: int | None = None,
                 options: ChatOptions | None = None) -> Completion:
        """Send the messages (`Message`s, OpenAI dicts or SDK message objects) and return the model's answer."""
        request = self._build(messages, max_tokens, options, False)
        return self._dialect.parse(self._transport.post_json(request))

    def stream(self, messages: Sequence[MessageLike], max_tokens: int | None = None,
               options: ChatOptions | None = None) -> Iterator[str | Completion]:
        """Yield text deltas as they arrive, then the whole Completion (usage included) last.

        `retry` covers opening the stream; an error after the first event is raised, since text was already
        handed out.
        """
        request = self._build(messages, max_tokens, options, True)
        parser = self._dialect.stream_parser()
        for event in self._transport.stream_events(request):
            delta = parser.feed(event)
            if delta:
                yield delta
        yield parser.result()

    def close(self) -> None:
        """Close the connection pool (a client passed in as `http_client` is left open)."""
        self._transport.close()

    def __enter__(self) -> SyncChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChat(_ChatClient):
    """A non-blocking chat client: `await complete(...)` and `async for ... in stream(...)`."""

    _transport_class = AsyncTransport

    async def complete(self, messages: Sequence[MessageLike], max_tokens: int | None = None,
                       options: ChatOptions | None = None) -> Completion:
        """Send the messages (`Message`s, OpenAI dicts or SDK message objects) and return the model's answer."""
        request = self._build(messages, max_tokens, options, False)
        return self._dialect.parse(await self._transport.post_json(request))

    async def stream(self, messages: Sequence[MessageLike], max_tokens: int | None = None,
                     options: ChatOptions | None = None) -> AsyncIterator[str | Completion]:
        """Yield text deltas as they arrive, then the whole Completion (usage included) last."""
        request = self._build(messages, max_tokens, options, True)
        parser = self._dialect.stream_parser()
        async for event in self._transport.stream_events(request):
            delta = parser.feed(event)
            if delta:
                yield delta
        yield parser.result()

    async def aclose(self) -> None:
        """Close the connection pool (a client passed in as `http_client` is left open)."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncChat:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
