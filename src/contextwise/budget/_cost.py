"""Cost-targeted building and model choice, on the one engine.

`optimize(ctx, target_usd=...)` builds, prices the call the way the provider bills it (a warm cached prefix at the
cache-read price), and when it is over the target cuts sections in the order the engine already values them:
lowest priority first, and tokens outside the cached prefix before tokens in it (a token there costs only the
cache-read price to keep, and cutting one rewrites the whole prefix at the cache-write price on the next call).
Each cut is a section cap the section's own fit strategy meets (dropping its lowest-priority items, compressing,
or summarising), so the result is still one build with one Report.

`choose_model(built, ...)` is the cheapest catalog model whose input limit, output cap and capabilities (tools,
images) take the built request, counted with each model's own tokenizer and framing.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from contextwise.budget._built import Built
from contextwise.budget.context import Context
from contextwise.errors import UsageError
from contextwise.types import ImagePart, Usage


@dataclass(frozen=True)
class CostCut:
    """One thing optimize did: capped `section` from `tokens_before` to `tokens_after`, saving about `usd_saved`."""

    section: str
    tokens_before: int
    tokens_after: int
    usd_saved: float
    reason: str


@dataclass(frozen=True)
class Optimized:
    """The build optimize settled on, what the first build cost, and what was cut to get there."""

    built: Built
    target_usd: float
    before_usd: float
    after_usd: float
    before_tokens: int
    after_tokens: int
    cuts: tuple[CostCut, ...]

    @property
    def met(self) -> bool:
        """Whether the call now costs at most the target."""
        return self.after_usd <= self.target_usd + 1e-12

    def __str__(self) -> str:
        lines = [f"cost per call ${self.before_usd:.6f} -> ${self.after_usd:.6f} (target ${self.target_usd:.6f}, "
                 f"{'met' if self.met else 'NOT met'}); prompt {self.before_tokens:,} -> {self.after_tokens:,} "
                 "tokens"]
        lines += [f"  {c.section}: {c.tokens_before:,} -> {c.tokens_after:,} tokens, -${c.usd_saved:.6f} ({c.reason})"
                  for c in self.cuts]
        return "\n".join(lines)


def call_usd(built: Built, info: Any, *, output_tokens: int = 0, cache_warm: bool = True,
             prefix_rewritten: bool = False) -> float:
    """What one call with `built` costs on `info`'s prices: the cacheable prefix at the cache-read price when the
    cache is warm (at the cache-write price when the prefix changed and the provider bills writes), the rest at
    the input price, and `output_tokens` of answer."""
    from contextwise.models import cost

    plan = built.report.cache_plan
    prompt = built.report.prompt_tokens
    prefix = plan.prefix_tokens if plan is not None and plan.cacheable and info.supports_prompt_cache else 0
    prefix = min(prefix, prompt)
    if prefix_rewritten:
        writes = prefix if info.cache_kind == "explicit" else 0
        usage = Usage(input_tokens=prompt, cache_write_tokens=writes, output_tokens=output_tokens)
    else:
        usage = Usage(input_tokens=prompt, cached_input_tokens=prefix if cache_warm else 0,
                      output_tokens=output_tokens)
    return float(cost(usage, info).total_usd)


def optimize(ctx: Context, *, target_usd: float, output_tokens: int = 0, cache_warm: bool = True,
             max_rounds: int = 4) -> Optimized:
    """Build `ctx` so that one call costs at most `target_usd` (prompt plus `output_tokens` of answer).

    Raises:
        UsageError: the model has no prices, or a bad argument.
        BudgetExceededError: the pinned sections alone do not fit the window.
    """
    _check_money(target_usd, "target_usd")
    if isinstance(output_tokens, bool) or not isinstance(output_tokens, int) or output_tokens < 0:
        raise UsageError(f"output_tokens is a whole number >= 0, got {output_tokens!r}")
    info = ctx.info
    if info is None:
        raise UsageError("optimize needs a Context for a catalog model (its prices)")
    first = ctx.build()
    before = call_usd(first, info, output_tokens=output_tokens, cache_warm=cache_warm)
    built, after = first, before
    cuts: list[CostCut] = []
    caps: dict[str, int] = {}
    sections = {s.name: s for s in ctx.sections}
    for _ in range(max_rounds):
        if after <= target_usd:
            break
        round_cuts = _plan_cuts(built, sections, info, after - target_usd, cache_warm)
        if not round_cuts:
            break
        for cut in round_cuts:
            caps[cut.section] = cut.tokens_after
        built = _rebuilt(ctx, caps).build()
        cuts += round_cuts
        rewritten = any(sections[c.section].stable for c in cuts)
        after = call_usd(built, info, output_tokens=output_tokens, cache_warm=cache_warm,
                         prefix_rewritten=rewritten)
    merged = _merge(cuts)
    return Optimized(built, float(target_usd), before, after, first.report.prompt_tokens,
                     built.report.prompt_tokens, merged)


def _plan_cuts(built: Built, sections: dict[str, Any], info: Any, excess_usd: float,
               cache_warm: bool) -> list[CostCut]:
    """Caps that save `excess_usd`: lowest priority first, the cached prefix last."""
    prices = info.prices
    input_rate = prices.input_usd_per_mtok / 1e6
    cached_rate = (prices.cached_input_usd_per_mtok if prices.cached_input_usd_per_mtok is not None
                   else prices.input_usd_per_mtok) / 1e6
    plan = built.report.cache_plan
    cached_prefix = bool(plan is not None and plan.cacheable and info.supports_prompt_cache and cache_warm)
    rows = [r for r in built.report.sections if not r.pinned and r.used_tokens > sections[r.name].min_tokens]
    in_prefix = {r.name: cached_prefix and bool(sections[r.name].stable) for r in rows}
    out: list[CostCut] = []
    for row in sorted(rows, key=lambda r: (in_prefix[r.name], r.priority)):
        if excess_usd <= 0:
            break
        rate = cached_rate if in_prefix[row.name] else input_rate
        if rate <= 0:
            continue
        reducible = row.used_tokens - sections[row.name].min_tokens
        cut = min(reducible, math.ceil(excess_usd / rate))
        if cut <= 0:
            continue
        why = (f"priority {row.priority}, in the cached prefix: the next call rewrites it" if in_prefix[row.name]
               else f"priority {row.priority}, billed at the input price")
        out.append(CostCut(row.name, row.used_tokens, row.used_tokens - cut, cut * rate, why))
        excess_usd -= cut * rate
    return out


def _rebuilt(ctx: Context, caps: dict[str, int]) -> Context:
    new = copy.copy(ctx)
    new._sections = [s if s.name not in caps else replace(
        s, budget_tokens=caps[s.name] if s.budget_tokens is None else min(s.budget_tokens, caps[s.name]))
        for s in ctx._sections]
    return new


def _merge(cuts: Sequence[CostCut]) -> tuple[CostCut, ...]:
    """One cut per section: from its first size to its last cap, the savings summed."""
    by_name: dict[str, CostCut] = {}
    for c in cuts:
        prev = by_name.get(c.section)
        by_name[c.section] = c if prev is None else CostCut(c.section, prev.tokens_before, c.tokens_after,
                                                            prev.usd_saved + c.usd_saved, c.reason)
    return tuple(by_name.values())


# -- model choice -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelOption:
    """One catalog model weighed for a request: whether it takes it, why not, and what the call would cost."""

    model: str
    fits: bool
    reason: str
    prompt_tokens: int
    usd: float | None


@dataclass(frozen=True)
class ModelChoice:
    """The cheapest model that takes the request (None when none does), and every model weighed, cheapest
    first among those that fit."""

    model: str | None
    usd: float | None
    options: tuple[ModelOption, ...]

    def explain(self) -> str:
        """Why this model: the cheapest that fits, and why the cheaper ones did not."""
        if self.model is None:
            return "no model takes this request: " + "; ".join(f"{o.model}: {o.reason}" for o in self.options[:5])
        cheaper = [o for o in self.options if not o.fits and o.usd is not None and self.usd is not None
                   and o.usd < self.usd]
        why = "".join(f"\n  not {o.model} (${o.usd:.6f}): {o.reason}" for o in cheaper[:5])
        return f"{self.model}: ${self.usd:.6f} a call, the cheapest that fits{why}"


def choose_model(built: Built, *, candidates: Iterable[str] | None = None, output_tokens: int = 0,
                 catalog: Any = None) -> ModelChoice:
    """The cheapest catalog model (among `candidates`, the quality tier you accept; default the whole catalog)
    whose input limit takes the built prompt counted with its own tokenizer, whose output cap takes
    `output_tokens`, and which supports the request's tools and images."""
    from contextwise.models import default_catalog

    if isinstance(output_tokens, bool) or not isinstance(output_tokens, int) or output_tokens < 0:
        raise UsageError(f"output_tokens is a whole number >= 0, got {output_tokens!r}")
    cat = catalog if catalog is not None else default_catalog()
    infos = list(cat) if candidates is None else [cat.get(_name(n)) for n in candidates]
    if not infos:
        raise UsageError("choose_model needs at least one candidate model")
    needs_images = any(isinstance(p, ImagePart) for m in built.messages if isinstance(m.content, tuple)
                       for p in m.content)
    counts: dict[tuple[str, str], int] = {}
    options = [_weigh(built, info, output_tokens, needs_images, counts) for info in infos]
    options.sort(key=lambda o: (not o.fits, o.usd if o.usd is not None else math.inf, o.model))
    best = options[0] if options and options[0].fits else None
    return ModelChoice(best.model if best else None, best.usd if best else None, tuple(options))


def _weigh(built: Built, info: Any, output_tokens: int, needs_images: bool,
           counts: dict[tuple[str, str], int]) -> ModelOption:
    counter = _counter_for(info)
    key = (counter.tokenizer.name, counter.framing.name)
    if key not in counts:
        counts[key] = int(counter.messages(list(built.messages), tools=list(built.tools)))
    prompt = counts[key]
    usd = _usd(info, prompt, output_tokens)
    limit = info.prompt_limit_tokens(reserve_output_tokens=output_tokens)
    if output_tokens > info.max_output_tokens:
        return ModelOption(info.name, False, f"answers at most {info.max_output_tokens:,} tokens", prompt, usd)
    if prompt > limit:
        return ModelOption(info.name, False, f"takes {limit:,} prompt tokens, the request is {prompt:,}", prompt, usd)
    if built.tools and not info.supports_tools:
        return ModelOption(info.name, False, "no tool calling", prompt, usd)
    if needs_images and not info.supports_images:
        return ModelOption(info.name, False, "no image input", prompt, usd)
    return ModelOption(info.name, True, "fits", prompt, usd)


def _counter_for(info: Any) -> Any:
    """The model's counter; a model only a catalog of the caller's own knows is counted by its entry."""
    from contextwise.tokens import TokenCounter, framing_for, get_tokenizer
    from contextwise.tokens.counter import shared_counter

    try:
        return shared_counter(info.name)  # what the Context that built the request counted is cached there
    except LookupError:
        return TokenCounter(get_tokenizer(info.tokenizer), framing_for(info.provider))


def _usd(info: Any, prompt_tokens: int, output_tokens: int) -> float | None:
    from contextwise.models import cost

    try:
        return float(cost(Usage(input_tokens=prompt_tokens, output_tokens=output_tokens), info).total_usd)
    except UsageError:
        return None


def _name(candidate: Any) -> str:
    if not isinstance(candidate, str):
        raise UsageError(f"candidates are catalog model names, got {type(candidate).__name__}")
    return candidate


def _check_money(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UsageError(f"{name} is a finite number of dollars >= 0, got {value!r}")
