"""SQLite lexical search scores only the rows that can rank, yet ranks as FTS5's bm25() does over every row."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from contextwise.stores import SQLiteStore
from contextwise.stores import _sqlite_text
from contextwise.stores._core import lexical_terms
from contextwise.stores.sqlite import Scope
from contextwise.types import Record

COMMON = "alice bob said really think good time going".split()
RARE = [f"word{i}" for i in range(400)]
ODD = ["Café au lait", "naïve Zürich", "e\u0301te\u0301 à Paris", "日本語 テキスト", "hi 🎨\ufe0f there",
       "snake_case name", "ÀÉÎ upper", "İstanbul"]


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        words = rng.choices(COMMON, k=rng.randint(2, 12)) + rng.choices(RARE, weights=range(400, 0, -1),
                                                                          k=rng.randint(0, 3))
        if i % 50 == 0:
            words.append(rng.choice(ODD))
        rng.shuffle(words)
        texts.append(" ".join(words) + rng.choice([".", "!", " — ok", "’s"]))
    return texts


@pytest.fixture(autouse=True)
def pruned_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the pruned search, which files above SQL_MAX_ROWS rows get."""
    monkeypatch.setattr(_sqlite_text, "SQL_MAX_ROWS", 0)


@pytest.fixture
def loaded(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "lex.db", 2)
    texts = corpus(3000)
    store.upsert([Record(f"e{i}", t, None, {"n": i % 3}) for i, t in enumerate(texts)], tenant="t",
                 partition="episodic")
    store.upsert([Record(f"o{i}", t, None) for i, t in enumerate(corpus(500, seed=1))], tenant="other")
    return store


def reference(store: SQLiteStore, query: str, k: int, clause: str = "1", params: tuple[object, ...] = ()
              ) -> list[tuple[int, float]]:
    """bm25() over every matching row, in SQL."""
    assert store._conn is not None
    return _sqlite_text.sql_search(store._conn, Scope("t", "episodic").fts_token(), lexical_terms(query), k,
                                   clause, list(params))


QUERIES = ["alice word3 word17", "bob said good time", "really word399", "café zurich", "ete paris",
           "word1 word2 word5 alice bob", "snake_case", "日本語", "istanbul upper", "good", "nothing here at all",
           "word250 word251 time going think"]


@pytest.mark.parametrize("k", [1, 5, 60])
def test_rows_and_scores_equal_bm25_over_every_row_when_the_budget_allows(
        loaded: SQLiteStore, k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite_text, "FIRST_ROUND_ROWS", 50)  # force pruning rounds on this small corpus
    monkeypatch.setattr(_sqlite_text, "MAX_SCORED_ROWS", 10**9)
    for query in QUERIES:
        assert loaded._conn is not None
        got = _sqlite_text.search(loaded._conn, Scope("t", "episodic").fts_token(), lexical_terms(query), k, "1",
                                  [], loaded._terms, loaded._writes)
        assert got == reference(loaded, query, k), query  # same rows, same order, same floats


def test_search_text_returns_the_records_bm25_ranks_first(loaded: SQLiteStore) -> None:
    for query in QUERIES:
        hits = loaded.search_text(query, 10, tenant="t", partition="episodic")
        assert loaded._conn is not None
        want = reference(loaded, query, 10)
        assert [h.score for h in hits] == [s for _, s in want]
        rowids = dict(loaded._conn.execute("SELECT id, rowid FROM records WHERE tenant = 't'").fetchall())
        assert [rowids[h.record.id] for h in hits] == [r for r, _ in want]


def test_filters_apply_before_the_top_k(loaded: SQLiteStore) -> None:
    hits = loaded.search_text("alice word3", 20, tenant="t", partition="episodic", where={"n": 1})
    assert hits and all(h.record.metadata["n"] == 1 for h in hits)
    want = reference(loaded, "alice word3", 20, "COALESCE((json_type(metadata, ?) IN ('integer', 'real') AND "
                     "json_extract(metadata, ?) = ?), 0)", ('$."n"', '$."n"', 1))
    assert [h.score for h in hits] == [s for _, s in want]


def test_cached_frequencies_follow_writes_of_this_and_other_processes(loaded: SQLiteStore, tmp_path: Path) -> None:
    before = loaded.search_text("zebra", 5, tenant="t", partition="episodic")
    assert before == []
    other = SQLiteStore(tmp_path / "lex.db", 2)  # another connection: PRAGMA data_version moves for us
    other.upsert([Record("z1", "zebra zebra alice", None)], tenant="t", partition="episodic")
    assert [h.record.id for h in loaded.search_text("zebra", 5, tenant="t", partition="episodic")] == ["z1"]
    loaded.upsert([Record(f"z{i}", "zebra", None) for i in range(2, 40)], tenant="t", partition="episodic")
    hits = loaded.search_text("zebra alice", 5, tenant="t", partition="episodic")
    assert hits[0].record.id == "z1"
    assert [h.score for h in hits] == [s for _, s in reference(loaded, "zebra alice", 5)]
    other.close()


def test_a_small_file_is_ranked_by_bm25_in_sql(loaded: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite_text, "SQL_MAX_ROWS", 20_000)
    read = []
    monkeypatch.setattr(_sqlite_text, "_scores", lambda *a: read.append(a) or [])
    for query in QUERIES:
        hits = loaded.search_text(query, 10, tenant="t", partition="episodic")
        assert [h.score for h in hits] == [s for _, s in reference(loaded, query, 10)]
    assert read == []  # no text was read in Python


def test_tokens_of_unusual_text_are_unicode61s(loaded: SQLiteStore) -> None:
    assert loaded._conn is not None
    assert _sqlite_text.fts_tokens(loaded._conn, "Café e\u0301te\u0301 x\ufe0fy snake_case 日本語") == [
        "cafe", "ete", "x", "y", "snake", "case", "日本語"]
    assert _sqlite_text.fts_tokens(loaded._conn, "It’s 42 — ok!") == ["it", "s", "42", "ok"]


def test_pruning_keeps_the_top_ten_of_a_large_tier(tmp_path: Path) -> None:
    """Past the row budget the ranking is that of the rows read: the best ten still match scoring every row."""
    store = SQLiteStore(tmp_path / "big.db", 2)
    texts = corpus(20_000, seed=3)
    store.upsert([Record(f"e{i}", t, None) for i, t in enumerate(texts)], tenant="t", partition="episodic")
    found = wanted = 0
    for query in ["alice bob word5", "said think word40 word41", "good time going word9", "really word100"]:
        got = {h.record.id for h in store.search_text(query, 10, tenant="t", partition="episodic")}
        assert store._conn is not None
        ids = dict(store._conn.execute("SELECT rowid, id FROM records").fetchall())
        want = {ids[r] for r, _ in reference(store, query, 10)}
        found, wanted = found + len(got & want), wanted + len(want)
    assert found / wanted >= 0.95
    store.close()
