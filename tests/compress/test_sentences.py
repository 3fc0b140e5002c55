"""Sentence splitting on real-world text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.compress import split_sentences


@pytest.mark.parametrize(("text", "expected"), [
    ("It works. It really does!", ["It works.", "It really does!"]),
    ("Dr. Watson met Mrs. Hudson. They talked.", ["Dr. Watson met Mrs. Hudson.", "They talked."]),
    ("Pi is 3.14159 roughly. E is 2.718.", ["Pi is 3.14159 roughly.", "E is 2.718."]),
    ("J. R. R. Tolkien wrote it. Then it sold.", ["J. R. R. Tolkien wrote it.", "Then it sold."]),
    ("He lives in the U.S. and works e.g. at home.", ["He lives in the U.S. and works e.g. at home."]),
    ("See No. 5 for details. Done.", ["See No. 5 for details.", "Done."]),
    ("I said no. Then I left.", ["I said no.", "Then I left."]),
    ('"Stop." She left. Why? Because.', ['"Stop."', "She left.", "Why?", "Because."]),
    ("Wait... what happened? Nothing.", ["Wait... what happened?", "Nothing."]),
    ("It costs $5.00. the price", ["It costs $5.00. the price"]),
], ids=["plain", "abbreviations", "decimals", "initials", "dotted-abbreviations", "number-abbreviation",
        "no-as-word", "quotes", "ellipsis", "lowercase-continues"])
def test_split_sentences_handles_punctuation(text, expected):
    assert split_sentences(text) == expected


def test_split_sentences_breaks_at_bullets_headings_and_blank_lines():
    text = "# Notes\nIntro line\nwrapped on.\n\nNew paragraph\n- first item\n- second item\n  continued\n1. numbered"
    assert split_sentences(text) == [
        "# Notes", "Intro line\nwrapped on.", "New paragraph", "- first item", "- second item\n  continued",
        "1. numbered",
    ]


def test_split_sentences_keeps_a_fenced_code_block_whole():
    code = "```python\nx = compute(1.5). \nPrint(x)\n\n# Done. Yes.\n```"
    text = f"Run this. {code[:0]}\n{code}\nThen stop."
    assert split_sentences(text) == ["Run this.", code, "Then stop."]


def test_split_sentences_keeps_an_unclosed_fence_to_the_end():
    text = "Intro.\n```\ncode. More code.\nEnd."
    assert split_sentences(text) == ["Intro.", "```\ncode. More code.\nEnd."]


def test_split_sentences_of_blank_text_is_empty():
    assert split_sentences("") == []
    assert split_sentences(" \n\t ") == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab A.?!\n-#`\"3 ")), max_size=200))
def test_split_sentences_are_ordered_slices_covering_all_text(text):
    sentences = split_sentences(text)
    pos = 0
    for s in sentences:
        assert s and s == s.strip()
        found = text.find(s, pos)
        assert found >= 0
        assert not text[pos:found].strip()  # nothing but whitespace is skipped
        pos = found + len(s)
    assert not text[pos:].strip()
