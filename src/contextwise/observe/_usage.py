"""Provider usage -> Usage: the one place each provider's token accounting is read.

Dicts (the wire format) and SDK objects (openai, anthropic, google-genai) are read alike, by field name. What the
providers say, and what it becomes:

- OpenAI chat completions: `prompt_tokens` includes `prompt_tokens_details.cached_tokens` (reads) and
  `cache_write_tokens` (writes; the 12-hour ones, `cache_write_tokens_details.ttl_12h_tokens`, are the long-TTL
  bucket, `cache_write_1h_tokens`); `completion_tokens` includes `completion_tokens_details.reasoning_tokens`.
  The responses API says `input_tokens` /
  `input_tokens_details` / `output_tokens_details` for the same. DeepSeek's `prompt_cache_hit_tokens` is a
  cache read.
- Anthropic: `input_tokens` is only the uncached rest; `cache_read_input_tokens` and
  `cache_creation_input_tokens` (split into `cache_creation.ephemeral_5m_input_tokens` / `..._1h_...`) are beside
  it, so the whole prompt is their sum; `output_tokens_details.thinking_tokens` is inside `output_tokens`.
- Gemini: `promptTokenCount` includes `cachedContentTokenCount`; `toolUsePromptTokenCount` is more input;
  `thoughtsTokenCount` is output beside `candidatesTokenCount`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contextwise.errors import UsageError
from contextwise.types import Usage


def field(raw: Any, *names: str) -> Any:
    """The first of `names` present (and not None) in a mapping or as an attribute; None when none is."""
    for name in names:
        value = raw.get(name) if isinstance(raw, Mapping) else getattr(raw, name, None)
        if value is not None:
            return value
    return None


def _int(raw: Any, *names: str) -> int:
    value = field(raw, *names)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise UsageError(f"usage field {names[0]!r} must be a count of tokens, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise UsageError(f"usage field {names[0]!r} must be a whole number of tokens, got {value!r}")
    return int(value)


def openai(raw: Any) -> Usage:
    """Usage from OpenAI's chat-completions or responses `usage` (see the module docstring)."""
    if not raw:
        return Usage()
    prompt = _int(raw, "prompt_tokens", "input_tokens")
    details = field(raw, "prompt_tokens_details", "input_tokens_details") or {}
    cached = _int(details, "cached_tokens") or _int(raw, "prompt_cache_hit_tokens")
    written = _int(details, "cache_write_tokens")
    long_ttl = min(_int(field(details, "cache_write_tokens_details") or {}, "ttl_12h_tokens"), written)
    output = _int(raw, "completion_tokens", "output_tokens")
    reasoning = _int(field(raw, "completion_tokens_details", "output_tokens_details") or {}, "reasoning_tokens")
    # a server that reports more cached (or reasoning) than its whole is clamped rather than refused: the
    # answer already arrived and was billed by the whole
    cached = min(cached, prompt)
    written = min(written, prompt - cached)
    long_ttl = min(long_ttl, written)
    return Usage(prompt, output, cached, written - long_ttl, long_ttl, min(reasoning, output))


def anthropic(raw: Any) -> Usage:
    """Usage from Anthropic's `usage` (see the module docstring)."""
    if not raw:
        return Usage()
    uncached = _int(raw, "input_tokens")
    read = _int(raw, "cache_read_input_tokens")
    written = _int(raw, "cache_creation_input_tokens")
    split = field(raw, "cache_creation") or {}
    one_hour = _int(split, "ephemeral_1h_input_tokens")
    written = max(written, one_hour + _int(split, "ephemeral_5m_input_tokens"))
    output = _int(raw, "output_tokens")
    thinking = _int(field(raw, "output_tokens_details") or {}, "thinking_tokens")
    return Usage(uncached + read + written, output, read, written - one_hour, one_hour, min(thinking, output))


def gemini(raw: Any) -> Usage:
    """Usage from Gemini's `usageMetadata` (see the module docstring)."""
    if not raw:
        return Usage()
    prompt = _int(raw, "promptTokenCount", "prompt_token_count")
    prompt += _int(raw, "toolUsePromptTokenCount", "tool_use_prompt_token_count")
    cached = _int(raw, "cachedContentTokenCount", "cached_content_token_count")
    thoughts = _int(raw, "thoughtsTokenCount", "thoughts_token_count")
    answer = _int(raw, "candidatesTokenCount", "candidates_token_count")
    return Usage(prompt, answer + thoughts, min(cached, prompt), reasoning_tokens=thoughts)


_OPENAI_ONLY = ("prompt_tokens", "completion_tokens", "input_tokens_details", "prompt_cache_hit_tokens")
_ANTHROPIC_ONLY = ("cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation")
_GEMINI_ONLY = ("promptTokenCount", "prompt_token_count", "candidatesTokenCount", "candidates_token_count",
                "totalTokenCount", "total_token_count")
_BY_PACKAGE = {"openai": openai, "anthropic": anthropic, "google": gemini}


def parse(raw: Any) -> Usage:
    """Usage from any provider's usage or a whole response carrying one (`usage`, `usageMetadata`).

    SDK objects are read by the SDK they come from; dicts by the fields only one provider sends.
    """
    if isinstance(raw, Usage):
        return raw
    if raw is None:
        raise UsageError("no usage given; pass a Usage, a provider's usage object or dict, or a response")
    inner = field(raw, "usage", "usageMetadata", "usage_metadata")
    if inner is not None and not isinstance(inner, (int, float)):
        return parse(inner)
    reader = _BY_PACKAGE.get(type(raw).__module__.split(".", 1)[0])
    if reader is not None:
        return reader(raw)
    if _has(raw, _GEMINI_ONLY):
        return gemini(raw)
    if _has(raw, _ANTHROPIC_ONLY) or _has(field(raw, "output_tokens_details") or {}, ("thinking_tokens",)):
        return anthropic(raw)
    if _has(raw, _OPENAI_ONLY) or _has(raw, ("output_tokens_details",)):
        return openai(raw)
    if _has(raw, ("input_tokens", "output_tokens")):
        # no cache or detail field either way: OpenAI's responses API and Anthropic agree on these two
        return anthropic(raw)
    raise UsageError(f"{type(raw).__name__} does not look like usage from OpenAI, Anthropic or Gemini; pass a "
                     f"Usage or the provider's `usage` object")


def _has(raw: Any, names: tuple[str, ...]) -> bool:
    return field(raw, *names) is not None
