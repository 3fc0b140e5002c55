"""The parsed rank copy: used when intact, rebuilt when torn or foreign, never required."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from contextwise.tokens._openai import load_ranks, parse_ranks, read_rank_bytes


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONTEXTWISE_CACHE_DIR", str(tmp_path))
    return tmp_path / "tokens"


def test_the_saved_copy_loads_the_same_ranks(cache: Path) -> None:
    parsed = parse_ranks(read_rank_bytes("cl100k_base"))
    assert load_ranks("cl100k_base") == parsed  # parsed and saved
    (copy,) = cache.glob("cl100k_base-*.marshal")
    stamp = copy.stat().st_mtime_ns
    assert load_ranks("cl100k_base") == parsed  # read back, not rewritten
    assert copy.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b[:40] + b"x" + b[41:], lambda b: b"",
                                    lambda b: b[:32] + b"\x00" * 64],
                         ids=["torn", "flipped", "empty", "foreign"])
def test_a_damaged_copy_is_parsed_again_and_repaired(cache: Path, damage: Callable[[bytes], bytes]) -> None:
    expected = load_ranks("cl100k_base")
    (copy,) = cache.glob("cl100k_base-*.marshal")
    good = copy.read_bytes()
    copy.write_bytes(damage(good))
    assert load_ranks("cl100k_base") == expected
    assert copy.read_bytes() == good


def test_an_unwritable_cache_still_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CONTEXTWISE_CACHE_DIR", str(blocker))
    assert load_ranks("cl100k_base") == parse_ranks(read_rank_bytes("cl100k_base"))
