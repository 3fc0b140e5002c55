"""Long context or retrieval? A typed recommendation with its reasons and the cost per query of each option.

>>> rec = recommend(Workload(corpus_tokens=20_000, queries_per_day=500, cross_document=True), "gpt-4o-mini")
>>> rec.choice
'long_context'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from contextwise.errors import UsageError
from contextwise.types import Usage

Choice = Literal["long_context", "rag", "hybrid"]

# Above this share of the window, long prompts read worse ("lost in the middle") and cost grows linearly.
_COMFORTABLE_SHARE = 0.5
# Prefill throughput assumed for latency estimates of hosted models (tokens per second); a rough public figure.
_PREFILL_TOKENS_PER_S = 20_000.0


@dataclass(frozen=True)
class Workload:
    """What the application does.

    Args:
        corpus_tokens: the whole knowledge the answers may need.
        queries_per_day: how often it is asked.
        updates_per_day: how often the corpus changes (each change invalidates a cached prefix).
        cross_document: answers need reasoning across many documents at once.
        precision: "high" when answers must be grounded in exact passages (citations, compliance).
        latency_budget_s: the time to first token the application can afford (None: no limit).
        cost_sensitivity: how much a cheaper option counts: "low" (0), "normal" (1), "high" (2), or any
            number >= 0 on that scale.
        rag_context_tokens: how many retrieved tokens a RAG call would send.
        question_tokens / answer_tokens: a typical turn.
        cache_ttl_s: how long the provider keeps a cached prefix after its last use (5 minutes is the default
            of OpenAI's automatic and Anthropic's ephemeral caches; 3600 for Anthropic's 1-hour cache).
    """

    corpus_tokens: int
    queries_per_day: float = 100.0
    updates_per_day: float = 0.0
    cross_document: bool = False
    precision: Literal["normal", "high"] = "normal"
    latency_budget_s: float | None = None
    cost_sensitivity: Literal["low", "normal", "high"] | float = "normal"
    rag_context_tokens: int = 4_000
    question_tokens: int = 200
    answer_tokens: int = 500
    cache_ttl_s: float = 300.0

    def __post_init__(self) -> None:
        if self.corpus_tokens <= 0 or self.queries_per_day <= 0 or self.updates_per_day < 0:
            raise UsageError("corpus_tokens and queries_per_day must be positive, updates_per_day >= 0")
        if not self.cache_ttl_s > 0:
            raise UsageError(f"cache_ttl_s must be positive, got {self.cache_ttl_s}")
        self.cost_weight  # noqa: B018  (validates cost_sensitivity)

    @property
    def cost_weight(self) -> float:
        """`cost_sensitivity` as a number (low 0, normal 1, high 2)."""
        named = {"low": 0.0, "normal": 1.0, "high": 2.0}
        value = self.cost_sensitivity
        if isinstance(value, str):
            if value not in named:
                raise UsageError(f"cost_sensitivity is 'low', 'normal', 'high' or a number >= 0, got {value!r}")
            return named[value]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UsageError(f"cost_sensitivity is 'low', 'normal', 'high' or a number >= 0, got {value!r}")
        return float(value)

    @property
    def cache_hit_share(self) -> float:
        """The share of queries that find the corpus prefix still cached: the previous query came within the TTL
        (queries arriving at random, at the daily rate) and no update came since."""
        warm = 1.0 - math.exp(-self.queries_per_day / 86_400.0 * self.cache_ttl_s)
        return warm * max(0.0, 1.0 - self.updates_per_day / self.queries_per_day)


@dataclass(frozen=True)
class Option:
    """One way to serve the workload: prompt size, whether it fits, and its cost per query."""

    kind: Choice
    prompt_tokens: int
    fits: bool
    cost_per_query_usd: float | None
    prefill_s: float


@dataclass(frozen=True)
class Recommendation:
    """The choice, the reasons for it in plain words, and both options priced from the catalog."""

    choice: Choice
    reasons: tuple[str, ...]
    long_context: Option
    rag: Option
    model: str

    @property
    def cost_per_query_usd(self) -> float | None:
        """The chosen option's cost per query (retrieval's for "hybrid", the lower bound)."""
        return (self.long_context if self.choice == "long_context" else self.rag).cost_per_query_usd


def recommend(workload: Workload, model: str, *, catalog: Any = None) -> Recommendation:
    """Weigh data size against the window, update frequency, cross-document reasoning, precision, latency and cost."""
    from contextwise.models import get_model

    info = get_model(model, catalog=catalog)
    lc, rag = _options(workload, info, catalog)
    reasons: list[str] = []
    if not lc.fits:
        reasons.append(f"the corpus ({workload.corpus_tokens:,} tokens) does not fit {info.name}'s "
                       f"{_input_limit(workload, info):,}-token input limit")
        return Recommendation("rag", tuple(reasons), lc, rag, info.name)
    score = _score(workload, info, lc, rag, reasons)
    choice: Choice = "long_context" if score > 0 else "rag" if score < 0 else "hybrid"
    if choice != "hybrid" and workload.cross_document and score < 0:
        choice = "hybrid"
        reasons.append("cross-document answers need breadth: retrieve generously, then read long context")
    return Recommendation(choice, tuple(reasons), lc, rag, info.name)


def compare_models(workload: Workload, models: Sequence[str], *, catalog: Any = None) -> list[Recommendation]:
    """`recommend` for each model, cheapest chosen option first (models without prices last).

    >>> [r.model for r in compare_models(Workload(corpus_tokens=20_000), ["gpt-4o", "gpt-4o-mini"])]
    ['gpt-4o-mini', 'gpt-4o']
    """
    if isinstance(models, str) or not models:
        raise UsageError("compare_models() takes a non-empty list of model names")
    recs = [recommend(workload, m, catalog=catalog) for m in models]
    return sorted(recs, key=lambda r: (r.cost_per_query_usd is None, r.cost_per_query_usd or 0.0))


def _input_limit(w: Workload, info: Any) -> int:
    limit: int = info.prompt_limit_tokens(reserve_output_tokens=w.answer_tokens)
    return limit


def _score(w: Workload, info: Any, lc: Option, rag: Option, reasons: list[str]) -> float:
    """Positive favours long context, negative favours retrieval; each rule explains itself in `reasons`."""
    score = 0.0
    share = lc.prompt_tokens / _input_limit(w, info)
    if share <= _COMFORTABLE_SHARE:
        score += 1
        reasons.append(f"the corpus uses {share:.0%} of the window: it can be read whole")
    else:
        score -= 1
        reasons.append(f"the corpus fills {share:.0%} of the window, where facts in the middle are read worst")
    if w.cross_document:
        score += 2
        reasons.append("answers combine many documents, which retrieval tends to miss")
    if w.updates_per_day > w.queries_per_day:
        score -= 1
        reasons.append("the corpus changes more often than it is queried, so a cached prefix rarely hits")
    if w.precision == "high" and w.corpus_tokens > 32_000:
        score -= 1
        reasons.append("exact grounding in a large corpus is easier to check with retrieved, cited passages")
    if w.latency_budget_s is not None and lc.prefill_s > w.latency_budget_s:
        score -= 2
        reasons.append(f"reading the whole corpus takes about {lc.prefill_s:.1f}s, over the "
                       f"{w.latency_budget_s:.1f}s latency budget")
    if lc.cost_per_query_usd is not None and rag.cost_per_query_usd:
        ratio = lc.cost_per_query_usd / rag.cost_per_query_usd
        weight = w.cost_weight
        if ratio > 3 and weight:
            score -= weight
            reasons.append(f"long context costs {ratio:.1f}x retrieval per query "
                           f"(${lc.cost_per_query_usd:.4f} vs ${rag.cost_per_query_usd:.4f})")
    return score


def _options(w: Workload, info: Any, catalog: Any) -> tuple[Option, Option]:
    from contextwise.models import cost

    turn = w.question_tokens + w.answer_tokens
    lc_prompt = w.corpus_tokens + w.question_tokens
    rag_prompt = min(w.rag_context_tokens, w.corpus_tokens) + w.question_tokens
    fits = lc_prompt <= _input_limit(w, info) and turn > 0
    cacheable = info.supports_prompt_cache and w.corpus_tokens >= (info.min_cacheable_tokens or 0)
    hit = w.cache_hit_share if cacheable else 0.0
    # A query that finds the prefix warm reads it at the cached price; a cold one writes it again (free for
    # automatic caches, which the catalog prices as plain input).
    warm = cost(Usage(lc_prompt, w.answer_tokens, cached_input_tokens=w.corpus_tokens), info, catalog=catalog)
    cold = cost(Usage(lc_prompt, w.answer_tokens, cache_write_tokens=w.corpus_tokens if cacheable else 0), info,
                catalog=catalog)
    lc_cost = None if warm.total_usd is None or cold.total_usd is None else \
        hit * warm.total_usd + (1 - hit) * cold.total_usd
    rag_cost = cost(Usage(rag_prompt, w.answer_tokens), info, catalog=catalog)
    return (Option("long_context", lc_prompt, fits, lc_cost, lc_prompt / _PREFILL_TOKENS_PER_S),
            Option("rag", rag_prompt, True, rag_cost.total_usd, rag_prompt / _PREFILL_TOKENS_PER_S))
