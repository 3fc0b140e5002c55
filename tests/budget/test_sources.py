"""Every source hands Context Sections: documents, memory and tools in the formats users have, with citations."""

from __future__ import annotations

import gc
import warnings
import weakref

import pytest

from contextwise.arrange import Bookend
from contextwise.budget import Context, Item, Section
from contextwise.documents import RankWeights, rank
from contextwise.errors import TruncationWarning, UsageError
from contextwise.memory import MemoryItem, Recalled, OpStats
from contextwise.tokens import get_tokenizer
from contextwise.types import Chunk, Tool

TOK = get_tokenizer("o200k_base")


def _ctx(window=4000, **kw):
    return Context("gpt-4o-mini", window_tokens=window, output_reserve_tokens=100, **kw)


def _quiet_build(ctx):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        return ctx.build()


def test_documents_accept_ranked_results_with_score_as_priority_and_chunk_id_as_label():
    chunks = [Chunk("low", "Ferries leave at noon.", authority=0.1, source="f.md"),
              Chunk("high", "Bikes cost 0.08 euro per minute.", authority=0.9, source="p.md", title="Prices")]
    ranked = rank(chunks, "q", weights=RankWeights(relevance=0, authority=1))
    built = _ctx().documents(ranked).user("How much?").build()
    report = built.report.section("documents")
    assert [(i.label, i.priority) for i in report.kept] == [("high", ranked[0].score), ("low", ranked[1].score)]
    assert built.citations["[1]"].chunk_id == "high" and built.citations["[1]"].title == "Prices"
    assert "[1] Prices | p.md\nBikes cost" in built.messages[-1].text


@pytest.mark.parametrize("docs", ["hello world", Chunk("c", "hello world"), Item("hello world")],
                         ids=["str", "chunk", "item"])
def test_documents_a_lone_value_is_one_item(docs):
    report = _ctx().documents(docs).user("q").build().report
    assert report.section("documents").items_total == 1


def test_memory_a_lone_string_is_one_item_and_recalled_items_keep_their_origin():
    assert _ctx().memory("hello world").user("q").build().report.section("memory").items_total == 1
    items = (MemoryItem("m1", "The user lives in Lyon.", "semantic", score=0.9),
             MemoryItem("m2", "The user likes tea.", "semantic", score=0.4))
    for source in (Recalled(items, OpStats("recall")), list(items)):
        built = _ctx().memory(source).user("where?").build()
        kept = built.report.section("memory").kept
        assert [i.origin for i in kept] == list(items)
        assert "m1" not in built.messages[-1].text  # ids name items in the Report, never in the prompt
        assert not built.citations  # memories are not cited sources


def test_citations_map_markers_back_through_a_reordering_and_neutralise_footnotes():
    chunks = [Chunk(f"c{n}", f"Fact number {n} is true.[{n + 1}]", source=f"s{n}.md", start_char=10 * n)
              for n in range(5)]
    built = _ctx().documents(chunks, order=Bookend()).user("q").build()
    text = built.messages[-1].text
    assert "[2]" not in text.replace("[2] s", "")  # footnote [2] in chunk 0 became (2)
    assert "(2)" in text
    for marker, citation in built.citations.items():
        n = int(citation.chunk_id[1:])
        block = text[text.index(marker + " "):]
        assert block.split("\n", 2)[1].startswith(f"Fact number {n} is true.")
        assert (citation.source, citation.start_char) == (f"s{n}.md", 10 * n)
        assert citation.end_char - citation.start_char == len(chunks[n].text)
    assert list(built.citations) == [f"[{n}]" for n in range(1, 6)]  # numbered in reading order


def test_citations_of_plain_strings_and_answer_check():
    built = _ctx().documents(["Paris is in France.", "Rome is in Italy."]).user("Where?").build()
    assert {c.chunk_id for c in built.citations.values()} == {"doc1", "doc2"}
    check = built.check("Paris is in France [1]. Rome is in Italy [2]. Berlin is in Germany [7]. It is big.")
    assert [c.chunk_id for c in check.citations] == ["doc1", "doc2"]
    assert check.unknown_markers == ("[7]",) and not check.ok
    assert [c.text for c in check.uncited_claims] == ["It is big."]


def test_citations_of_a_truncated_chunk_span_the_text_kept():
    long = Chunk("long", "word " * 400 + "end.", start_char=5)
    with pytest.warns(TruncationWarning):
        built = Context("gpt-4o-mini", window_tokens=300, output_reserve_tokens=10).documents(
            [long], fit=__import__("contextwise").budget.Truncate("tail")).user("q").build()
    citation = built.citations["[1]"]
    kept = built.report.section("documents").kept[0].text
    assert citation.start_char == 5 and citation.end_char == 5 + len(kept) < 5 + len(long.text)


def test_tools_are_a_pinned_section_in_the_report():
    tools = [Tool("search", "Search the web", {"type": "object", "properties": {"q": {"type": "string"}}}),
             {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}]
    built = _ctx().system("s").tools(tools).user("q").build()
    row = built.report.section("tools")
    assert (row.kind, row.pinned, row.items_kept) == ("tools", True, 2)
    assert row.used_tokens == _ctx().counter.tools(built.tools) and [t.name for t in built.tools] == ["search",
                                                                                                      "clock"]
    assert sum(s.used_tokens for s in built.report.sections) + built.report.framing_tokens == \
        built.report.prompt_tokens


def test_report_cost_separates_the_prompt_from_the_reserved_output():
    report = Context("gpt-4o").user("hi").build().report
    assert report.cost.output_usd == 0 and report.cost.total_usd > 0
    assert report.output_reserve_cost.output_usd > 100 * report.cost.total_usd  # "hi" is cheap; the reserve not
    assert report.worst_case_usd == pytest.approx(report.cost.total_usd + report.output_reserve_cost.total_usd)
    assert "prompt; up to $" in str(report)


def test_contexts_with_their_own_tokenizer_do_not_stay_alive():
    refs = []
    for _ in range(20):
        ctx = Context(None, window_tokens=1000, tokenizer=TOK).documents(["a b c."]).user("q")
        ctx.build()
        refs.append(weakref.ref(ctx.counter))
        del ctx
    gc.collect()
    assert sum(r() is not None for r in refs) == 0


def test_output_reserve_old_keyword_still_works_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning):
        ctx = Context("gpt-4o-mini", output_reserve=500)
    assert ctx.output_reserve_tokens == 500
    with pytest.warns(DeprecationWarning):
        assert Section("s", (), max_tokens=10).budget_tokens == 10


@pytest.mark.parametrize("make", [
    lambda: _ctx().system(None),
    lambda: _ctx().system(5),
    lambda: Context(None, window_tokens=0, tokenizer=TOK),
    lambda: Context(None, window_tokens=True, tokenizer=TOK),
    lambda: Context(None, window_tokens=1000),
    lambda: Context(5),
    lambda: Context("gpt-4o-mini", output_reserve_tokens="500"),
    lambda: Context("gpt-4o-mini", output_reserve_tokens=-1),
    lambda: Context("gpt-4o-mini", allocation="by-priority"),
    lambda: Context("gpt-4o-mini", tokenizer=5),
    lambda: _ctx().documents(["a"], priority="high"),
    lambda: _ctx().documents(["a"], priority=1.5),
    lambda: _ctx().documents(["a"], min_tokens=-1),
    lambda: _ctx().documents(["a"], min_tokens=10, budget_tokens=5),
    lambda: _ctx().documents(["a"], pinned="yes"),
    lambda: _ctx().documents(["a"], colour="red"),
    lambda: _ctx().documents(5),
    lambda: _ctx().documents([5]),
    lambda: _ctx().documents([Chunk("a", "x"), Chunk("a", "y")]),
    lambda: _ctx().memory(5),
    lambda: _ctx().memory(["a"], query="q"),
    lambda: _ctx().tools("search"),
    lambda: _ctx().user(5),
    lambda: _ctx().history(5),
    lambda: _ctx().history([{"content": "no role"}]),
    lambda: _ctx().add("section"),
    lambda: Item("x", priority="high"),
    lambda: Item("x", priority=float("nan")),
    lambda: Item(5),
    lambda: Section("s", ["not an item"]),
], ids=["system-None", "system-int", "window-0", "window-bool", "no-tokenizer", "model-int", "reserve-str",
        "reserve-negative", "allocation-str", "tokenizer-int", "priority-str", "priority-float", "min-negative",
        "min-over-budget", "pinned-str", "unknown-option", "documents-int", "document-int", "duplicate-chunk",
        "memory-int", "query-without-memory", "tools-str", "user-int", "history-int", "history-no-role",
        "add-str", "item-priority-str", "item-priority-nan", "item-int", "section-items"])
def test_every_entry_point_rejects_bad_arguments_with_a_usage_error(make):
    with pytest.raises(UsageError):
        make()


def test_memory_from_a_unified_memory_is_one_section_per_tier_in_the_same_budget():
    from contextwise.memory import UnifiedMemory
    from contextwise.testing import HashEmbedder

    mem = UnifiedMemory(store="memory:", embedder=HashEmbedder(384), tenant="t")
    mem.working.set_task("plan the offsite")
    mem.semantic.learn("I live in Lyon. I am allergic to nuts.")
    mem.episodic.record("the last offsite was at a lake", importance=0.8)
    built = _ctx().system("s").memory(mem, query="where is the offsite?").documents(["Lake hotels."]).user(
        "where?").build()
    names = [s.name for s in built.report.sections]
    assert names[:4] == ["system", "working", "semantic", "episodic"]
    assert [built.report.section(n).priority for n in ("working", "semantic", "episodic")] == [90, 70, 60]
    prompt = built.messages[-1].text
    assert prompt.count("## Known facts") == 1 and "## Memory" not in prompt
    kept = [i.origin for n in ("semantic", "episodic") for i in built.report.section(n).kept]
    assert {m.tier for m in kept} == {"semantic", "episodic"} and all(m.text in prompt for m in kept)
    with pytest.raises(UsageError):
        _ctx().memory(mem)


def test_fusion_layouts_are_orderings_of_a_documents_section_in_context():
    from contextwise.documents import Interleaved, Structured, fuse

    chunks = [Chunk("x2", "Later part.", source="x.txt", title="X doc", start_char=50),
              Chunk("y0", "Why part.", source="y.txt"),
              Chunk("x0", "Early part.", source="x.txt", title="X doc", start_char=0)]
    built = _ctx().documents(chunks, order=Structured(), title="").user("q").build()
    assert built.messages[-1].text.startswith("## X doc\nSource: x.txt\n[1] Early part.\n\n[2] Later part.\n\n"
                                              "## y.txt\n[3] Why part.")
    assert [built.citations[m].chunk_id for m in ("[1]", "[2]", "[3]")] == ["x0", "x2", "y0"]
    assert built.messages[-1].text.startswith(fuse(chunks, 100, TOK, strategy=Structured()).text)
    rr = [Chunk("a1", "A1.", source="A"), Chunk("a2", "A2.", source="A"), Chunk("b1", "B1.", source="B")]
    interleaved = _ctx().documents(rr, order=Interleaved(), title="").user("q").build()
    assert [c.chunk_id for c in interleaved.citations.values()] == ["a1", "b1", "a2"]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_texts = st.text(alphabet=st.sampled_from(list("abc [1]2.\n")), min_size=1, max_size=80)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(_texts, max_size=8), window=st.integers(150, 600), bookend=st.booleans())
def test_every_marker_in_the_prompt_resolves_to_a_kept_document(docs, window, bookend):
    chunks = [Chunk(f"c{n}", t, source=f"s{n}") for n, t in enumerate(docs) if t.strip()]
    ctx = _ctx(window).documents(chunks, order=Bookend() if bookend else None).user("question?")
    try:
        built = _quiet_build(ctx)
    except __import__("contextwise").BudgetExceededError:
        return
    kept = built.report.section("documents").kept
    assert len(built.citations) == len(kept)
    check = built.check(built.messages[-1].text)
    assert check.ok and {c.marker for c in check.citations} == set(built.citations)
    for citation in built.citations.values():
        chunk = next(c for c in chunks if c.id == citation.chunk_id)
        assert 0 <= citation.start_char <= citation.end_char <= len(chunk.text)
