"""OpenAI-compatible chat completions: OpenAI, vLLM, Ollama, llama.cpp server, and anything speaking the format.

Parsing is tolerant: fields those servers omit (usage, ids, details, logprobs) default instead of failing.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from collections.abc import Mapping, Sequence

from contextwise.llm._chat import AsyncChat, SyncChat
from contextwise.observe._preflight import Preflight
from contextwise._wire import HttpRequest, Retry, ServerEvent, error_from_event
from contextwise.errors import ProviderError, UsageError
from contextwise.types import ChatOptions, Completion, Message, TokenLogprob, ToolCall, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_TOOL_CHOICES = frozenset({"auto", "none", "required"})


class OpenAIDialect:
    """The chat-completions wire format, with no I/O."""

    backend = "openai"

    def __init__(self, model: str, *, base_url: str, api_key: str | None, headers: Mapping[str, str],
                 max_tokens_field: str) -> None:
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.headers = {**({"Authorization": f"Bearer {api_key}"} if api_key else {}), **headers}
        self.max_tokens_field = max_tokens_field

    def request(self, messages: Sequence[Message], max_output_tokens: int | None, options: ChatOptions | None, *,
                stream: bool) -> HttpRequest:
        """The HTTP request for one call."""
        body: dict[str, Any] = {"model": self.model, "messages": [m.to_openai() for m in messages]}
        if max_output_tokens is not None:
            body[self.max_tokens_field] = max_output_tokens
        if options is not None:
            body.update(_options(options))
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if options is not None:
            body.update(options.extra)
        return HttpRequest(self.url, body, self.headers)

    def parse(self, data: Any) -> Completion:
        """A Completion from a chat-completions answer."""
        if isinstance(data, dict) and data.get("error"):
            raise error_from_event(data, backend=self.backend)
        if not isinstance(data, dict):
            raise ProviderError(f"unexpected answer: {str(data)[:200]}", backend=self.backend)
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        return Completion(
            text=message.get("content") or "",
            usage=openai_usage(data.get("usage")),
            tool_calls=tuple(_tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or ())),
            model=data.get("model") or self.model,
            finish_reason=choice.get("finish_reason"),
            logprobs=_logprobs(choice.get("logprobs")),
        )

    def stream_parser(self) -> OpenAIStream:
        """A fresh parser for one streamed answer."""
        return OpenAIStream(self.model, self.backend)


class OpenAIStream:
    """Accumulates chat-completion chunks: text, tool-call fragments by index, usage from the last chunk."""

    def __init__(self, model: str, backend: str) -> None:
        self._model, self._backend = model, backend
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._logprobs: list[TokenLogprob] | None = None
        self._usage: Mapping[str, Any] | None = None
        self._finish: str | None = None

    def feed(self, event: ServerEvent) -> str:
        """Take one event; return the text it adds."""
        if event.data.strip() == "[DONE]":
            return ""
        chunk = event.json()
        if chunk.get("error"):
            raise error_from_event(chunk, backend=self._backend)
        self._model = chunk.get("model") or self._model
        self._usage = chunk.get("usage") or self._usage
        delta = ""
        for choice in chunk.get("choices") or ():
            delta += self._choice(choice)
        return delta

    def _choice(self, choice: Mapping[str, Any]) -> str:
        self._finish = choice.get("finish_reason") or self._finish
        step = choice.get("delta") or {}
        for i, fragment in enumerate(step.get("tool_calls") or ()):
            self._tool_fragment(fragment, i)
        tokens = _logprobs(choice.get("logprobs"))
        if tokens is not None:
            self._logprobs = (self._logprobs or []) + list(tokens)
        text = step.get("content") or ""
        self._text.append(text)
        return text

    def _tool_fragment(self, fragment: Mapping[str, Any], position: int) -> None:
        call = self._calls.setdefault(fragment.get("index", position), {"id": "", "name": "", "arguments": ""})
        fn = fragment.get("function") or {}
        call["id"] = fragment.get("id") or call["id"]
        call["name"] = fn.get("name") or call["name"]
        args = fn.get("arguments")
        call["arguments"] += args if isinstance(args, str) else json.dumps(args) if args else ""

    def result(self) -> Completion:
        """The whole answer."""
        calls = tuple(
            ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"] or "{}")
            for i, c in sorted(self._calls.items())
        )
        return Completion("".join(self._text), openai_usage(self._usage), calls, self._model, self._finish,
                          tuple(self._logprobs) if self._logprobs is not None else None)


def openai_usage(raw: Any) -> Usage:
    """Usage from an OpenAI `usage` object (dict or SDK object); the same as `Usage.from_openai`."""
    return Usage.from_openai(raw)


def _options(options: ChatOptions) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key in ("temperature", "top_p", "seed"):
        if getattr(options, key) is not None:
            body[key] = getattr(options, key)
    if options.stop:
        body["stop"] = list(options.stop)
    if options.tools:
        body["tools"] = [t.to_openai() for t in options.tools]
    if options.tool_choice is not None:
        body["tool_choice"] = _tool_choice(options.tool_choice)
    if options.logprobs:
        body["logprobs"] = True
    if options.json_schema is not None:
        body["response_format"] = _response_format(options.json_schema)
    return body


def _tool_choice(choice: str) -> Any:
    return choice if choice in _TOOL_CHOICES else {"type": "function", "function": {"name": choice}}


def _response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "response"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema)}}


def _tool_call(raw: Mapping[str, Any], position: int) -> ToolCall:
    fn = raw.get("function") or {}
    args = fn.get("arguments")
    text = args if isinstance(args, str) else json.dumps(args if args is not None else {})
    return ToolCall(raw.get("id") or f"call_{position}", fn.get("name") or "", text or "{}")


def _logprobs(raw: Mapping[str, Any] | None) -> tuple[TokenLogprob, ...] | None:
    if not raw or raw.get("content") is None:
        return None
    return tuple(TokenLogprob(t.get("token", ""), float(t.get("logprob", 0.0))) for t in raw["content"])


class _OpenAISetup:
    """The constructor both OpenAI twins share."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 60.0, retry: Retry | None = None, headers: Mapping[str, str] | None = None,
                 max_tokens_field: str | None = None, http_client: Any = None,
                 preflight: Preflight | bool = True) -> None:
        """Args:
            model: the model name the server knows.
            base_url: the API root, e.g. "http://127.0.0.1:8000/v1" for vLLM or "http://127.0.0.1:11434/v1"
                for Ollama; default $OPENAI_BASE_URL, else OpenAI's.
            api_key: default $OPENAI_API_KEY; local servers need none.
            timeout_s: per request.
            retry: retry strategy for RateLimitError/UnavailableError; None means no retries.
            headers: extra HTTP headers (e.g. an organization or a gateway key).
            max_tokens_field: the body field `max_output_tokens` goes in; default "max_completion_tokens" for
                OpenAI's own API (its reasoning models refuse "max_tokens"), "max_tokens" for any other server
                (vLLM, Ollama, llama.cpp).
            http_client: an httpx client to use instead of the client's own pool.
            preflight: how each prompt is counted before it is sent and checked against the model's input limit
                (ContextLengthError, nothing sent, when over), and each answer's billed prompt against that
                count (a TruncationWarning when it is smaller). True: automatic for models in the catalog;
                False: off; a Preflight for a model the catalog does not know (a local server) or other margins.
        """
        root = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        if max_tokens_field is None:
            max_tokens_field = "max_completion_tokens" if root.rstrip("/") == DEFAULT_BASE_URL else "max_tokens"
        if not isinstance(max_tokens_field, str) or not max_tokens_field:
            raise UsageError(f"max_tokens_field is a body field name, got {max_tokens_field!r}")
        dialect = OpenAIDialect(
            model, base_url=root, api_key=api_key if api_key is not None else os.environ.get("OPENAI_API_KEY"),
            headers=dict(headers or {}), max_tokens_field=max_tokens_field,
        )
        self._setup(dialect, timeout_s=timeout_s, retry=retry, http_client=http_client,  # type: ignore[attr-defined]
                    preflight=preflight)


class OpenAIChat(_OpenAISetup, SyncChat):
    """A ChatModel over any OpenAI-compatible chat-completions endpoint (blocking).

    >>> model = OpenAIChat("qwen2.5", base_url="http://127.0.0.1:11434/v1")
    >>> model.name
    'qwen2.5'
    """


class AsyncOpenAIChat(_OpenAISetup, AsyncChat):
    """The async twin of OpenAIChat."""
