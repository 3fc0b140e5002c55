"""Fixtures for the compression tests: tokenizers and a deterministic surprisal model."""

from __future__ import annotations

import re

import pytest

from contextwise.testing import FakeTokenizer

_PIECE = re.compile(r"\s*\S{1,4}|\s+")


class LengthSurprisal:
    """A stand-in language model: pieces of up to four characters; a piece's surprisal grows with its length and
    is high for digits and capitals, so "the" is cheap and "Paris" or "1901" are dear."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def token_surprisal(self, text: str) -> list[tuple[str, float]]:
        self.calls.append(text)
        out = []
        for piece in _PIECE.findall(text):
            core = piece.strip()
            value = float(len(core)) + 3.0 * sum(c.isdigit() or c.isupper() for c in core)
            out.append((piece, value))
        return out


@pytest.fixture
def fake_tokenizer() -> FakeTokenizer:
    return FakeTokenizer()


@pytest.fixture(scope="session")
def o200k():
    from contextwise.tokens import get_tokenizer

    return get_tokenizer("o200k_base")


@pytest.fixture
def surprisal_model() -> LengthSurprisal:
    return LengthSurprisal()


@pytest.fixture(scope="session")
def surprisal_class() -> type[LengthSurprisal]:
    return LengthSurprisal
