"""Context.build: never over budget, pinned kept or raise, deterministic, tool-call pairs whole, honest Report."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contextwise as cw
from contextwise.budget import Context, DropLowest, Item, PreferShorter, Section, Truncate
from contextwise.errors import BudgetExceededError, TruncationWarning, UsageError
from contextwise.tokens import TokenCounter, framing_for, get_tokenizer
from contextwise.types import Message, Tool, ToolCall

TOK = get_tokenizer("o200k_base")
words = st.text(alphabet=st.sampled_from(list("abcdefgh ijk.,\n")), min_size=0, max_size=300)


def _count(built, model_provider="openai"):
    return TokenCounter(TOK, framing_for(model_provider)).messages(built.messages, tools=built.tools)


@st.composite
def conversations(draw):
    """Histories with user/assistant turns and assistant tool calls answered by one or more tool messages."""
    msgs, n = [], draw(st.integers(0, 12))
    for turn in range(n):
        msgs.append(Message.user(f"u{turn} " + draw(words)))
        if draw(st.booleans()):
            calls = tuple(ToolCall(f"c{turn}-{k}", "lookup", '{"q": 1}') for k in range(draw(st.integers(1, 3))))
            msgs.append(Message.assistant(tool_calls=calls))
            msgs += [Message.tool(f"r{c.id} " + draw(words), tool_call_id=c.id) for c in calls]
        msgs.append(Message.assistant(f"a{turn} " + draw(words)))
    return msgs


def _context(window, reserve=16):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        return Context("gpt-4o-mini", window_tokens=window, output_reserve_tokens=reserve)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=st.integers(60, 900), system=words, docs=st.lists(words, max_size=8),
       memory=st.lists(words, max_size=5), history=conversations(), question=words,
       fit=st.sampled_from([DropLowest(), PreferShorter(), Truncate("tail"), Truncate("head"),
                            Truncate("middle")]))
def test_context_build_never_exceeds_budget_and_keeps_pinned(window, system, docs, memory, history, question, fit):
    ctx = _context(window).system(system).memory(memory).documents(docs, fit=fit).history(history)
    ctx.user(question)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            built = ctx.build()
    except BudgetExceededError as exc:
        assert exc.needed_tokens > exc.available_tokens or exc.available_tokens == 0
        return
    report = built.report
    assert report.prompt_tokens == _count(built) <= report.available_tokens
    assert built.messages[0].role == "system" and system.strip() in built.messages[0].text
    assert built.messages[-1].role == "user" and built.messages[-1].text.endswith(question)


@settings(max_examples=100, deadline=None)
@given(window=st.integers(80, 700), history=conversations())
def test_context_keeps_tool_calls_with_their_results(window, history):
    ctx = _context(window).system("s").history(history).user("q")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            built = ctx.build()
    except BudgetExceededError:
        return
    calls = {c.id for m in built.messages for c in m.tool_calls}
    answered = {m.tool_call_id for m in built.messages if m.role == "tool"}
    assert calls == answered
    kept = [m for m in built.messages if m in history]
    assert kept == [m for m in history if m in kept]  # chronological order preserved


@settings(max_examples=40, deadline=None)
@given(window=st.integers(60, 600), docs=st.lists(words, max_size=6), history=conversations())
def test_context_build_is_deterministic(window, docs, history):
    def build():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            return _context(window).system("sys").documents(docs).history(history).user("q").build()

    try:
        first = build()
    except BudgetExceededError:
        return
    assert build() == first


def test_context_raises_with_numbers_when_pinned_content_does_not_fit():
    ctx = _context(100).system("word " * 200).user("question")
    with pytest.raises(BudgetExceededError) as info:
        ctx.build()
    assert info.value.needed_tokens > info.value.available_tokens
    assert "system" in info.value.sections


def test_context_report_accounts_for_every_token():
    history = [Message.user(f"question {i} " + "detail " * 30) for i in range(40)]
    tools = [Tool("search", "Search the web", {"type": "object", "properties": {"q": {"type": "string"}}})]
    with pytest.warns(TruncationWarning):
        built = _context(1200, 100).system("You are helpful.").tools(tools).history(history).user("now?").build()
    report = built.report
    assert sum(s.used_tokens for s in report.sections) + report.framing_tokens == report.prompt_tokens
    hist = report.section("history")
    assert hist.items_kept < hist.items_total == 40
    assert len(report.dropped) == 40 - hist.items_kept
    kept_history = [m for m in built.messages if m in history]
    assert kept_history == history[-hist.items_kept:]  # the most recent turns are the ones kept
    assert report.section("tools").used_tokens == TokenCounter(TOK, framing_for("openai")).tools(tuple(tools))
    assert report.cost is not None and report.cost.total_usd > 0


def test_context_higher_priority_section_is_served_first():
    docs = ["fact about harbours " * 20 for _ in range(6)]
    memory = ["memory about bikes " * 20 for _ in range(6)]
    with pytest.warns(TruncationWarning):
        report = _context(700).documents(docs, priority=80).memory(memory, priority=10).user("q").build().report
    assert report.section("documents").items_kept > report.section("memory").items_kept


def test_context_min_tokens_are_granted_before_higher_priorities_take_the_rest():
    docs = ["doc text " * 40 for _ in range(6)]
    memory = ["memo text " * 40 for _ in range(6)]
    with pytest.warns(TruncationWarning):
        report = (_context(900).documents(docs, priority=80)
                  .memory(memory, priority=10, min_tokens=200).user("q").build().report)
    assert report.section("memory").granted_tokens >= 200
    assert report.section("memory").items_kept >= 1


def test_context_places_documents_before_the_question_and_stable_sections_first():
    built = (_context(4000).system("rules").documents(["Paris is in France."]).add(
        Section("glossary", (Item("EV: electric vehicle"),), stable=True, placement="system", title="Glossary"))
        .user("Where is Paris?").build())
    system, user = built.messages[0].text, built.messages[-1].text
    assert system.startswith("rules") and "EV: electric vehicle" in system
    assert user.index("Paris is in France.") < user.index("Where is Paris?")


def test_context_warns_about_volatile_content_in_the_cached_prefix():
    report = _context(4000).system("Now: 2026-11-25T10:31:02 session 3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6").user(
        "q").build().report
    assert any("timestamp" in w for w in report.warnings)
    assert any("UUID" in w for w in report.warnings)


def test_context_rejects_duplicate_sections_and_bad_reserve():
    with pytest.raises(UsageError):
        _context(1000).memory(["a"]).memory(["b"])
    with pytest.raises(UsageError):
        Context("gpt-4o-mini", output_reserve_tokens=1.5)
    with pytest.raises(UsageError):
        Context(None, window_tokens=1000)


def test_context_to_openai_round_trips_messages():
    built = _context(4000).system("s").history([Message.user("hi"), Message.assistant("hello")]).user("q").build()
    body = built.to_openai()
    assert [cw.Message.from_openai(m) for m in body["messages"]] == list(built.messages)


class CountingCompressor:
    """Keeps the first `target_tokens` words; counts its calls."""

    name = "counting"

    def __init__(self):
        self.calls = 0

    def compress(self, text, target_tokens, tokenizer, query=None):
        from contextwise.compress.truncate import truncate_tokens

        self.calls += 1
        return truncate_tokens(text, target_tokens, tokenizer)


def test_context_compresses_each_document_item_once_per_build():
    compressor = CountingCompressor()
    docs = [f"document {n} " + "harbour bikes cost money " * 40 for n in range(8)]
    ctx = _context(900).system("s").documents(docs, fit=cw.budget.Compress(compressor)).memory(
        ["short memory"]).user("q")
    with pytest.warns(TruncationWarning):
        built = ctx.build()
    assert compressor.calls == 8
    assert built.report.prompt_tokens <= built.report.available_tokens
    assert sum(d.action == "compressed" for d in built.report.decisions) == 8
