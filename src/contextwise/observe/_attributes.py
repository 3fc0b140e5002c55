"""Event -> span attributes: the OpenTelemetry GenAI semantic conventions, and the composition under contextwise."""

from __future__ import annotations

from typing import Any

from contextwise.observe._composition import LISTED_CUTS, Composition
from contextwise.observe._events import ModelCall

AttributeValue = str | bool | int | float | list[str]
# gen_ai.provider.name where the conventions' well-known value differs from the client's backend name
_PROVIDER_NAMES = {"gemini": "gcp.gemini"}


def model_call_attributes(event: ModelCall) -> dict[str, AttributeValue]:
    """gen_ai.* attributes of a model call (input tokens are the whole prompt, the cache included)."""
    u = event.usage
    out: dict[str, AttributeValue] = {
        "gen_ai.operation.name": event.operation,
        "gen_ai.provider.name": _PROVIDER_NAMES.get(event.provider, event.provider),
        "gen_ai.request.model": event.model,
        "gen_ai.response.model": event.response_model or event.model,
        "gen_ai.usage.input_tokens": u.input_tokens,
        "gen_ai.usage.output_tokens": u.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": u.cached_input_tokens,
        "gen_ai.usage.cache_creation.input_tokens": u.cache_written_tokens,
        "gen_ai.usage.reasoning.output_tokens": u.reasoning_tokens,
        "contextwise.usage.cache_creation_long.input_tokens": u.cache_write_1h_tokens,
        "contextwise.streamed": event.streamed,
    }
    if event.finish_reason:
        out["gen_ai.response.finish_reasons"] = [event.finish_reason]
    if event.counted_input_tokens is not None:
        out["contextwise.counted.input_tokens"] = event.counted_input_tokens
    if event.cost_usd is not None:
        out["contextwise.cost_usd"] = event.cost_usd
    if event.error:
        out["error.type"] = event.error
    out.update(scope_attributes(event))
    if event.context is not None:
        out.update(composition_attributes(event.context.composition))
        out["contextwise.cache.returned_read_tokens"] = u.cached_input_tokens
    return out


def scope_attributes(event: Any) -> dict[str, AttributeValue]:
    """The conversation id (GenAI) and contextwise's tenant and user, where the scope set them."""
    out: dict[str, AttributeValue] = {}
    if event.scope.conversation is not None:
        out["gen_ai.conversation.id"] = event.scope.conversation
    if event.scope.tenant is not None:
        out["contextwise.tenant"] = event.scope.tenant
    if event.scope.user is not None:
        out["contextwise.user"] = event.scope.user
    return out


def composition_attributes(c: Composition) -> dict[str, AttributeValue]:
    """The context composition record: tokens per part and per section, cache prefix, keep ratio, cuts."""
    out: dict[str, AttributeValue] = {
        "contextwise.context.prompt_tokens": c.prompt_tokens,
        "contextwise.context.available_tokens": c.available_tokens,
        "contextwise.context.utilisation": c.utilisation,
        "contextwise.context.keep_ratio": c.keep_ratio,
        "contextwise.context.estimate": c.estimate,
        "contextwise.cache.prefix_tokens": c.cache_prefix_tokens,
        "contextwise.cache.predicted_read_tokens": c.predicted_cached_tokens,
        "contextwise.context.cuts": len(c.cuts),
    }
    out.update({f"contextwise.context.part.{part}.tokens": tokens for part, tokens in c.parts.items()})
    out.update({f"contextwise.context.section.{name}.tokens": tokens for name, tokens in c.sections.items()})
    if c.cuts:
        out["contextwise.context.cut_reasons"] = [
            f"{x.section}/{x.item}: {x.action} {x.tokens_before}->{x.tokens_after} ({x.reason})"
            for x in c.cuts[:LISTED_CUTS]]
        out["contextwise.context.cut_tokens"] = c.cut_tokens
    return out
