"""CachedChatModel and its async twin: any ChatModel behind the response cache, itself a ChatModel.

Both twins share one I/O-free plan (build the request, decide whether it may be cached, look up, store); they
differ only in how they call the wrapped model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from collections.abc import AsyncIterator, Iterator, Sequence

from contextwise.cache._request import CacheRequest, from_call
from contextwise.cache._response import DEFAULT_CONTROL, CacheControl, Lookup, ResponseCache
from contextwise._deprecated import UNSET, output_cap
from contextwise.errors import UsageError
from contextwise.stores._core import check_tenant
from contextwise.types import ChatOptions, Completion, Message


@dataclass(frozen=True)
class CachedCompletion:
    """An answer and how the cache treated it."""

    completion: Completion
    lookup: Lookup

    @property
    def cached(self) -> bool:
        """Whether the answer came from the cache."""
        return self.lookup.hit


@dataclass(frozen=True)
class _Plan:
    request: CacheRequest
    lookup: Lookup
    store: bool


class _CachedBase:
    """What both twins share: the settings and the pure plan of one call."""

    def __init__(self, model: Any, cache: ResponseCache | str, *, tenant: str, semantic: bool = False,
                 cache_sampled: bool = False, control: CacheControl = DEFAULT_CONTROL) -> None:
        """Args:
            model: the ChatModel (AsyncChatModel for the async twin) to answer misses.
            cache: a ResponseCache, or its spec ("sqlite:cache.db", "memory:", "redis://127.0.0.1:6379/0").
            tenant: the hard partition every entry of this model is stored and looked up under (mandatory).
            semantic: also serve answers to requests that mean the same (behind the exact tier).
            cache_sampled: cache requests that sample (temperature > 0, or omitted where the provider's
                default samples); off by default, since a second call would give another answer.
            control: the default per-call controls (see `with_control`).
        """
        check_tenant(tenant)
        if not hasattr(model, "complete"):
            raise UsageError(f"CachedChatModel wraps a ChatModel, got {type(model).__name__}")
        self.model = model
        self.name = getattr(model, "name", "")
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.tenant = tenant
        self.semantic = semantic
        self.cache_sampled = cache_sampled
        self.control = control

    def with_control(self, control: CacheControl | None = None, **changes: Any) -> Any:
        """A view of this model with other per-call controls (same model, same cache), e.g.
        `cached.with_control(ttl_s=60, depends_on=fact_dependencies(facts)).complete(messages)`."""
        twin = dataclasses.replace(control or self.control, **changes)
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__, control=twin)
        return view

    def lookup(self, messages: Sequence[Message], max_output_tokens: int | None = None,
               options: ChatOptions | None = None, *, stream: bool = False, max_tokens: Any = UNSET) -> Lookup:
        """What the cache would do with this call, without calling the model."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return self._plan(messages, cap, options, stream).lookup

    def _plan(self, messages: Sequence[Message], cap: int | None, options: ChatOptions | None,
              stream: bool) -> _Plan:
        request, skipped = self._prepare(messages, cap, options, stream)
        if skipped is not None:
            return _Plan(request, skipped, False)
        found = self.cache.lookup(request, tenant=self.tenant, control=self.control, semantic=self.semantic)
        return _Plan(request, found, not self.control.no_store)

    def _prepare(self, messages: Sequence[Message], cap: int | None, options: ChatOptions | None,
                 stream: bool) -> tuple[CacheRequest, Lookup | None]:
        """The request, and the Lookup to return without asking the cache when it may not be cached."""
        request = from_call(self.model, messages, cap, options, stream=stream)
        sampled = self.control.cache_sampled if self.control.cache_sampled is not None else self.cache_sampled
        temperature = request.temperature()
        if sampled or (temperature is not None and temperature <= 0):
            return request, None
        why = "sampled: temperature unknown" if temperature is None else f"sampled: temperature {temperature:g}"
        return request, Lookup(request.key(self.tenant, self.control.namespace), False, reason=why)

    def _store(self, plan: _Plan, completion: Completion, deltas: Sequence[str] | None = None) -> None:
        if plan.store:
            self.cache.store(plan.request, completion, tenant=self.tenant, control=self.control, deltas=deltas,
                             semantic=self.semantic)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, {self.cache!r}, tenant={self.tenant!r})"


def _replay(completion: Completion, deltas: Sequence[str] | None) -> Iterator[str | Completion]:
    yield from (d for d in (deltas if deltas is not None else (completion.text,)) if d)
    yield completion


class CachedChatModel(_CachedBase):
    """A ChatModel that answers from a ResponseCache when it can and asks the wrapped model otherwise.

    >>> from contextwise.testing import ScriptedChatModel
    >>> model = CachedChatModel(ScriptedChatModel(["Paris."]), "memory:", tenant="acme")
    >>> ask = [Message.user("Capital of France?")]
    >>> zero = ChatOptions(temperature=0)
    >>> model.complete(ask, options=zero).text, model.complete(ask, options=zero).text
    ('Paris.', 'Paris.')
    """

    def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                 options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """The answer, from the cache or from the model."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return self.complete_cached(messages, cap, options).completion

    def complete_cached(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                        options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> CachedCompletion:
        """The answer with its Lookup (key, hit or miss, tier, semantic distance)."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        plan = self._plan(messages, cap, options, False)
        if plan.lookup.completion is not None:
            return CachedCompletion(plan.lookup.completion, plan.lookup)
        completion = self.model.complete(messages, cap, options)
        self._store(plan, completion)
        return CachedCompletion(completion, plan.lookup)

    def stream(self, messages: Sequence[Message], max_output_tokens: int | None = None,
               options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Iterator[str | Completion]:
        """Text deltas then the Completion; a cached streamed answer replays its deltas as they came. An answer
        is stored only when its stream ran to the end."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        plan = self._plan(messages, cap, options, True)
        if plan.lookup.entry is not None:
            yield from _replay(plan.lookup.entry.completion, plan.lookup.entry.deltas)
            return
        source = getattr(self.model, "stream", None)
        items = source(messages, cap, options) if source is not None else \
            _replay(self.model.complete(messages, cap, options), None)
        deltas: list[str] = []
        for item in items:
            if isinstance(item, Completion):
                self._store(plan, item, deltas)
            else:
                deltas.append(item)
            yield item


class AsyncCachedChatModel(_CachedBase):
    """The async twin of CachedChatModel, over an AsyncChatModel; a Redis cache is awaited (redis.asyncio)."""

    async def lookup(self, messages: Sequence[Message], max_output_tokens: int | None = None,  # type: ignore[override]
                     options: ChatOptions | None = None, *, stream: bool = False, max_tokens: Any = UNSET) -> Lookup:
        """What the cache would do with this call, without calling the model."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return (await self._aplan(messages, cap, options, stream)).lookup

    async def _aplan(self, messages: Sequence[Message], cap: int | None, options: ChatOptions | None,
                     stream: bool) -> _Plan:
        request, skipped = self._prepare(messages, cap, options, stream)
        if skipped is not None:
            return _Plan(request, skipped, False)
        found = await self.cache.alookup(request, tenant=self.tenant, control=self.control, semantic=self.semantic)
        return _Plan(request, found, not self.control.no_store)

    async def _astore(self, plan: _Plan, completion: Completion, deltas: Sequence[str] | None = None) -> None:
        if plan.store:
            await self.cache.astore(plan.request, completion, tenant=self.tenant, control=self.control,
                                    deltas=deltas, semantic=self.semantic)

    async def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                       options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """The answer, from the cache or from the model."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return (await self.complete_cached(messages, cap, options)).completion

    async def complete_cached(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                              options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> CachedCompletion:
        """The answer with its Lookup."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        plan = await self._aplan(messages, cap, options, False)
        if plan.lookup.completion is not None:
            return CachedCompletion(plan.lookup.completion, plan.lookup)
        completion = await self.model.complete(messages, cap, options)
        await self._astore(plan, completion)
        return CachedCompletion(completion, plan.lookup)

    async def stream(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                     options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> AsyncIterator[str | Completion]:
        """Text deltas then the Completion; a cached streamed answer replays its deltas."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        plan = await self._aplan(messages, cap, options, True)
        if plan.lookup.entry is not None:
            for item in _replay(plan.lookup.entry.completion, plan.lookup.entry.deltas):
                yield item
            return
        deltas: list[str] = []
        async for item in self._source(messages, cap, options):
            if isinstance(item, Completion):
                await self._astore(plan, item, deltas)
            else:
                deltas.append(item)
            yield item

    async def _source(self, messages: Sequence[Message], cap: int | None,
                      options: ChatOptions | None) -> AsyncIterator[str | Completion]:
        source = getattr(self.model, "stream", None)
        if source is not None:
            async for item in source(messages, cap, options):
                yield item
            return
        for item in _replay(await self.model.complete(messages, cap, options), None):
            yield item
