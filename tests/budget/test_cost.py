"""Cost-targeted building (optimize) and model choice (choose_model) on the one engine."""

from __future__ import annotations

import warnings

import pytest

from contextwise.budget import Context, choose_model, optimize
from contextwise.budget.section import Item
from contextwise.errors import TruncationWarning, UsageError
from contextwise.models import Catalog, ModelInfo, Prices
from contextwise.types import ImagePart, Message, TextPart, Tool

PASSAGE = "The harbour station had {i} bikes on Tuesday and the riders took the coast route. " * 12


def _docs(n: int = 40) -> list[Item]:
    return [Item(PASSAGE.format(i=i), float(n - i), f"d{i}") for i in range(n)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        yield


def test_optimize_meets_the_target_by_cutting_the_lowest_priority_section_first():
    ctx = (Context("gpt-4o").system("Answer from the documents.").documents(_docs(), priority=40)
           .memory(["the user rides a blue bike"] * 3, priority=80).user("How many bikes?"))
    before = ctx.build()
    target = 0.5 * optimize(ctx, target_usd=1.0).before_usd
    out = optimize(ctx, target_usd=target)
    assert out.met and out.after_usd <= target < out.before_usd
    assert [c.section for c in out.cuts] == ["documents"]  # memory (priority 80) is kept whole
    assert out.built.report.section("memory").used_tokens == before.report.section("memory").used_tokens
    assert out.built.report.section("documents").items_kept < before.report.section("documents").items_kept
    # the documents kept are the highest-priority ones, as the engine keeps them
    kept = [it.label for it in out.built.report.section("documents").kept]
    assert kept == [f"d{i}" for i in range(len(kept))]
    assert "documents" in str(out) and "met" in str(out)


def test_optimize_cuts_outside_the_cached_prefix_before_inside_it():
    stable = [Item(f"Policy rule {i}: refunds within 30 days, helmets required, no e-bikes on trains.", 1.0)
              for i in range(150)]
    ctx = Context("claude-sonnet-4-5").system("You are the bike-share assistant.")
    # cheap to keep: read from the cache at 0.1x
    ctx.memory(stable, priority=10, stable=True, placement="system", name="policy")
    ctx.documents(_docs(), priority=40).user("How many bikes?")
    first = ctx.build()
    assert first.report.cache_plan.cacheable
    out = optimize(ctx, target_usd=0.6 * optimize(ctx, target_usd=1.0).before_usd)
    assert out.met
    # policy has the lower priority, but it sits in the warm cached prefix: documents are cut first
    assert [c.section for c in out.cuts][0] == "documents"
    assert out.built.report.section("policy").used_tokens == first.report.section("policy").used_tokens


def test_optimize_under_the_target_changes_nothing_and_checks_its_arguments():
    ctx = Context("gpt-4o").system("hi").user("hello")
    out = optimize(ctx, target_usd=1.0)
    assert out.cuts == () and out.after_usd == out.before_usd and out.built.messages == ctx.build().messages
    for bad in (-1, float("nan"), "0.1", True):
        with pytest.raises(UsageError):
            optimize(ctx, target_usd=bad)
    with pytest.raises(UsageError):
        optimize(ctx, target_usd=1.0, output_tokens=-5)
    with pytest.raises(UsageError, match="catalog model"):
        optimize(Context(window_tokens=1000, tokenizer="o200k_base").user("x"), target_usd=1.0)


def _model(name: str, usd_in: float, *, window: int = 100_000, tools: bool = True, images: bool = True,
           max_output: int = 4096) -> ModelInfo:
    return ModelInfo(name, "openai", context_window_tokens=window, max_output_tokens=max_output,
                     tokenizer="o200k_base", prices=Prices(usd_in, usd_in * 4), supports_tools=tools,
                     supports_images=images)


CATALOG = Catalog([_model("tiny", 0.05, window=2_000), _model("notools", 0.1, tools=False),
                   _model("noimages", 0.2, images=False), _model("short-answers", 0.3, max_output=256),
                   _model("big", 2.0)])


def _built(*, tools: bool = False, image: bool = False, prompt_words: int = 2_000):
    ctx = Context(window_tokens=200_000, tokenizer="o200k_base")
    ctx.system("word " * prompt_words)
    if tools:
        ctx.tools([Tool("lookup", "Look a station up", {"type": "object", "properties": {}})])
    ctx.user(Message.user((TextPart("what is this?"), ImagePart("https://x/y.png", "low", 64, 64))) if image
             else "what is this?")
    return ctx.build()


def test_choose_model_takes_the_cheapest_that_fits_and_says_why_not_the_cheaper_ones():
    choice = choose_model(_built(tools=True, image=True), output_tokens=500, catalog=CATALOG)
    assert choice.model == "big"
    reasons = {o.model: o.reason for o in choice.options}
    assert "prompt tokens" in reasons["tiny"]  # 2,000-word system prompt is over its window
    assert reasons["notools"] == "no tool calling" and reasons["noimages"] == "no image input"
    assert "256" in reasons["short-answers"]
    assert all(name in choice.explain() for name in ("tiny", "notools", "noimages", "short-answers"))
    assert choose_model(_built(), output_tokens=100, catalog=CATALOG).model == "notools"


def test_choose_model_counts_with_each_models_tokenizer_and_takes_candidates():
    built = _built(prompt_words=50)
    choice = choose_model(built, candidates=["gpt-4o", "claude-sonnet-4-5"])
    counts = {o.model: o.prompt_tokens for o in choice.options}
    assert counts["gpt-4o"] != counts["claude-sonnet-4-5"]  # o200k vs the Claude estimate and framing
    assert choice.model in counts and choice.usd == min(o.usd for o in choice.options)
    with pytest.raises(UsageError):
        choose_model(built, candidates=[])
    with pytest.raises(UsageError):
        choose_model(built, candidates=[42])
    none = choose_model(_built(prompt_words=5_000), candidates=["tiny"], catalog=CATALOG)
    assert none.model is None and "tiny" in none.explain()


def test_choose_model_counts_with_the_counter_the_models_context_used():
    from contextwise.budget._cost import _counter_for
    from contextwise.models import get_model
    from contextwise.tokens.counter import shared_counter

    built = Context("gpt-4o").system("You answer from the documents. " * 50).documents(_docs(5)).user("q").build()
    counter = shared_counter("gpt-4o")
    assert _counter_for(get_model("gpt-4o")) is counter  # the one the Context counted with
    misses = counter._texts.misses
    assert choose_model(built, candidates=["gpt-4o"], output_tokens=100).model == "gpt-4o"
    assert counter._texts.misses == misses  # nothing the build counted is counted again
