"""Fixtures for the documents tests."""

from __future__ import annotations

import pytest
from support import missing


@pytest.fixture(scope="session")
def o200k():
    """The real o200k_base tokenizer (skips locally until contextwise.tokens provides it)."""
    try:
        from contextwise.tokens import get_tokenizer
    except ImportError as exc:
        missing(f"contextwise.tokens.get_tokenizer is not available ({exc})")
    return get_tokenizer("o200k_base")
