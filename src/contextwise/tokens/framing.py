"""How providers frame a chat request into prompt tokens: per-message overhead, names, tools, images, priming.

The figures are data (`models/families.toml`): OpenAI's are the ones its token-counting cookbook documents and
checks against the API (`num_tokens_from_messages`, `num_tokens_for_tools`); Anthropic and Google publish no
per-message framing, so theirs are conservative estimates, with the tool-use system prompt Anthropic documents.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from contextwise.tokens._families import families, rule_from
from contextwise.tokens.images import ImageRule, TileImageRule, image_rule_from, openai_image_rule
from contextwise.types import Tool

CountText = Callable[[str], int]


@dataclass(frozen=True)
class OpenAIToolRule:
    """OpenAI's tool-definition formula from its cookbook: per function `name:description`, per property
    `name:type:description` and enum items, plus fixed overheads. Nested schemas are counted as their JSON."""

    per_tool_tokens: int = 7
    properties_tokens: int = 3
    per_property_tokens: int = 3
    enum_tokens: int = -3
    per_enum_item_tokens: int = 3
    end_tokens: int = 12

    def tokens(self, tools: Sequence[Tool], count: CountText) -> int:
        """Prompt tokens the tool definitions add (0 for no tools)."""
        if not tools:
            return 0
        return sum(self._one(tool, count) for tool in tools) + self.end_tokens

    def _one(self, tool: Tool, count: CountText) -> int:
        total = self.per_tool_tokens + count(f"{tool.name}:{_strip_period(tool.description)}")
        properties = (tool.parameters or {}).get("properties") or {}
        if properties:
            total += self.properties_tokens
            total += sum(self._property(name, spec, count) for name, spec in properties.items())
        return total

    def _property(self, name: str, spec: Mapping[str, Any], count: CountText) -> int:
        total = self.per_property_tokens
        enum = spec.get("enum")
        if enum:
            total += self.enum_tokens + sum(self.per_enum_item_tokens + count(str(item)) for item in enum)
        kind = spec.get("type", "")
        kind = "|".join(map(str, kind)) if isinstance(kind, list) else str(kind)
        total += count(f"{name}:{kind}:{_strip_period(str(spec.get('description', '')))}")
        nested = {k: v for k, v in spec.items() if k not in ("type", "description", "enum")}
        return total + (count(json.dumps(nested, sort_keys=True)) if nested else 0)


@dataclass(frozen=True)
class JsonToolRule:
    """Tool definitions counted as their JSON (name, description, schema) plus fixed overheads; used where the
    provider does not document its rendering."""

    preamble_tokens: int = 0
    per_tool_tokens: int = 10

    def tokens(self, tools: Sequence[Tool], count: CountText) -> int:
        """Prompt tokens the tool definitions add (0 for no tools)."""
        if not tools:
            return 0
        return self.preamble_tokens + sum(
            self.per_tool_tokens + count(json.dumps(
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)},
                sort_keys=True, ensure_ascii=False))
            for t in tools)


ToolRule = OpenAIToolRule | JsonToolRule


@dataclass(frozen=True)
class Framing:
    """The tokens a provider adds around message content.

    Attributes:
        name: the family this framing describes.
        per_message_tokens: added for every message (OpenAI: 3, `<|start|>role<|message|>...<|end|>` less role).
        per_name_tokens: added when a message has a `name` (on top of the name's own tokens).
        reply_priming_tokens: added once per request for the assistant turn the reply starts in.
        role_counted: whether the role's own text is tokenised too (OpenAI: yes).
        per_tool_call_tokens: added per tool call in an assistant message (on top of name and arguments); no
            provider documents it, so it is an estimate everywhere.
        per_tool_result_tokens: added per tool-result message (on top of its content and the id where counted);
            an estimate everywhere, like per_tool_call_tokens.
        tool_call_id_counted: whether tool-call ids are part of the prompt text.
        tool_rule: how tool definitions are counted.
        image_rule: how image parts are counted.
        exact: whether the provider documents this framing (True for OpenAI's cookbook figures: messages, names,
            priming and tool definitions).
    """

    name: str
    per_message_tokens: int = 3
    per_name_tokens: int = 1
    reply_priming_tokens: int = 3
    role_counted: bool = True
    per_tool_call_tokens: int = 6
    per_tool_result_tokens: int = 2
    tool_call_id_counted: bool = False
    tool_rule: ToolRule = field(default_factory=OpenAIToolRule)
    image_rule: ImageRule = field(default_factory=lambda: TileImageRule(85, 170))
    exact: bool = True


_TOOL_RULES: dict[str, type[ToolRule]] = {"openai": OpenAIToolRule, "json": JsonToolRule}


def tool_rule_from(spec: Mapping[str, Any]) -> ToolRule:
    """A tool rule from its data-file spec (`{kind = "json", preamble_tokens = 20, per_tool_tokens = 10}`)."""
    return rule_from(_TOOL_RULES, spec, "tool rule")


def _framing_fields(name: str) -> dict[str, Any]:
    specs = families().framings
    spec = dict(specs[name])
    base = spec.pop("based_on", None)
    return {**(_framing_fields(base) if base else {}), **spec}


@functools.cache
def _framing_named(name: str) -> Framing:
    fields = _framing_fields(name)
    tool_rule = tool_rule_from(fields.pop("tool_rule"))
    image_rule = image_rule_from(fields.pop("image_rule"))
    return Framing(name, **fields, tool_rule=tool_rule, image_rule=image_rule)


def _framings() -> dict[str, Framing]:
    table = families()
    named = {name: _framing_named(name) for name in table.framings}
    return {**named, **{alias: named[target] for alias, target in table.framing_aliases.items()}}


# The framings in the data file, by the names the docs use.
OPENAI = _framing_named("openai")
OPENAI_LEGACY = _framing_named("openai-legacy")
ANTHROPIC = _framing_named("anthropic")
GOOGLE = _framing_named("google")
GENERIC = _framing_named("generic")
LLAMA3 = _framing_named("llama3")
CHATML = _framing_named("chatml")
_BY_NAME = _framings()


def framing_for(model_or_provider: str) -> Framing:
    """The framing for a provider ("openai", "anthropic", "google", "meta", "qwen", "generic"), a template
    ("llama3", "chatml") or a model name.

    >>> framing_for("gpt-4o").per_message_tokens, framing_for("claude-sonnet-4-5").exact
    (3, False)
    """
    key = model_or_provider.strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    bare = key.rsplit("/", 1)[-1]
    provider = _catalog_provider(model_or_provider) or _provider_from_name(bare)
    if provider == "openai":
        legacy = families().openai_legacy(bare)
        base = OPENAI_LEGACY if legacy else OPENAI
        rule = openai_image_rule(bare)
        return base if rule == base.image_rule else replace(base, image_rule=rule)
    return _BY_NAME.get(provider or "", GENERIC)


def _provider_from_name(bare: str) -> str | None:
    return families().provider_for(bare)


def _catalog_provider(model: str) -> str | None:
    try:
        from contextwise.models import get_model
    except ImportError:
        return None
    try:
        return str(get_model(model).provider).lower()
    except (LookupError, ValueError):
        return None


def _strip_period(text: str) -> str:
    return text.removesuffix(".")
