"""Fusion: sequential, interleaved and structured contexts that never exceed the budget."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.arrange import Bookend
from contextwise.documents import (
    CitationStyle,
    Interleaved,
    RankWeights,
    Sequential,
    Structured,
    fuse,
    rank,
)
from contextwise.documents._sentences import sentence_spans
from contextwise.errors import UsageError
from contextwise.testing import FakeTokenizer
from contextwise.types import Chunk

STRATEGIES = [Sequential(), Sequential(order=Bookend()), Interleaved(), Structured()]


def test_fuse_sequential_everything_fits():
    chunks = [Chunk("a", "Alpha one. Alpha two.", start_char=10), Chunk("b", "Beta one.")]
    fused = fuse(chunks, 100, FakeTokenizer())
    assert fused.text == "[1] Alpha one. Alpha two.\n\n[2] Beta one."
    assert fused.tokens == FakeTokenizer().count(fused.text)
    assert fused.included == ("a", "b") and fused.cut == () and fused.dropped == ()
    assert fused.citation_map["[1]"].chunk_id == "a"
    assert (fused.citation_map["[1]"].start_char, fused.citation_map["[1]"].end_char) == (10, 31)


def test_fuse_cuts_at_sentence_boundary_and_drops_the_rest():
    chunks = [Chunk("a", "One two three."), Chunk("b", "Four five. Six seven eight."), Chunk("c", "Nine.")]
    # "[1] One two three." is 4 tokens; "\n\n[2] Four five." 3 more; " Six seven eight." would be 3 more.
    fused = fuse(chunks, 8, FakeTokenizer())
    assert fused.text == "[1] One two three.\n\n[2] Four five."
    assert (fused.included, fused.cut, fused.dropped) == (("a",), ("b",), ("c",))
    outcome = fused.outcomes[1]
    assert (outcome.status, outcome.marker, outcome.kept_chars) == ("cut", "[2]", len("Four five."))
    assert outcome.reason == "cut after 1 of 2 sentences to fit"
    assert fused.outcomes[0].reason == "fits whole" and fused.outcomes[2].reason == "no room left in the budget"
    assert fused.citation_map["[2]"].end_char == len("Four five.")


def test_fuse_cuts_on_token_boundary_only_when_first_sentence_is_too_long():
    chunks = [Chunk("a", "Short."), Chunk("b", "one two three four five six seven. Eight.")]
    fused = fuse(chunks, 5, FakeTokenizer())
    assert fused.text == "[1] Short.\n\n[2] one two"
    assert fused.tokens == 5 and fused.cut == ("b",)
    assert "token boundary" in fused.outcomes[1].reason


def test_fuse_drops_a_chunk_when_not_even_its_marker_fits():
    fused = fuse([Chunk("a", "One two."), Chunk("b", "Three.")], 3, FakeTokenizer())
    assert fused.text == "[1] One two." and fused.dropped == ("b",)
    assert [o.marker for o in fused.outcomes] == ["[1]", None]


def test_fuse_zero_budget_is_empty():
    fused = fuse([Chunk("a", "One.")], 0, FakeTokenizer())
    assert (fused.text, fused.tokens, fused.citations, fused.dropped) == ("", 0, (), ("a",))


def test_fuse_blank_chunk_is_dropped_with_reason():
    fused = fuse([Chunk("a", "   "), Chunk("b", "Text.")], 10, FakeTokenizer())
    assert fused.text == "[1] Text." and fused.outcomes[0].reason == "no text"


def test_fuse_shows_marker_like_text_in_chunks_with_other_brackets():
    chunks = [Chunk("wiki", "Paris is the capital.[3] It is large [1-2].", start_char=7)]
    fused = fuse(chunks, 50, FakeTokenizer())
    assert fused.text == "[1] Paris is the capital.(3) It is large (1-2)."
    check = fused.check(fused.text)
    assert [c.chunk_id for c in check.citations] == ["wiki"] and check.ok
    citation = fused.citations[0]
    assert citation.end_char - citation.start_char == len(chunks[0].text)
    assert fused.included == ("wiki",)


def test_fuse_negative_budget_fails():
    with pytest.raises(UsageError):
        fuse([Chunk("a", "One.")], -1, FakeTokenizer())


def test_fuse_duplicate_ids_fail():
    with pytest.raises(UsageError, match="twice"):
        fuse([Chunk("a", "One."), Chunk("a", "Two.")], 10, FakeTokenizer())


def test_fuse_accepts_ranked_results_in_rank_order():
    chunks = [Chunk("low", "x", authority=0.1), Chunk("high", "y", authority=0.9)]
    ranked = rank(chunks, "q", weights=RankWeights(relevance=0, authority=1))
    fused = fuse(ranked, 50, FakeTokenizer())
    assert fused.text == "[1] y\n\n[2] x"
    assert [o.chunk_id for o in fused.outcomes] == ["high", "low"]


def test_fuse_sequential_arranges_what_fits_against_lost_in_the_middle():
    chunks = [Chunk(c, f"{c.upper()}.") for c in "abcdef"]
    fused = fuse(chunks, 10, FakeTokenizer(), strategy=Sequential(order=Bookend()))
    # a..e fit (2 tokens each); Bookend puts ranks 1, 3, 5 in front and 2, 4 at the back.
    assert fused.text == "[1] A.\n\n[2] C.\n\n[3] E.\n\n[4] D.\n\n[5] B."
    assert fused.dropped == ("f",) and fused.citation_map["[5]"].chunk_id == "b"


def test_fuse_interleaved_takes_turns_across_sources():
    chunks = [Chunk("a1", "A1.", source="A"), Chunk("a2", "A2.", source="A"), Chunk("a3", "A3.", source="A"),
              Chunk("b1", "B1.", source="B"), Chunk("c1", "C1.", source="C")]
    fused = fuse(chunks, 100, FakeTokenizer(), strategy=Interleaved())
    assert fused.text == "[1] A1.\n\n[2] B1.\n\n[3] C1.\n\n[4] A2.\n\n[5] A3."


def test_fuse_interleaved_budget_favours_source_diversity():
    chunks = [Chunk("a1", "A one.", source="A"), Chunk("a2", "A two.", source="A"), Chunk("b1", "B one.", source="B")]
    assert fuse(chunks, 6, FakeTokenizer()).included == ("a1", "a2")
    assert fuse(chunks, 6, FakeTokenizer(), strategy=Interleaved()).included == ("a1", "b1")


def test_fuse_structured_groups_by_document_with_headers():
    day = 86_400.0
    chunks = [Chunk("x2", "Later part.", source="x.txt", title="X doc", timestamp=3 * day, start_char=50),
              Chunk("y0", "Why part.", source="y.txt", timestamp=0.0),
              Chunk("x0", "Early part.", source="x.txt", title="X doc", timestamp=3 * day, start_char=0)]
    fused = fuse(chunks, 100, FakeTokenizer(), strategy=Structured())
    assert fused.text == ("## X doc\nSource: x.txt | Date: 1970-01-04\n[1] Early part.\n\n[2] Later part.\n\n"
                          "## y.txt\nDate: 1970-01-01\n[3] Why part.")
    assert [fused.citation_map[m].chunk_id for m in ("[1]", "[2]", "[3]")] == ["x0", "x2", "y0"]


def test_fuse_structured_header_costs_count_against_budget():
    chunks = [Chunk("x", "One.", source="x.txt", title="X"), Chunk("y", "Two.", source="y.txt", title="Y")]
    full = fuse(chunks, 100, FakeTokenizer(), strategy=Structured())
    tight = fuse(chunks, full.tokens - 1, FakeTokenizer(), strategy=Structured())
    assert tight.dropped == ("y",) and "## Y" not in tight.text


def test_fuse_template_and_prefixed_markers():
    chunks = [Chunk("a", "Body.", title="Guide")]
    fused = fuse(chunks, 20, FakeTokenizer(), strategy=Sequential(template="{marker} ({title}) {text}"),
                 style=CitationStyle(prefix="S"))
    assert fused.text == "[S1] (Guide) Body."
    assert set(fused.citation_map) == {"[S1]"}


@pytest.mark.parametrize("template", ["{text}", "{marker}", "{marker} {text} {nope}", "{marker} {text"],
                         ids=["no-marker", "no-text", "unknown-field", "broken"])
def test_fuse_template_validation(template):
    with pytest.raises(UsageError):
        Sequential(template=template)


class FramedTokenizer(FakeTokenizer):
    """Word tokens plus one framing token per ten words: counts grow faster than the sum of the parts."""

    def count(self, text: str) -> int:
        words = super().count(text)
        return words + words // 10


sentences = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "émigré", "x9"]), min_size=1,
                     max_size=12).map(lambda ws: " ".join(ws) + ".")
texts = st.lists(sentences, min_size=1, max_size=5).map(" ".join)


@st.composite
def chunk_lists(draw):
    n = draw(st.integers(0, 8))
    return [Chunk(f"c{i}", draw(texts), source=draw(st.sampled_from("abc")), title=draw(st.sampled_from(["", "T"])),
                  timestamp=draw(st.one_of(st.none(), st.floats(0, 2e9))), start_char=draw(st.integers(0, 999)))
            for i in range(n)]


def _check_fused(chunks, fused, budget, tok):
    assert fused.tokens == tok.count(fused.text) <= budget
    by_id = {c.id: c for c in chunks}
    assert [o.chunk_id for o in fused.outcomes] == [c.id for c in chunks]
    for outcome in fused.outcomes:
        chunk = by_id[outcome.chunk_id]
        if outcome.status == "dropped":
            assert outcome.marker is None and outcome.kept_chars == 0
            continue
        citation = fused.citation_map[outcome.marker]
        assert citation.chunk_id == chunk.id and outcome.marker in fused.text
        assert citation.end_char - citation.start_char == outcome.kept_chars
        assert citation.start_char == chunk.start_char
        body = chunk.text[:outcome.kept_chars]
        assert body in fused.text
        if outcome.status == "included":
            assert outcome.kept_chars == len(chunk.text)
        else:
            ends = [e for _, e in sentence_spans(chunk.text)]
            assert 0 < outcome.kept_chars < len(chunk.text)
            assert outcome.kept_chars in ends or outcome.kept_chars < ends[0]
    assert len(fused.citations) == len(fused.citation_map) == len(fused.included) + len(fused.cut)
    # the context parses back to exactly its own citation map (chunk texts here hold no brackets)
    check = fused.check(fused.text)
    assert check.ok and {c.marker for c in check.citations} == set(fused.citation_map)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunk_lists(), st.integers(0, 120), st.sampled_from(STRATEGIES),
       st.sampled_from([CitationStyle(), CitationStyle(prefix="S")]))
def test_fuse_never_exceeds_budget_and_every_marker_resolves(chunks, budget, strategy, style):
    tok = FakeTokenizer()
    _check_fused(chunks, fuse(chunks, budget, tok, strategy=strategy, style=style), budget, tok)


@settings(max_examples=60, deadline=None)
@given(chunk_lists(), st.integers(0, 120), st.sampled_from(STRATEGIES))
def test_fuse_never_exceeds_budget_when_counts_are_not_additive(chunks, budget, strategy):
    tok = FramedTokenizer()
    _check_fused(chunks, fuse(chunks, budget, tok, strategy=strategy), budget, tok)


@settings(max_examples=100, deadline=None)
@given(chunk_lists(), st.integers(0, 120))
def test_fuse_sequential_keeps_rank_order_whole_then_cut_then_dropped(chunks, budget):
    fused = fuse(chunks, budget, FakeTokenizer())
    statuses = "".join(o.status[0] for o in fused.outcomes)
    assert re.fullmatch(r"i*c?d*", statuses)
    assert [o.marker for o in fused.outcomes if o.marker] == [f"[{n}]" for n in range(1, len(fused.citations) + 1)]


def test_fuse_real_tokenizer_never_exceeds_budget(o200k):
    @settings(max_examples=60, deadline=None)
    @given(chunk_lists(), st.integers(0, 150), st.sampled_from(STRATEGIES))
    def check(chunks, budget, strategy):
        _check_fused(chunks, fuse(chunks, budget, o200k, strategy=strategy), budget, o200k)

    check()


def test_fuse_real_tokenizer_token_cut_keeps_whole_characters(o200k):
    text = "日本語のテキストは句読点なしで長く続きます" * 20 + "。"
    fused = fuse([Chunk("a", text)], 25, o200k)
    (outcome,) = fused.outcomes
    assert outcome.status == "cut" and fused.tokens <= 25
    assert fused.text == "[1] " + text[:outcome.kept_chars]
