"""Fixtures for the history tests."""

from __future__ import annotations

import pytest
from history.history_helpers import make_counter


@pytest.fixture
def counter():
    """A framed counter over the fast FakeTokenizer."""
    return make_counter()
