"""The sync and async chat twins over one I/O-free dialect; they differ only in their transport's `send`."""

from __future__ import annotations

import time
from typing import Any, Protocol
from collections.abc import AsyncIterator, Iterator, Sequence

from contextwise._deprecated import UNSET, output_cap
from contextwise.errors import ContextwiseError, UsageError
from contextwise._http import AsyncTransport, SyncTransport
from contextwise.observe import _bus, _emit
from contextwise.observe._preflight import Counted, Preflight, PreflightCheck
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

    def request(self, messages: Sequence[Message], max_output_tokens: int | None, options: ChatOptions | None, *,
                stream: bool) -> HttpRequest: ...

    def parse(self, data: Any) -> Completion: ...

    def stream_parser(self) -> StreamParser: ...


class _ChatClient:
    """Holds a dialect and a transport; subclasses pick the transport."""

    _transport_class: type[Any]

    def _setup(self, dialect: Dialect, *, timeout_s: float, retry: Retry | None, http_client: Any,
               preflight: Preflight | bool = True) -> None:
        if timeout_s <= 0:
            raise UsageError(f"timeout_s must be positive, got {timeout_s}")
        if not isinstance(preflight, (Preflight, bool)):
            raise UsageError(f"preflight must be a Preflight, True or False, got {type(preflight).__name__}")
        self._dialect = dialect
        self._transport = self._transport_class(backend=dialect.backend, timeout_s=timeout_s, retry=retry,
                                                client=http_client)
        self.name = dialect.model
        self._preflight = Preflight() if preflight is True else preflight or None
        self._check_bound: tuple[PreflightCheck | None] | None = None

    @property
    def _check(self) -> PreflightCheck | None:
        # bound on first use: the catalog lookup and the tokenizer load wait until a call needs them
        if self._check_bound is None:
            chosen = self._preflight
            self._check_bound = (chosen.bind(self._dialect.model, self._dialect.backend) if chosen else None,)
        return self._check_bound[0]

    def _build(self, messages: Sequence[MessageLike], max_output_tokens: int | None, options: ChatOptions | None,
               stream: bool, max_tokens: Any) -> tuple[HttpRequest, Counted | None, list[Message]]:
        """The request, the prompt's preflight count (ContextLengthError, before anything is sent, when it is
        over the model's input limit) and the messages as `Message`s."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens, depth=3)
        converted = as_messages(messages)  # Message, OpenAI dicts and SDK objects, converted once here
        if not converted:
            raise UsageError("complete() needs at least one message")
        request = self._dialect.request(converted, cap, options, stream=stream)
        check = self._check
        if check is None:
            return request, None, converted
        reserve = int(cap or getattr(self._dialect, "default_max_tokens", 0) or 0)
        tools = options.tools if options else ()
        # the messages a Context.build() here just counted with this counter are not counted again
        raw = _emit.counted_before(converted, tools, check.counter)
        return request, check.before(converted, tools, reserve, raw_tokens=raw), converted

    def _done(self, messages: Sequence[Message], completion: Completion | None, counted: Counted | None,
              started_s: float, *, streamed: bool, error: BaseException | None = None) -> None:
        """After a call: the truncation check and calibration, then the ModelCall event."""
        check = self._check
        if counted is not None and completion is not None and check is not None:
            check.after(counted, completion.usage)
        if _bus.subscribers:
            _emit.model_call(provider=self._dialect.backend, model=self.name, messages=messages,
                             completion=completion, started_s=started_s, streamed=streamed, error=error,
                             counted_tokens=counted.tokens if counted else None,
                             info=check.info if check else None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class SyncChat(_ChatClient):
    """A blocking chat client: `complete` and `stream`."""

    _transport_class = SyncTransport

    def complete(self, messages: Sequence[MessageLike], max_output_tokens: int | None = None,
                 options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """Send the messages (`Message`s, OpenAI dicts or SDK message objects) and return the model's answer.

        Raises:
            ContextLengthError: preflight counted more prompt tokens than the model accepts; nothing was sent.
        """
        started = time.perf_counter()
        request, counted, sent = self._build(messages, max_output_tokens, options, False, max_tokens)
        try:
            completion = self._dialect.parse(self._transport.post_json(request))
        except ContextwiseError as exc:
            self._done(sent, None, counted, started, streamed=False, error=exc)
            raise
        self._done(sent, completion, counted, started, streamed=False)
        return completion

    def stream(self, messages: Sequence[MessageLike], max_output_tokens: int | None = None,
               options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Iterator[str | Completion]:
        """Yield text deltas as they arrive, then the whole Completion (usage included) last.

        `retry` covers opening the stream; an error after the first event is raised, since text was already
        handed out.
        """
        started = time.perf_counter()
        request, counted, sent = self._build(messages, max_output_tokens, options, True, max_tokens)
        parser = self._dialect.stream_parser()
        try:
            for event in self._transport.stream_events(request):
                delta = parser.feed(event)
                if delta:
                    yield delta
            completion = parser.result()
        except ContextwiseError as exc:
            self._done(sent, None, counted, started, streamed=True, error=exc)
            raise
        self._done(sent, completion, counted, started, streamed=True)
        yield completion

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

    async def complete(self, messages: Sequence[MessageLike], max_output_tokens: int | None = None,
                       options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """Send the messages (`Message`s, OpenAI dicts or SDK message objects) and return the model's answer
        (ContextLengthError as in the sync twin)."""
        started = time.perf_counter()
        request, counted, sent = self._build(messages, max_output_tokens, options, False, max_tokens)
        try:
            completion = self._dialect.parse(await self._transport.post_json(request))
        except ContextwiseError as exc:
            self._done(sent, None, counted, started, streamed=False, error=exc)
            raise
        self._done(sent, completion, counted, started, streamed=False)
        return completion

    async def stream(self, messages: Sequence[MessageLike], max_output_tokens: int | None = None,
                     options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> AsyncIterator[str | Completion]:
        """Yield text deltas as they arrive, then the whole Completion (usage included) last."""
        started = time.perf_counter()
        request, counted, sent = self._build(messages, max_output_tokens, options, True, max_tokens)
        parser = self._dialect.stream_parser()
        try:
            async for event in self._transport.stream_events(request):
                delta = parser.feed(event)
                if delta:
                    yield delta
            completion = parser.result()
        except ContextwiseError as exc:
            self._done(sent, None, counted, started, streamed=True, error=exc)
            raise
        self._done(sent, completion, counted, started, streamed=True)
        yield completion

    async def aclose(self) -> None:
        """Close the connection pool (a client passed in as `http_client` is left open)."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncChat:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
