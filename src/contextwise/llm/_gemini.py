"""Gemini's REST API (generateContent / streamGenerateContent): system instruction, contents of parts, function
calls and responses, generationConfig.

Usage goes through `Usage.from_gemini`: `promptTokenCount` already includes `cachedContentTokenCount` (the cache
read), and `thoughtsTokenCount` is output beside `candidatesTokenCount`.
"""

from __future__ import annotations

import json
import mimetypes
import os
from typing import Any
from collections.abc import Mapping, Sequence

from contextwise.errors import ProviderError, UsageError
from contextwise.llm._chat import AsyncChat, SyncChat
from contextwise.llm._parts import append_turn, data_url, tool_arguments
from contextwise.observe._preflight import Preflight
from contextwise._wire import HttpRequest, Retry, ServerEvent, error_from_event
from contextwise.types import ChatOptions, Completion, ImagePart, Message, TextPart, TokenLogprob, ToolCall, Usage

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1"  # what google-genai 3.3.0 uses for the Gemini API
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
           "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
           "IMAGE_SAFETY": "content_filter", "MALFORMED_FUNCTION_CALL": "error"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


class GeminiDialect:
    """The generateContent wire format, with no I/O."""

    backend = "gemini"

    def __init__(self, model: str, *, base_url: str, api_key: str | None, headers: Mapping[str, str],
                 api_version: str) -> None:
        self.model = model.removeprefix("models/")
        root = f"{base_url.rstrip('/')}/{api_version}/models/{self.model}"
        self.url, self.stream_url = f"{root}:generateContent", f"{root}:streamGenerateContent?alt=sse"
        self.headers = {**({"x-goog-api-key": api_key} if api_key else {}), **headers}

    def request(self, messages: Sequence[Message], max_output_tokens: int | None, options: ChatOptions | None, *,
                stream: bool) -> HttpRequest:
        """The HTTP request for one call."""
        body: dict[str, Any] = {}
        system = [{"text": m.text} for m in messages if m.role in ("system", "developer") and m.text]
        if system:
            body["systemInstruction"] = {"parts": system}
        body["contents"] = _contents(messages)
        config: dict[str, Any] = {}
        if max_output_tokens is not None:
            config["maxOutputTokens"] = max_output_tokens
        if options is not None:
            body.update(_tools(options))
            config.update(_generation(options))
        if config:
            body["generationConfig"] = config
        if options is not None:
            _merge_extra(body, options.extra)
        return HttpRequest(self.stream_url if stream else self.url, body, self.headers)

    def parse(self, data: Any) -> Completion:
        """A Completion from a generateContent answer."""
        if not isinstance(data, dict):
            raise ProviderError(f"unexpected answer: {str(data)[:200]}", backend=self.backend)
        if data.get("error"):
            raise error_from_event(data, backend=self.backend)
        stream = GeminiStream(self.model, self.backend)
        stream.take(data)
        return stream.result()

    def stream_parser(self) -> GeminiStream:
        """A fresh parser for one streamed answer."""
        return GeminiStream(self.model, self.backend)


class GeminiStream:
    """Accumulates GenerateContentResponse chunks: text parts (thoughts left out), function calls, the last
    usageMetadata and finishReason. One whole answer is a single chunk."""

    def __init__(self, model: str, backend: str) -> None:
        self._model, self._backend = model, backend
        self._text: list[str] = []
        self._calls: list[ToolCall] = []
        self._logprobs: list[TokenLogprob] | None = None
        self._usage: Any = None
        self._finish: str | None = None
        self._blocked: str | None = None

    def feed(self, event: ServerEvent) -> str:
        """Take one server-sent event; return the text it adds."""
        chunk = event.json()
        if not isinstance(chunk, dict):
            raise ProviderError(f"unexpected stream event: {event.data[:200]}", backend=self._backend)
        if chunk.get("error"):
            raise error_from_event(chunk, backend=self._backend)
        return self.take(chunk)

    def take(self, chunk: Mapping[str, Any]) -> str:
        """Fold one response (or stream chunk) in; return its text."""
        self._model = chunk.get("modelVersion") or self._model
        self._usage = chunk.get("usageMetadata") or self._usage
        feedback = chunk.get("promptFeedback") or {}
        self._blocked = feedback.get("blockReason") or self._blocked
        delta = ""
        for candidate in (chunk.get("candidates") or ())[:1]:
            self._finish = candidate.get("finishReason") or self._finish
            for part in (candidate.get("content") or {}).get("parts") or ():
                delta += self._part(part)
            tokens = _logprobs(candidate.get("logprobsResult"))
            if tokens is not None:
                self._logprobs = (self._logprobs or []) + tokens
        return delta

    def _part(self, part: Mapping[str, Any]) -> str:
        call = part.get("functionCall")
        if call:
            self._calls.append(ToolCall(call.get("id") or f"call_{len(self._calls)}", call.get("name") or "",
                                        json.dumps(call.get("args") or {}, ensure_ascii=False)))
            return ""
        if part.get("thought"):
            return ""  # a thought summary is not the answer (its tokens are in thoughtsTokenCount)
        text = part.get("text") or ""
        self._text.append(text)
        return str(text)

    def result(self) -> Completion:
        """The whole answer."""
        if self._blocked and not self._text and not self._calls:
            raise ProviderError(f"the prompt was blocked ({self._blocked}); nothing was generated",
                                backend=self._backend)
        finish = "tool_calls" if self._calls else _FINISH.get(self._finish or "", (self._finish or "").lower() or None)
        return Completion("".join(self._text), gemini_usage(self._usage), tuple(self._calls), self._model, finish,
                          tuple(self._logprobs) if self._logprobs is not None else None)


def gemini_usage(raw: Any) -> Usage:
    """Usage from Gemini's `usageMetadata` (dict or SDK object); the same as `Usage.from_gemini`.

    >>> gemini_usage({"promptTokenCount": 1000, "cachedContentTokenCount": 800, "candidatesTokenCount": 20,
    ...               "thoughtsTokenCount": 30}).output_tokens
    50
    """
    return Usage.from_gemini(raw)


def _contents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """User and model turns; a tool result answers the call it names (Gemini matches responses by function
    name); consecutive same-role turns are merged, as Gemini wants turns to alternate."""
    names: dict[str, str] = {}
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        if message.role == "assistant":
            role, parts = "model", _model_parts(message)
            names.update({c.id: c.name for c in message.tool_calls})
        elif message.role == "tool":
            name = message.name or names.get(message.tool_call_id or "")
            if not name:
                raise UsageError(f"tool result {message.tool_call_id!r} answers no earlier tool call; Gemini needs "
                                 f"the function's name (Message.tool(..., name=...))")
            role, parts = "user", [{"functionResponse": {"name": name, "response": _response(message.text)}}]
        else:
            role, parts = "user", _user_parts(message)
        append_turn(turns, role, "parts", parts)
    if not turns:
        raise UsageError("Gemini needs at least one user or assistant message besides the system prompt")
    return turns


def _model_parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": message.text}] if message.text else []
    parts += [{"functionCall": {"name": c.name, "args": tool_arguments(c, "Gemini")}} for c in message.tool_calls]
    return parts or [{"text": ""}]


def _user_parts(message: Message) -> list[dict[str, Any]]:
    content = (TextPart(message.content),) if isinstance(message.content, str) else message.content
    parts = [_part(p) for p in content if not (isinstance(p, TextPart) and not p.text)]
    return parts or [{"text": message.text}]


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    inline = data_url(part.url)
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    mime = mimetypes.guess_type(part.url.split("?")[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": part.url}}


def _response(text: str) -> dict[str, Any]:
    """A function's result as the object Gemini takes: a JSON object as is, anything else under "result"."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def _tools(options: ChatOptions) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if options.tools:
        body["tools"] = [{"functionDeclarations": [
            {"name": t.name, "description": t.description,
             **({"parametersJsonSchema": dict(t.parameters)} if t.parameters else {})} for t in options.tools]}]
    if options.tool_choice is not None:
        mode = _TOOL_MODES.get(options.tool_choice)
        config: dict[str, Any] = {"mode": mode} if mode else {"mode": "ANY",
                                                              "allowedFunctionNames": [options.tool_choice]}
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


def _generation(options: ChatOptions) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, field in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed")):
        if getattr(options, key) is not None:
            config[field] = getattr(options, key)
    if options.stop:
        config["stopSequences"] = list(options.stop)
    if options.logprobs:
        config["responseLogprobs"] = True
    if options.json_schema is not None:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = dict(options.json_schema)
    return config


def _merge_extra(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """ChatOptions.extra: top-level fields replace; a `generationConfig` is merged into the one built."""
    for key, value in extra.items():
        if key == "generationConfig" and isinstance(value, Mapping):
            body["generationConfig"] = {**body.get("generationConfig", {}), **value}
        else:
            body[key] = value


def _logprobs(raw: Mapping[str, Any] | None) -> list[TokenLogprob] | None:
    if not raw or raw.get("chosenCandidates") is None:
        return None
    return [TokenLogprob(str(c.get("token", "")), float(c.get("logProbability", 0.0)))
            for c in raw["chosenCandidates"]]


class _GeminiSetup:
    """The constructor both Gemini twins share."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, retry: Retry | None = None, headers: Mapping[str, str] | None = None,
                 api_version: str = API_VERSION, http_client: Any = None,
                 preflight: Preflight | bool = True) -> None:
        """Args:
            model: e.g. "gemini-2.5-flash" ("models/" in front is accepted).
            base_url: the API root; default Google's (generativelanguage.googleapis.com).
            api_key: default $GEMINI_API_KEY, else $GOOGLE_API_KEY; sent as `x-goog-api-key`.
            timeout_s: per request.
            retry: retry strategy for RateLimitError/UnavailableError; None means no retries.
            headers: extra HTTP headers.
            api_version: the path's version: "v1" (as google-genai sends) or "v1beta" (preview fields).
            http_client: an httpx client to use instead of the client's own pool.
            preflight: as for the other clients: Gemini's tokenizer is an estimate here, so counts get the
                estimate margin and are calibrated from the billed `promptTokenCount`.
        """
        if not api_version or "/" in api_version:
            raise UsageError(f"api_version is a path segment such as 'v1beta', got {api_version!r}")
        key = api_key if api_key is not None else os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        dialect = GeminiDialect(model, base_url=base_url or DEFAULT_BASE_URL, api_key=key,
                                headers=dict(headers or {}), api_version=api_version)
        self._setup(dialect, timeout_s=timeout_s, retry=retry, http_client=http_client,  # type: ignore[attr-defined]
                    preflight=preflight)


class GeminiChat(_GeminiSetup, SyncChat):
    """A ChatModel over Gemini's generateContent REST API (blocking).

    >>> GeminiChat("gemini-2.5-flash", api_key="k").name
    'gemini-2.5-flash'
    """


class AsyncGeminiChat(_GeminiSetup, AsyncChat):
    """The async twin of GeminiChat."""
