"""The I/O-free part every HTTP client (chat, embeddings) shares: requests, retries, error mapping, SSE framing.

Nothing here touches the network; the sync and async transports in `_http` do, and only they.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterator, Mapping

from contextwise.errors import (
    AuthError, ContextLengthError, ProviderError, RateLimitError, UnavailableError, UsageError,
)

# What vLLM, llama.cpp server, Ollama, OpenAI, Anthropic and Gemini say when the prompt does not fit.
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error", "string_above_max_length",
                            "request_too_large"})
_CONTEXT_TEXT = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|prompt is too long|too many tokens|"
    r"exceeds? the available context|input is too long|reduce the length|"
    r"input token count .* exceeds the maximum number of tokens",
    re.IGNORECASE,
)


#: JSON Schema keywords whose members keep the order they were written in: OpenAI's structured outputs and tool
#: calls generate an object's properties in schema order, so sorting them would change what the model writes.
_ORDERED_MEMBERS = frozenset({"properties"})


def canonical(value: Any, *, keep_order: bool = False) -> Any:
    """`value` with every mapping's keys in sorted order (recursively), so equal requests serialise to equal
    bytes and a provider's prefix cache sees the same prefix; the members of a JSON Schema `properties` keep
    their order (each member's own schema is still ordered)."""
    if isinstance(value, Mapping):
        keys = list(value) if keep_order else sorted(value)
        return {k: canonical(value[k], keep_order=not keep_order and k in _ORDERED_MEMBERS) for k in keys}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def canonical_json(body: Any) -> str:
    """The one serialisation of a request body, the bytes every path sends and the response cache keys on:
    `canonical` key order, no insignificant whitespace, UTF-8 kept; NaN and infinities (not JSON) are refused
    with ValueError."""
    return json.dumps(canonical(body), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def request_bytes(request: HttpRequest) -> tuple[bytes, dict[str, str]]:
    """What `_http` posts for `request`: its body as `canonical_json` in UTF-8, and its headers with the JSON
    content type.

    Raises:
        UsageError: the body holds NaN or an infinity, or a lone surrogate (neither can be sent as JSON).
    """
    try:
        content = canonical_json(request.body).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:  # UnicodeEncodeError is a ValueError; named for the reader
        raise UsageError(f"the request to {request.url} cannot be sent as JSON: {exc}") from exc
    headers = dict(request.headers)
    if not any(name.lower() == "content-type" for name in headers):
        headers["content-type"] = "application/json"
    return content, headers


@dataclass(frozen=True)
class HttpRequest:
    """One POST to a provider: where, with which headers and which JSON body."""

    url: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Retry:
    """Bounded retries with exponential backoff for RateLimitError and UnavailableError.

    The wait before retry n (1-based) is `base_delay_s * 2**(n-1)` with up to `jitter` of it added at random,
    at least the provider's Retry-After, at most `max_delay_s`; a Retry-After longer than `max_delay_s` is not
    waited for, the error is raised at once.

    >>> Retry(attempts=3, base_delay_s=0.5).delay_s(1, RateLimitError("slow down"))
    0.5
    """

    attempts: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.attempts < 0 or self.base_delay_s < 0 or self.max_delay_s < 0 or not 0 <= self.jitter <= 1:
            raise UsageError("Retry needs attempts >= 0, delays >= 0 and 0 <= jitter <= 1")

    def delay_s(self, retry_number: int, error: Exception) -> float | None:
        """Seconds to wait before retry `retry_number` after `error`, or None to give up and raise it."""
        if retry_number > self.attempts or not isinstance(error, (RateLimitError, UnavailableError)):
            return None
        wait = self.base_delay_s * 2 ** (retry_number - 1)
        wait += wait * self.jitter * random.random()
        asked = float(error.retry_after or 0.0)
        if asked > self.max_delay_s:
            return None
        return float(min(max(wait, asked), self.max_delay_s))


def retry_after_s(headers: Mapping[str, str], *, now_s: float | None = None) -> float | None:
    """Seconds the provider asked to wait: `retry-after-ms`, else `Retry-After` as seconds or an HTTP date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _number(lowered.get("retry-after-ms"))
    if millis is not None:
        return max(millis / 1000.0, 0.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(when - (time.time() if now_s is None else now_s), 0.0)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def error_from_response(status_code: int, headers: Mapping[str, str], body: bytes | str, *,
                        backend: str) -> ProviderError:
    """The one mapping from a provider's error answer to the contextwise error tree."""
    message, code = _error_details(body)
    text = f"HTTP {status_code}: {message}" if message else f"HTTP {status_code}"
    kind = _error_class(status_code, message, code)
    retry = retry_after_s(headers) if kind in (RateLimitError, UnavailableError) else None
    return kind(_with_remedy(text, kind), backend=backend, status_code=status_code, retry_after=retry)


def error_from_event(payload: Mapping[str, Any], *, backend: str) -> ProviderError:
    """An error a provider sent inside a stream (OpenAI `{"error": ...}`, Anthropic `event: error`)."""
    message, code = _error_details(json.dumps(payload))
    status = {"rate_limit_error": 429, "overloaded_error": 529, "api_error": 500,
              "authentication_error": 401, "permission_error": 403}.get(code or "")
    kind = _error_class(status or 400, message, code)
    return kind(_with_remedy(f"error in stream: {message}", kind), backend=backend, status_code=status)


def _error_class(status_code: int, message: str, code: str | None) -> type[ProviderError]:
    if status_code == 429:
        return RateLimitError
    if status_code in (401, 403):
        return AuthError
    if status_code >= 500 or status_code in (408, 409):
        return UnavailableError
    if status_code == 413 or (status_code in (400, 422) and (code in _CONTEXT_CODES or _CONTEXT_TEXT.search(message))):
        return ContextLengthError
    return ProviderError


def _error_details(body: bytes | str) -> tuple[str, str | None]:
    """(message, code or type) from the error bodies OpenAI, Anthropic, vLLM, Ollama and llama.cpp send."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:500], None
    if not isinstance(data, dict):
        return text.strip()[:500], None
    err = data.get("error", data)
    if isinstance(err, str):
        return err, data.get("code") if isinstance(data.get("code"), str) else None
    if not isinstance(err, dict):
        return text.strip()[:500], None
    message = str(err.get("message") or data.get("message") or err.get("detail") or text.strip()[:500])
    code = err.get("code") if isinstance(err.get("code"), str) else err.get("type")
    return message, code if isinstance(code, str) else None


def _with_remedy(text: str, kind: type[ProviderError]) -> str:
    remedy = {
        RateLimitError: "wait and retry, or pass retry=Retry(...)",
        AuthError: "check the API key and that it may use this model",
        ContextLengthError: "build the context with a smaller budget",
        UnavailableError: "the provider is unreachable or overloaded; retry later or pass retry=Retry(...)",
    }.get(kind)
    return f"{text} ({remedy})" if remedy else text


@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event: its `event` name ("" when the server gave none) and its `data` text."""

    event: str
    data: str

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


class SSEDecoder:
    """Turns the lines of a text/event-stream into ServerEvents (comments and retry hints are dropped)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Iterator[ServerEvent]:
        """Take one line (without its newline); yield the event it completes, if any."""
        line = line.rstrip("\r")
        if not line:
            yield from self.flush()
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)

    def flush(self) -> Iterator[ServerEvent]:
        """Yield the pending event, if the stream ended without a blank line after it."""
        if self._data:
            yield ServerEvent(self._event, "\n".join(self._data))
        self._event, self._data = "", []
