"""A ChatModel call as the cache sees it: the wire body the model's client would send, the API schema it follows,
and where it goes. Pure: building a request never sends anything."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence

from contextwise.cache._keys import canonical_bytes, canonical_request, digest, split_conversation
from contextwise.cache._schemas import Schema, get_schema
from contextwise.types import ChatOptions, Message

# Headers that select API behaviour (and so can change an answer); credentials are never part of a key.
_BEHAVIOUR_HEADERS = ("anthropic-version", "anthropic-beta", "openai-beta")


@dataclass(frozen=True)
class CacheRequest:
    """One request: its wire `body`, the `schema` it follows, and its `scope` (endpoint, client).

    `messages` are the conversation as contextwise Messages, read by the semantic tier.

    >>> r = CacheRequest({"model": "m", "messages": [], "temperature": 0})
    >>> r.temperature()
    0.0
    """

    body: Mapping[str, Any]
    schema: Schema | str = "generic"
    scope: Mapping[str, Any] = field(default_factory=dict)
    messages: tuple[Message, ...] = ()

    @property
    def spec(self) -> Schema:
        """The schema object."""
        return get_schema(self.schema) if isinstance(self.schema, str) else self.schema

    def canonical(self) -> dict[str, Any]:
        """The canonical request (see `canonical_request`)."""
        return canonical_request(self.body, self.spec)

    @functools.cached_property
    def _encoded(self) -> tuple[bytes, bytes]:
        # Computed once per request: a lookup and the store after a miss hash the same bytes.
        return canonical_bytes(dict(self.scope)), canonical_bytes(self.canonical())

    def key(self, tenant: str, namespace: str = "") -> str:
        """The exact cache key for `tenant` and `namespace`."""
        scope, body = self._encoded
        return digest(tenant, namespace, self.spec.name, scope, body)

    def frame_key(self, tenant: str, namespace: str = "") -> str:
        """A key of everything but the conversation: requests that differ only in their wording share it."""
        frame, talk = split_conversation(self.canonical())
        system = [m.text for m in self.messages if m.role in ("system", "developer")]
        return digest(tenant, namespace, "frame", self.spec.name, canonical_bytes(dict(self.scope)),
                      canonical_bytes(frame), canonical_bytes({"system": system or talk.get("system")}))

    def temperature(self) -> float | None:
        """The temperature the provider samples at (its default when the body gives none); None when unknown."""
        spec = self.spec
        if not spec.temperature:
            value = self.body.get("temperature")
        else:
            head, _, tail = spec.temperature.partition(".")
            value = self.body.get(head)
            if tail:
                value = value.get(tail) if isinstance(value, Mapping) else None
        if value is None:
            return spec.default_temperature()
        return float(value)


def from_call(model: Any, messages: Sequence[Message], max_tokens: int | None, options: ChatOptions | None,
              *, stream: bool) -> CacheRequest:
    """The request `model.complete(messages, max_tokens, options)` (or `.stream`) would make.

    contextwise's HTTP clients build their exact wire body through their dialect, so the key hashes what is sent
    (the client's own defaults, such as Anthropic's max_tokens, included). Any other ChatModel is keyed on the
    call's arguments under the "generic" schema, which assumes no defaults.
    """
    dialect = getattr(model, "_dialect", None)
    if dialect is not None and callable(getattr(dialect, "request", None)):
        http = dialect.request(list(messages), max_tokens, options, stream=stream)
        headers = {k.lower(): v for k, v in http.headers.items()}
        scope = {"backend": dialect.backend, "url": http.url,
                 **{h: headers[h] for h in _BEHAVIOUR_HEADERS if h in headers}}
        return CacheRequest(dict(http.body), _schema_for(dialect.backend, dialect.model), scope, tuple(messages))
    body: dict[str, Any] = {"model": getattr(model, "name", ""), "messages": [m.to_openai() for m in messages],
                            "max_tokens": max_tokens, "stream": stream, **_options(options or ChatOptions())}
    scope = {"client": type(model).__qualname__.removeprefix("Async"), "path": str(getattr(model, "path", ""))}
    return CacheRequest(body, "generic", scope, tuple(messages))


@functools.lru_cache(maxsize=256)
def _schema_for(backend: str, model: str) -> Schema:
    """The schema of a client's API; an OpenAI-compatible server that is not OpenAI keeps OpenAI's reviewed
    ignore list but none of its defaults (vLLM, Ollama and llama.cpp each have their own)."""
    if backend == "anthropic":
        return get_schema("anthropic_messages")
    if backend == "gemini":
        # no reviewed parameter list yet: every field counts and no default is assumed; only where the sampling
        # temperature sits is known, so an explicit temperature 0 is cached
        return dataclasses.replace(get_schema("generic"), name="gemini_generate",
                                   temperature="generationConfig.temperature")
    schema = get_schema("openai_chat")
    from contextwise.models import default_catalog

    info = default_catalog().find(model)
    if info is not None and info.provider == "openai":
        return schema
    params = {k: dataclasses.replace(p, has_default=False, default=None) for k, p in schema.params.items()}
    return dataclasses.replace(schema, name="openai_compatible", params=params)


def _options(options: ChatOptions) -> dict[str, Any]:
    out: dict[str, Any] = {
        "temperature": options.temperature, "top_p": options.top_p, "seed": options.seed,
        "stop": list(options.stop) or None, "tool_choice": options.tool_choice, "logprobs": options.logprobs,
        "tools": [t.to_openai() for t in options.tools] or None,
        "json_schema": dict(options.json_schema) if options.json_schema is not None else None,
    }
    out.update(options.extra)
    return out
