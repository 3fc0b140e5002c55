"""The prompt-cache simulator: each provider's rules from the catalog, replayed call by call, and the planner."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cache.promptcache_helpers import agent, batch, chat

from contextwise.cache import AutomaticCache, CachedContents, MarkerPolicy, TraceCall, count_markers, \
    fixed_heuristics, plan_prompt_cache, prompt_layout, read_trace, simulate_prompt_cache, write_trace
from contextwise.errors import UsageError
from contextwise.models import CatalogError, cost, default_catalog, get_model
from contextwise.tokens import TokenCounter
from contextwise.types import Usage

SONNET = "claude-sonnet-4-5"


def layout(call: TraceCall, model: str = SONNET):
    return prompt_layout(call.request, TokenCounter.for_model(model))


def system_end(call: TraceCall, model: str = SONNET) -> int:
    p = layout(call, model)
    return p.through[max(i for i, b in enumerate(p.blocks) if b.part == "system")]


def test_catalog_holds_the_cache_rules_with_a_checked_on_date():
    sonnet, gpt, gemini = get_model(SONNET), get_model("gpt-4o"), get_model("gemini-2.5-pro")
    assert (sonnet.cache_ttls_s, sonnet.cache_breakpoints_max, sonnet.cache_lookback_blocks) == ((300, 3600), 4, 20)
    assert (gpt.min_cacheable_tokens, gpt.cache_increment_tokens, gpt.cache_ttls_s) == (1024, 128, (300,))
    assert get_model("gpt-5").cache_ttls_s == (300, 86400)
    assert gemini.cache_storage_usd_per_mtok_hour and gemini.min_cacheable_tokens == 2048
    assert get_model("claude-haiku-4-5").min_cacheable_tokens == 4096
    assert all(m.cache_checked_on is not None for m in (sonnet, gpt, gemini))


def test_context_cache_plan_takes_the_provider_rules_from_the_catalog_and_warns_below_the_minimum():
    from contextwise.arrange import plan_cache

    plan = plan_cache("anthropic", 5000, [0, 2, 4, 6, 8, 10])
    assert plan.breakpoints == (4, 6, 8, 10) and plan.min_cacheable_tokens == 1024 and not plan.warnings
    short = plan_cache("anthropic", 500, [0], min_cacheable_tokens=4096)
    assert short.warnings and "4,096-token minimum" in short.warnings[0] and not short.cacheable
    assert plan_cache("openai", 5000, [0, 1]).breakpoints == ()  # automatic: no markers
    assert plan_cache("deepseek", 100, []).min_cacheable_tokens == 64


@pytest.mark.parametrize("ttls", [[3600, 300], [300, 300], [], [0]], ids=["unsorted", "repeated", "empty", "zero"])
def test_catalog_refuses_bad_cache_lifetimes(ttls):
    with pytest.raises(CatalogError, match="cache_ttls_s"):
        default_catalog().with_overrides({"models": {SONNET: {"cache_ttls_s": ttls}}})


def test_layout_orders_tools_system_messages_and_ignores_markers_and_key_order():
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "system": "S",
            "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object"}}]}
    marked = json.loads(json.dumps(body))
    marked["messages"][0]["content"][0]["cache_control"] = {"type": "ephemeral"}
    reordered = {"tools": [{"input_schema": {"type": "object"}, "description": "d", "name": "t"}],
                 "system": "S", "messages": body["messages"]}
    counter = TokenCounter.for_model(SONNET)
    p = prompt_layout(body, counter)
    assert [b.part for b in p.blocks] == ["tools", "system", "messages"]
    assert prompt_layout(marked, counter).prefix == p.prefix == prompt_layout(reordered, counter).prefix
    openai = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]}
    assert [b.part for b in prompt_layout(openai, counter).blocks] == ["system", "messages"]


@pytest.mark.parametrize("marks", [(("system", 300), ("last", 3600)), (("last", 300), ("system", 300)),
                                   (("last", 300), ("last", 300)), (("here", 300),)],
                         ids=["longer-after-shorter", "out-of-order", "repeated", "unknown"])
def test_marker_policy_refuses_unlawful_marks(marks):
    with pytest.raises(UsageError):
        MarkerPolicy(marks)


def test_explicit_write_then_read_within_the_lifetime_and_rewrite_after():
    calls = chat(2, gap_s=60)
    near = simulate_prompt_cache(calls, SONNET, MarkerPolicy((("system", 300),)))
    held = system_end(calls[0])
    assert [c.cache_write_tokens for c in near.calls] == [held, 0]
    assert [c.cache_read_tokens for c in near.calls] == [0, held]
    far = simulate_prompt_cache(chat(2, gap_s=400), SONNET, MarkerPolicy((("system", 300),)))
    assert [c.cache_write_tokens for c in far.calls] == [held, held]
    hour = simulate_prompt_cache(chat(2, gap_s=400), SONNET, MarkerPolicy((("system", 3600),)))
    assert [c.cache_write_1h_tokens for c in hour.calls] == [held, 0] and hour.calls[1].cache_read_tokens == held


def test_explicit_prices_follow_the_catalog():
    calls = chat(2, gap_s=60)
    run = simulate_prompt_cache(calls, SONNET, MarkerPolicy((("system", 3600), ("last", 300))))
    prices = get_model(SONNET).prices
    first, second = run.calls
    assert first.cache_write_1h_tokens == system_end(calls[0])
    assert first.cache_write_tokens == first.input_tokens - first.cache_write_1h_tokens
    expected = (first.cache_write_1h_tokens * prices.cache_write_1h_usd_per_mtok
                + first.cache_write_tokens * prices.cache_write_usd_per_mtok) / 1e6
    assert first.usd == pytest.approx(expected)
    assert second.cache_read_tokens == first.input_tokens  # the whole first prompt is the second's prefix
    assert second.usd == pytest.approx(cost(Usage(second.input_tokens, 0, cached_input_tokens=second.cache_read_tokens,
                                                  cache_write_tokens=second.cache_write_tokens), SONNET).total_usd)


def test_explicit_marker_below_the_minimum_caches_nothing_and_warns():
    short = [TraceCall(float(i), {"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]})
             for i in range(2)]
    run = simulate_prompt_cache(short, SONNET, MarkerPolicy((("system", 300),)))
    assert run.cache_write_tokens == run.cache_read_tokens == 0
    assert run.warnings and "1,024-token minimum" in run.warnings[0]
    plan = dataclasses.replace(plan_prompt_cache(chat(2), SONNET), strategy=MarkerPolicy((("system", 300),)))
    with pytest.warns(UserWarning, match="below claude-sonnet-4-5's 1,024-token minimum"):
        body = plan.mark(short[0].request)
    assert count_markers(body) == 0
    assert count_markers(plan.mark(chat(1)[0].request)) == 1


def test_lookback_of_twenty_blocks_limits_the_last_marker_and_the_history_anchor_fixes_it():
    last = MarkerPolicy((("last", 300),))
    both = MarkerPolicy((("history", 300), ("last", 300)))
    few = simulate_prompt_cache(agent(3, 4), SONNET, last)  # 8 new blocks a step: within the lookback
    many = simulate_prompt_cache(agent(3, 15), SONNET, last)  # 30 new blocks a step: beyond it
    anchored = simulate_prompt_cache(agent(3, 15), SONNET, both)
    assert all(c.cache_read_tokens for c in few.calls[1:])
    assert [c.cache_read_tokens for c in many.calls] == [0, 0, 0]
    assert all(c.cache_read_tokens == prev.input_tokens for prev, c in zip(anchored.calls, anchored.calls[1:]))


def test_automatic_minimum_increment_and_retention():
    gpt = "gpt-4o"
    calls = chat(2, gap_s=60, system_words=1100)
    tokens = layout(calls[0], gpt).tokens
    assert tokens > 1024 + 128
    run = simulate_prompt_cache(calls, gpt, AutomaticCache(300))
    expected = 1024 + (tokens - 1024) // 128 * 128 if tokens >= 1024 else 0
    assert run.calls[1].cache_read_tokens == expected and expected % 128 == 0 and expected > 0
    assert run.calls[0].cache_write_tokens == 0  # gpt-4o bills no cache writes
    stale = simulate_prompt_cache(chat(2, gap_s=400, system_words=1100), gpt, AutomaticCache(300))
    assert stale.calls[1].cache_read_tokens == 0
    kept = simulate_prompt_cache(chat(2, gap_s=400, system_words=1100), "gpt-5", AutomaticCache(86400))
    assert kept.calls[1].cache_read_tokens > 0
    tiny = simulate_prompt_cache(chat(2, gap_s=10, system_words=100), gpt, AutomaticCache(300))
    assert tiny.cache_read_tokens == 0  # below 1,024 tokens nothing is cached


def test_automatic_key_per_session_keeps_a_busy_prefix_on_one_machine():
    # 12 conversations of a turn every 5 s: one shared routing key gets ~144 calls a minute (about ten
    # machines), while each conversation alone stays under the ~15 a minute one machine keeps.
    calls = [dataclasses.replace(c, t_s=c.t_s + s * 0.4) for s in range(12)
             for c in chat(12, seed=s, gap_s=5, session=f"s{s}")]
    shared = simulate_prompt_cache(calls, "gpt-4o", AutomaticCache(300))
    keyed = simulate_prompt_cache(calls, "gpt-4o", AutomaticCache(300, "session"))
    assert keyed.cache_read_tokens > shared.cache_read_tokens


def test_gemini_cached_contents_bill_creation_storage_and_reads():
    model = "gemini-2.5-pro"
    info = get_model(model)
    calls = chat(3, gap_s=60, system_words=2500)
    run = simulate_prompt_cache(calls, model, CachedContents(3600))
    held = system_end(calls[0], model)
    assert [c.cache_write_tokens for c in run.calls] == [held, 0, 0]
    assert all(c.cache_read_tokens == held for c in run.calls)
    assert run.calls[0].storage_usd == pytest.approx(held / 1e6 * info.cache_storage_usd_per_mtok_hour)
    assert run.calls[1].storage_usd == 0
    with pytest.raises(UsageError, match="storage price"):
        simulate_prompt_cache(calls, "gemini-3-flash-preview", CachedContents(3600))


def test_strategy_must_fit_the_model():
    with pytest.raises(UsageError, match="explicit markers do not apply"):
        simulate_prompt_cache(chat(1), "gpt-4o", MarkerPolicy((("last", 300),)))
    with pytest.raises(UsageError, match="MarkerPolicy"):
        simulate_prompt_cache(chat(1), SONNET, AutomaticCache(300))


@pytest.mark.parametrize("make", [lambda: chat(12, gap_s=45), lambda: agent(6, 15), lambda: batch(12)],
                         ids=["chat", "agent", "batch"])
def test_planner_never_costs_more_than_a_fixed_heuristic(make):
    calls = make()
    plan = plan_prompt_cache(calls, SONNET)
    for heuristic in fixed_heuristics(SONNET):
        assert plan.best.total_usd <= simulate_prompt_cache(calls, SONNET, heuristic).total_usd + 1e-12
    assert plan.simulations[0] is plan.best and plan.ratio_to_heuristic <= 1


def test_planner_finds_the_history_anchor_for_agents_and_skips_unique_documents():
    loop = plan_prompt_cache(agent(6, 15), SONNET)
    assert "history" in loop.best.strategy and loop.ratio_to_heuristic < 0.5
    nightly = plan_prompt_cache(batch(12), SONNET)
    assert "last" not in nightly.best.strategy and nightly.ratio_to_heuristic < 1


def test_plan_marks_a_new_request_with_its_markers():
    calls = agent(4, 15)
    plan = plan_prompt_cache(calls, SONNET)
    body = plan.mark(calls[3].request, previous=calls[2].request)
    marked = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
    assert marked and len(marked) <= 4
    assert all(b["cache_control"]["type"] == "ephemeral" for b in marked)


def test_read_trace_reads_seconds_and_iso_times_and_names_a_bad_line(tmp_path: Path):
    good = tmp_path / "t.jsonl"
    req = {"messages": [{"role": "user", "content": "hi"}]}
    good.write_text(json.dumps({"t": 5, "request": req}) + "\n\n"
                    + json.dumps({"ts": "2026-12-01T00:00:10Z", "request": req, "session": "a"}) + "\n")
    calls = read_trace(good)
    assert calls[0].t_s == 5.0 and calls[1].session == "a" and calls[1].t_s > 1.7e9
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"t": 1, "request": req}) + "\n" + json.dumps({"request": req}) + "\n")
    with pytest.raises(UsageError, match=r"bad.jsonl:2: .*'t'"):
        read_trace(bad)
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"t": 1, "request": req, "colour": "red"}) + "\n")
    with pytest.raises(UsageError, match="unknown fields"):
        read_trace(odd)
    with pytest.raises(UsageError, match="cannot read"):
        read_trace(tmp_path / "missing.jsonl")


def test_a_built_context_takes_the_plans_markers():
    from contextwise.budget import Context

    calls = agent(4, 15)
    plan = plan_prompt_cache(calls, SONNET)
    built = Context(SONNET).system(calls[0].request["system"]).user("What next?").build()
    body, default = built.to_anthropic(prompt_cache=plan), built.to_anthropic()
    assert plan.strategy.marks and count_markers(body) <= 4
    wanted = plan.strategy.place(layout(TraceCall(0, default)))
    blocks = [*body["system"], *(b for m in body["messages"] for b in m["content"])]
    ttls = {i: b["cache_control"]["ttl"] for i, b in enumerate(blocks) if "cache_control" in b}
    assert ttls == {m.block: {300: "5m", 3600: "1h"}[m.ttl_s] for m in wanted}
    assert ttls != {i: b["cache_control"]["ttl"] for i, b in
                    enumerate([*default["system"], *(b for m in default["messages"] for b in m["content"])])
                    if "cache_control" in b}


def test_write_trace_round_trips(tmp_path: Path):
    calls = [dataclasses.replace(c, output_tokens=7, model=SONNET) for c in chat(3)]
    assert read_trace(write_trace(tmp_path / "t.jsonl", calls)) == calls


def test_automatic_plan_names_its_request_fields():
    plan = plan_prompt_cache(chat(3), "gpt-5")
    by_session = dataclasses.replace(plan, strategy=AutomaticCache(86400, "session"))
    assert by_session.request_fields(session="s3") == {"prompt_cache_retention": "24h", "prompt_cache_key": "s3"}
    with pytest.raises(UsageError, match="session"):
        by_session.request_fields()
    keyed = dataclasses.replace(plan, strategy=AutomaticCache(300, "tenant"))
    assert keyed.request_fields(tenant="acme") == {"prompt_cache_retention": "in_memory", "prompt_cache_key": "acme"}
    assert dataclasses.replace(plan, model="gpt-4o", strategy=AutomaticCache(300)).request_fields() == {}
    assert plan_prompt_cache(chat(2), SONNET).request_fields(session="x") == {}
