"""Chunking: token-bounded chunks of whole sentences, with overlap and exact character offsets."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.documents import chunk_document
from contextwise.documents._sentences import sentence_spans
from contextwise.errors import UsageError
from contextwise.testing import FakeTokenizer

DOC = "One two three. Four five six. Seven eight. Nine ten eleven twelve. Thirteen."


def test_chunk_document_packs_whole_sentences():
    chunks = chunk_document(DOC, FakeTokenizer(), max_tokens=6)
    assert [c.text for c in chunks] == ["One two three. Four five six.", "Seven eight. Nine ten eleven twelve.",
                                        "Thirteen."]
    assert [c.id for c in chunks] == ["doc#0", "doc#1", "doc#2"]


def test_chunk_document_overlaps_trailing_sentences():
    # "Nine ten eleven twelve." (4 tokens) is over the 3-token overlap, so the last chunk repeats nothing.
    chunks = chunk_document(DOC, FakeTokenizer(), max_tokens=6, overlap_tokens=3)
    assert [c.text for c in chunks] == ["One two three. Four five six.", "Four five six. Seven eight.",
                                        "Seven eight. Nine ten eleven twelve.", "Thirteen."]


def test_chunk_document_overlap_smaller_than_a_sentence_adds_none():
    with_overlap = chunk_document(DOC, FakeTokenizer(), max_tokens=6, overlap_tokens=1)
    assert [c.text for c in with_overlap] == [c.text for c in chunk_document(DOC, FakeTokenizer(), max_tokens=6)]


def test_chunk_document_splits_an_overlong_sentence_on_token_boundaries():
    text = "a b c d e f g h i j. Short one."
    chunks = chunk_document(text, FakeTokenizer(), max_tokens=4)
    assert [c.text for c in chunks] == ["a b c d", "e f g h", "i j. Short one."]


def test_chunk_document_copies_document_fields_and_offsets():
    chunks = chunk_document("  Lead space. Second.", FakeTokenizer(), max_tokens=2, doc_id="d", source="s.md",
                            title="T", timestamp=5.0, authority=0.9, metadata={"lang": "en"})
    assert [(c.id, c.text, c.start_char) for c in chunks] == [("d#0", "Lead space.", 2), ("d#1", "Second.", 14)]
    assert {(c.source, c.title, c.timestamp, c.authority, c.metadata["lang"]) for c in chunks} == \
        {("s.md", "T", 5.0, 0.9, "en")}


@pytest.mark.parametrize("text", ["", "   \n\n  "], ids=["empty", "blank"])
def test_chunk_document_empty_text_has_no_chunks(text):
    assert chunk_document(text, FakeTokenizer()) == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (4, 4), (4, -1)],
                         ids=["zero-max", "overlap-equals-max", "negative-overlap"])
def test_chunk_document_rejects_bad_sizes(max_tokens, overlap):
    with pytest.raises(UsageError):
        chunk_document(DOC, FakeTokenizer(), max_tokens=max_tokens, overlap_tokens=overlap)


words = st.sampled_from(["alpha", "beta", "Gamma", "δέλτα", "e.g.", "x9", "3.5", "日本語", "🙂", "end"])
sentence = st.lists(words, min_size=1, max_size=30).map(lambda ws: " ".join(ws) + st_end(ws))


def st_end(ws):
    return "!" if len(ws) % 3 == 0 else "."


documents = st.lists(st.tuples(sentence, st.sampled_from([" ", "  ", "\n", "\n\n"])), max_size=15).map(
    lambda parts: "".join(s + sep for s, sep in parts))


def _check_chunks(text, chunks, tok, max_tokens, overlap):
    for chunk in chunks:
        assert text[chunk.start_char:chunk.start_char + len(chunk.text)] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert tok.count(chunk.text) <= max_tokens
    starts = [c.start_char for c in chunks]
    assert starts == sorted(set(starts))
    for before, after in pairwise(chunks):
        end = before.start_char + len(before.text)
        if after.start_char < end:  # overlap: whole sentences within the allowance
            assert tok.count(text[after.start_char:end]) <= overlap
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start_char, chunk.start_char + len(chunk.text)))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


@settings(max_examples=150, deadline=None)
@given(documents, st.integers(4, 40), st.data())
def test_chunk_document_properties_fake_tokenizer(text, max_tokens, data):
    overlap = data.draw(st.integers(0, max_tokens - 1))
    tok = FakeTokenizer()
    _check_chunks(text, chunk_document(text, tok, max_tokens=max_tokens, overlap_tokens=overlap), tok, max_tokens,
                  overlap)


def test_chunk_document_properties_real_tokenizer(o200k):
    @settings(max_examples=80, deadline=None)
    @given(documents, st.integers(4, 60), st.data())
    def check(text, max_tokens, data):
        overlap = data.draw(st.integers(0, max_tokens - 1))
        _check_chunks(text, chunk_document(text, o200k, max_tokens=max_tokens, overlap_tokens=overlap), o200k,
                      max_tokens, overlap)

    check()


def test_chunk_document_chunks_start_at_sentence_starts(o200k):
    text = " ".join(f"Sentence number {i} says something about topic {i % 7}." for i in range(60))
    chunks = chunk_document(text, o200k, max_tokens=40, overlap_tokens=12)
    starts = {s for s, _ in sentence_spans(text)}
    assert len(chunks) > 5 and all(c.start_char in starts for c in chunks)
    assert any(a.start_char + len(a.text) > b.start_char for a, b in pairwise(chunks))


def test_sentence_spans_use_the_splitters_offsets_even_for_repeated_sentences():
    from contextwise.compress import split_sentences
    from contextwise.documents._sentences import sentence_spans

    text = "Yes.  Yes. No!\n\nYes."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == split_sentences(text) == ["Yes.", "Yes.", "No!", "Yes."]
    assert spans == [(0, 4), (6, 10), (11, 14), (16, 20)]
