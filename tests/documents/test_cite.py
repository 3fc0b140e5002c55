"""Citations: marker parsing, validation, claims, and spans that map back to the original document."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.documents import CitationStyle, chunk_document, fuse, parse_citations
from contextwise.errors import UsageError
from contextwise.testing import FakeTokenizer
from contextwise.types import Citation


def _cmap(n, style=None):
    style = style or CitationStyle()
    return {style.marker(i): Citation(style.marker(i), f"c{i}", f"s{i}", f"T{i}", i * 10, i * 10 + 5)
            for i in range(1, n + 1)}


@pytest.mark.parametrize(("answer", "ids"), [
    ("Paris is big [1].", ["c1"]),
    ("Paris is big [1, 3].", ["c1", "c3"]),
    ("Paris is big [1][2].", ["c1", "c2"]),
    ("Paris is big [1-3].", ["c1", "c2", "c3"]),
    ("Paris is big [1–3].", ["c1", "c2", "c3"]),
    ("Paris is big [3; 1].", ["c3", "c1"]),
    ("Paris is big [ 2 ].", ["c2"]),
    ("Paris is big [1-2, 4].", ["c1", "c2", "c4"]),
], ids=["single", "list", "adjacent", "range", "en-dash-range", "semicolon", "spaces", "range-and-list"])
def test_parse_citations_numeric_forms(answer, ids):
    check = parse_citations(answer, _cmap(4))
    assert [c.chunk_id for c in check.citations] == ids and check.ok


@pytest.mark.parametrize(("answer", "ids"), [
    ("Paris [S2].", ["c2"]), ("Paris [S1, S3].", ["c1", "c3"]), ("Paris [S1][S2].", ["c1", "c2"]),
    ("Paris [S1-S3].", ["c1", "c2", "c3"]), ("Paris [S1-3].", ["c1", "c2", "c3"]),
], ids=["single", "list", "adjacent", "range", "short-range"])
def test_parse_citations_prefixed_forms(answer, ids):
    style = CitationStyle(prefix="S")
    check = parse_citations(answer, _cmap(3, style), style=style)
    assert [c.chunk_id for c in check.citations] == ids and check.ok


def test_parse_citations_reports_unknown_markers_in_order():
    check = parse_citations("A [1]. B [7]. C [2-5]. D [7].", _cmap(3))
    assert [c.chunk_id for c in check.citations] == ["c1", "c2", "c3"]
    assert check.unknown_markers == ("[7]", "[4]", "[5]") and not check.ok


@pytest.mark.parametrize("group", ["[5-2]", "[1-5000]"], ids=["reversed", "huge"])
def test_parse_citations_reports_unusable_ranges_whole(group):
    check = parse_citations(f"Claim {group}.", _cmap(3))
    assert check.unknown_markers == (group,) and check.citations == ()


def test_parse_citations_ignores_other_brackets():
    check = parse_citations("Use arr[1] and [see note] and [a1] and [^2].", _cmap(3))
    assert check.citations == () and check.unknown_markers == ()


def test_parse_citations_other_style_markers_are_not_citations():
    check = parse_citations("Claim [S1].", _cmap(2))
    assert check.citations == () and check.ok


def test_parse_citations_accepts_a_sequence_of_citations():
    cites = list(_cmap(2).values())
    assert parse_citations("X [2].", cites).citations == (cites[1],)


def test_parse_citations_claims_attach_markers_to_their_sentence():
    answer = "Paris is the capital [1]. It is large. [2] Lyon is smaller [3][9]."
    check = parse_citations(answer, _cmap(3))
    claims = [(c.text, [x.chunk_id for x in c.citations], c.unknown_markers) for c in check.claims]
    assert claims == [("Paris is the capital [1].", ["c1"], ()),
                      ("It is large.", ["c2"], ()),
                      ("[2] Lyon is smaller [3][9].", ["c3"], ("[9]",))]
    for claim in check.claims:
        assert answer[claim.start_char:claim.end_char] == claim.text
    assert check.uncited_claims == ()


def test_parse_citations_uncited_claims():
    check = parse_citations("Cited [1]. Not cited at all. Also cited [2].", _cmap(2))
    assert [c.text for c in check.uncited_claims] == ["Not cited at all."]


def test_parse_citations_empty_answer():
    check = parse_citations("", _cmap(2))
    assert (check.citations, check.unknown_markers, check.claims) == ((), (), ())


def test_citation_style_render():
    assert CitationStyle().render([3, 1, 2, 7, 9, 8, 5]) == "[1-3, 5, 7-9]"
    assert CitationStyle().render([1, 2]) == "[1, 2]"
    assert CitationStyle(prefix="S").render([1, 2, 3]) == "[S1-S3]"
    assert CitationStyle().render([]) == ""


@pytest.mark.parametrize(("style", "text", "expected"), [
    (CitationStyle(), "a[1] b [2, 3] c [x] d(4)", "a[1] b (2, 3) c [x] d(4)"),
    (CitationStyle(prefix="S"), "see [S2] and [2]", "see (S2) and [2]"),
    (CitationStyle(brackets="()"), "see (2) and [2]", "see [2] and [2]"),
], ids=["numeric", "prefixed", "round-brackets"])
def test_citation_style_neutralize_keeps_length(style, text, expected):
    out = style.neutralize(text)
    assert out == expected and len(out) == len(text) and style.groups(out) == []


@pytest.mark.parametrize(("kwargs"), [{"prefix": "S-"}, {"prefix": "1"}, {"brackets": "["}, {"brackets": "[["},
                                       {"brackets": "ab"}], ids=["dash", "digit", "one", "same", "letters"])
def test_citation_style_rejects_bad_values(kwargs):
    with pytest.raises(UsageError):
        CitationStyle(**kwargs)


styles = st.sampled_from([CitationStyle(), CitationStyle(prefix="S"), CitationStyle(prefix="doc"),
                          CitationStyle(brackets="()"), CitationStyle(prefix="R", brackets="{}")])


@settings(max_examples=200, deadline=None)
@given(styles, st.lists(st.sets(st.integers(1, 40), min_size=1, max_size=8), min_size=1, max_size=5))
def test_parse_citations_round_trips_rendered_groups(style, groups):
    cmap = _cmap(40, style)
    answer = " ".join(f"Claim number {i} holds {style.render(g)}." for i, g in enumerate(groups))
    check = parse_citations(answer, cmap, style=style)
    expected = list(dict.fromkeys(n for g in groups for n in sorted(g)))
    assert [c.marker for c in check.citations] == [style.marker(n) for n in expected]
    assert [[c.marker for c in claim.citations] for claim in check.claims] == \
        [[style.marker(n) for n in sorted(g)] for g in groups]


@settings(max_examples=150, deadline=None)
@given(styles, st.lists(st.integers(1, 60), min_size=1, max_size=10), st.integers(0, 30))
def test_parse_citations_never_drops_a_marker(style, numbers, known):
    answer = " ".join(f"Fact {style.marker(n)}." for n in numbers)
    check = parse_citations(answer, _cmap(known, style), style=style)
    seen = {c.marker for c in check.citations} | set(check.unknown_markers)
    assert seen == {style.marker(n) for n in numbers}
    assert set(check.unknown_markers) == {style.marker(n) for n in numbers if n > known}


DOC = ("Ada Lovelace wrote the first published algorithm. She worked with Charles Babbage on the Analytical "
       "Engine.\n\nThe engine was never built in her lifetime. Babbage's son built part of it in 1910. "
       "Today a replica of the Difference Engine stands in London. It weighs five tonnes.")


@pytest.mark.parametrize("budget", [200, 30, 12], ids=["all", "some", "tiny"])
def test_citations_map_to_exact_spans_of_the_original_document(budget):
    tok = FakeTokenizer()
    chunks = chunk_document(DOC, tok, max_tokens=12, doc_id="ada", source="ada.txt", title="Ada")
    fused = fuse(chunks, budget, tok)
    answer = " ".join(f"Claim {m}." for m in fused.citation_map)
    check = fused.check(answer)
    assert check.ok and len(check.citations) == len(fused.citations) > 0
    for citation in check.citations:
        span = DOC[citation.start_char:citation.end_char]
        assert span and span in fused.text
        assert (citation.source, citation.title) == ("ada.txt", "Ada")
        assert fused.text.index(span) == fused.text.index(citation.marker) + len(citation.marker) + 1


def test_citations_round_trip_through_real_tokenizer_context(o200k):
    chunks = chunk_document(DOC, o200k, max_tokens=20, overlap_tokens=8, doc_id="ada")
    fused = fuse(chunks, 60, o200k)
    check = fused.check(f"Lovelace published it {fused.style.render(range(1, len(fused.citations) + 1))}.")
    assert check.ok and [c.marker for c in check.citations] == list(fused.citation_map)
    for citation in check.citations:
        assert DOC[citation.start_char:citation.end_char] in fused.text
