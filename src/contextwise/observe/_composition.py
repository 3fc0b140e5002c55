"""The context composition record: what each part of a built prompt cost, and what was cut and why.

`composition_of(report)` is the one place observe reads a budget Report; everything else reads a Composition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Cuts listed one by one in logs and span attributes (a build that drops 1,000 chunks lists the first ones and
# counts the rest).
LISTED_CUTS = 20
# The parts a prompt is made of; a section whose kind is none of these counts as "other".
PARTS = ("system", "tools", "memory", "documents", "history", "summary", "user", "framing", "other")


@dataclass(frozen=True)
class Composition:
    """Per built prompt: the tokens of each part (they sum to `prompt_tokens` exactly), of each section, the
    cache-eligible prefix, how much of the content was kept, and each cut with its reason.

    `estimate` is True when the count came from an estimated tokenizer (`exact=False`). `cuts` are the Report's
    decisions (section, item, action, tokens_before, tokens_after, reason); `cut_tokens` what they saved in all,
    `cut_counts` how many of each (section, action).
    """

    model: str
    prompt_tokens: int
    available_tokens: int
    parts: Mapping[str, int]
    sections: Mapping[str, int]
    requested_tokens: int
    cache_prefix_tokens: int
    cacheable: bool
    estimate: bool
    cuts: tuple[Any, ...] = field(default_factory=tuple)
    cut_tokens: int = 0
    cut_counts: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @property
    def keep_ratio(self) -> float:
        """Content tokens kept / kept plus what the cuts saved (1.0 when nothing was cut)."""
        kept = self.prompt_tokens - self.parts.get("framing", 0)
        return kept / (kept + self.cut_tokens) if kept + self.cut_tokens > 0 else 1.0

    @property
    def utilisation(self) -> float:
        """prompt_tokens / available_tokens."""
        return self.prompt_tokens / self.available_tokens if self.available_tokens else 0.0

    @property
    def predicted_cached_tokens(self) -> int:
        """The prompt-cache read the layout predicts: the stable prefix when it reaches the provider's minimum."""
        return self.cache_prefix_tokens if self.cacheable else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {"model": self.model, "prompt_tokens": self.prompt_tokens, "available_tokens": self.available_tokens,
                "parts": dict(self.parts), "sections": dict(self.sections), "keep_ratio": self.keep_ratio,
                "cache_prefix_tokens": self.cache_prefix_tokens, "cacheable": self.cacheable,
                "estimate": self.estimate, "cuts_total": len(self.cuts),
                "cuts": [{"section": c.section, "item": c.item, "action": c.action,
                          "tokens_before": c.tokens_before, "tokens_after": c.tokens_after, "reason": c.reason}
                         for c in self.cuts[:LISTED_CUTS]]}


def composition_of(report: Any) -> Composition:
    """The composition record of a budget Report (the only reader of the Report's fields in observe)."""
    parts = dict.fromkeys(PARTS, 0)
    sections: dict[str, int] = {}
    requested = 0
    for section in report.sections:
        part = section.kind if section.kind in parts and section.kind != "framing" else "other"
        parts[part] += section.used_tokens
        sections[section.name] = section.used_tokens
        requested += section.requested_tokens
    parts["framing"] = report.prompt_tokens - sum(parts.values())
    plan = report.cache_plan
    cuts = tuple(report.decisions)
    counts: dict[tuple[str, str], int] = {}
    saved = 0
    for d in cuts:
        saved += d.tokens_before - d.tokens_after
        counts[(d.section, d.action)] = counts.get((d.section, d.action), 0) + 1
    return Composition(report.model, report.prompt_tokens, report.available_tokens, parts, sections, requested,
                       plan.prefix_tokens if plan is not None else 0, bool(plan is not None and plan.cacheable),
                       not report.exact, cuts, saved, counts)
