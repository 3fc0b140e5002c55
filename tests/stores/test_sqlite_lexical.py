"""SQLite lexical search: a large partition has an FTS5 table of its own, so bm25() uses that partition's
statistics, and the pruned search there ranks exactly as bm25() over every row of the partition."""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from contextwise._sqlite import connect
from contextwise.errors import StoreError
from contextwise.stores import SQLiteStore
from contextwise.stores import _sqlite_text
from contextwise.stores._core import lexical_terms
from contextwise.stores._sqlite_schema import LENGTH_PAD, MIGRATIONS, TEXT_INDEX
from contextwise.types import Record

COMMON = "alice bob said really think good time going".split()
RARE = [f"word{i}" for i in range(400)]
ODD = ["Café au lait", "naïve Zürich", "e\u0301te\u0301 à Paris", "日本語 テキスト", "hi 🎨\ufe0f there",
       "snake_case name", "ÀÉÎ upper", "İstanbul"]
QUERIES = ["alice word3 word17", "bob said good time", "really word399", "café zurich", "ete paris",
           "word1 word2 word5 alice bob", "snake_case", "日本語", "istanbul upper", "good", "nothing here at all",
           "word250 word251 time going think", "alice bob said", "yeah alice word7", "yeah"]


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        words = rng.choices(COMMON, k=rng.randint(0, 4)) + rng.choices(RARE, weights=range(400, 0, -1),
                                                                         k=rng.randint(1, 4))
        words += ["yeah"] * (rng.random() < 0.7)  # a word in most rows
        if i % 50 == 0:
            words.append(rng.choice(ODD))
        rng.shuffle(words)
        texts.append(" ".join(words) + rng.choice([".", "!", " — ok", "’s"]))
    return texts


@pytest.fixture
def loaded(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "lex.db", 2, lexical_table_min_records=1000)
    store.upsert([Record(f"e{i}", t, None, {"n": i % 3}) for i, t in enumerate(corpus(3000))], tenant="t",
                 partition="episodic")
    store.upsert([Record(f"o{i}", t, None) for i, t in enumerate(corpus(500, seed=1))], tenant="other")
    return store


def alone(store: SQLiteStore, query: str, k: int, *, tenant: str = "t", partition: str = "episodic",
          where: dict[str, object] | None = None) -> list[tuple[str, float]]:
    """The reference: bm25() over every row of an FTS5 table holding this partition's texts and nothing else, the
    words chosen as the store documents (less those in over half of the rows, if others are left), most common
    first."""
    assert store._conn is not None
    rowid = dict(store._conn.execute("SELECT id, rowid FROM records WHERE tenant = ?", (tenant,)).fetchall())
    records = sorted(store.scan(tenant=tenant, partition=partition), key=lambda r: rowid[r.id])
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE f USING fts5(text, pad, {TEXT_INDEX})")  # scored as the store's tables are
    conn.execute("CREATE TABLE meta (rowid INTEGER PRIMARY KEY, n, id)")
    conn.executemany("INSERT INTO f (rowid, text, pad) VALUES (?, ?, ?)",
                     [(i, r.text, LENGTH_PAD) for i, r in enumerate(records, 1)])
    conn.executemany("INSERT INTO meta (rowid, n, id) VALUES (?, ?, ?)",
                     [(i, r.metadata.get("n"), r.id) for i, r in enumerate(records, 1)])
    df = {t: conn.execute("SELECT count(*) FROM f WHERE f MATCH ?", (_sqlite_text.text_query([t]),)).fetchone()[0]
          for t in lexical_terms(query)}
    held = [t for t in df if df[t]]
    rare = [t for t in held if df[t] < len(records) / 2 or df[t] <= _sqlite_text.MIN_LEFT_OUT_ROWS]
    words = sorted(rare or held, key=lambda t: (-df[t], t))
    if not words:
        return []
    match = _sqlite_text.text_query(words)
    extra, params = ("AND n = ?", (where["n"],)) if where else ("", ())
    rows = conn.execute(f"SELECT id, -bm25(f) FROM f JOIN meta ON meta.rowid = f.rowid WHERE f MATCH ? {extra} "
                        "ORDER BY bm25(f), f.rowid LIMIT ?", (match, *params, k)).fetchall()
    return [(i, s) for i, s in rows]


def got(store: SQLiteStore, query: str, k: int, **kw: object) -> list[tuple[str, float]]:
    return [(h.record.id, h.score) for h in store.search_text(query, k, tenant=kw.pop("tenant", "t"),  # type: ignore[arg-type]
                                                               partition=kw.pop("partition", "episodic"), **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize("one_query_rows", [0, _sqlite_text.ONE_QUERY_ROWS])  # 0: always the budgeted search
@pytest.mark.parametrize("k", [1, 5, 60])
def test_a_large_partition_ranks_as_bm25_over_every_row_of_a_table_of_its_own(
        loaded: SQLiteStore, k: int, one_query_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite_text, "ONE_QUERY_ROWS", one_query_rows)
    for query in QUERIES:
        assert got(loaded, query, k) == alone(loaded, query, k), query  # same rows, same order, same floats


def test_other_tenants_and_partitions_do_not_move_a_large_partitions_scores(loaded: SQLiteStore) -> None:
    before = [got(loaded, q, 10) for q in QUERIES]
    loaded.upsert([Record(f"x{i}", "word3 word17 alice café", None) for i in range(1500)], tenant="t",
                  partition="semantic")
    loaded.upsert([Record(f"y{i}", "word399 really really", None) for i in range(300)], tenant="third")
    assert [got(loaded, q, 10) for q in QUERIES] == before


def test_a_partition_gets_its_own_table_in_the_write_that_makes_it_large(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "grow.db", 2, lexical_table_min_records=100)
    store.upsert([Record(f"a{i}", f"apple word{i}", None) for i in range(99)], tenant="t", partition="p")
    assert store._conn is not None
    assert store._conn.execute("SELECT count(*) FROM lexical_tables").fetchone()[0] == 0
    small = got(store, "apple word5", 3, partition="p")
    store.upsert([Record("a99", "apple pear", None)], tenant="t", partition="p")
    assert store._conn.execute("SELECT tenant, part FROM lexical_tables").fetchall() == [("t", "p")]
    shared = store._conn.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH 'apple'").fetchone()[0]
    assert shared == 0  # its rows left the shared table
    assert [i for i, _ in got(store, "apple word5", 3, partition="p")][0] == small[0][0] == "a5"
    assert got(store, "apple word5", 3, partition="p") == alone(store, "apple word5", 3, partition="p")
    store.close()


def test_filters_apply_before_the_top_k(loaded: SQLiteStore) -> None:
    hits = loaded.search_text("alice word3", 20, tenant="t", partition="episodic", where={"n": 1})
    assert hits and all(h.record.metadata["n"] == 1 for h in hits)
    assert [(h.record.id, h.score) for h in hits] == alone(loaded, "alice word3", 20, where={"n": 1})


def test_writes_and_deletes_of_another_process_are_seen(loaded: SQLiteStore, tmp_path: Path) -> None:
    assert got(loaded, "zebra", 5) == []
    other = SQLiteStore(tmp_path / "lex.db", 2)
    other.upsert([Record("z1", "zebra zebra alice", None)], tenant="t", partition="episodic")
    assert [i for i, _ in got(loaded, "zebra", 5)] == ["z1"]
    loaded.upsert([Record(f"z{i}", "zebra", None) for i in range(2, 40)], tenant="t", partition="episodic")
    assert got(loaded, "zebra alice", 5) == alone(loaded, "zebra alice", 5)
    top = got(loaded, "word3 word17", 1)[0][0]
    assert other.delete([top], tenant="t") == 1
    assert top not in {i for i, _ in got(loaded, "word3 word17", 60)}
    assert got(loaded, "word3 word17", 60) == alone(loaded, "word3 word17", 60)
    other.upsert([Record("z1", "moved zebra", None)], tenant="t", partition="semantic")  # to a small partition
    assert "z1" not in {i for i, _ in got(loaded, "zebra", 60)}
    assert [i for i, _ in got(loaded, "moved zebra", 5, partition="semantic")] == ["z1"]
    other.close()


def test_a_query_of_words_in_most_rows_still_ranks_them(loaded: SQLiteStore) -> None:
    hits = got(loaded, "yeah", 10)  # in over half of the rows
    assert len(hits) == 10 and hits == alone(loaded, "yeah", 10)


def test_drop_tenant_removes_its_tables_and_triggers(loaded: SQLiteStore) -> None:
    assert loaded._conn is not None
    names = "SELECT count(*) FROM sqlite_master WHERE name LIKE 'lexical_%' AND name != 'lexical_tables'"
    assert loaded._conn.execute(names).fetchone()[0] > 0
    assert loaded.drop_tenant("t") == 3000
    assert loaded._conn.execute(names).fetchone()[0] == 0
    assert loaded.search_text("alice", 5, tenant="t", partition="episodic") == []
    loaded.upsert([Record("n1", "alice again", None)], tenant="t", partition="episodic")
    assert [h.record.id for h in loaded.search_text("alice", 5, tenant="t", partition="episodic")] == ["n1"]
    assert loaded.search_text("really", 3, tenant="other")  # the shared table is intact
    assert loaded._conn.execute("INSERT INTO records_fts (records_fts) VALUES ('integrity-check')").rowcount


def _old_file(path: Path, version: int) -> sqlite3.Connection:
    """A file at schema `version` (its migrations up to there) holding 400 episodic and 20 semantic records."""
    conn = sqlite3.connect(path, isolation_level=None)
    for step in range(version + 1):
        MIGRATIONS[step](conn, 2)
    conn.execute("UPDATE schema_version SET version = ?", (version,))
    conn.executemany("INSERT INTO records (tenant, id, text, part) VALUES (?, ?, ?, ?)",
                     [("t", f"e{i}", text, "episodic") for i, text in enumerate(corpus(400))])
    conn.executemany("INSERT INTO records (tenant, id, text, part) VALUES (?, ?, ?, ?)",
                     [("t", f"s{i}", text, "semantic") for i, text in enumerate(corpus(20, seed=2))])
    return conn


def test_a_v4_file_gives_its_large_partitions_tables_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    _old_file(path, 4).close()
    with SQLiteStore(path, 2, lexical_table_min_records=100) as store:
        assert store.migrated_from == 4
        assert store._conn is not None
        assert store._conn.execute("SELECT part FROM lexical_tables").fetchall() == [("episodic",)]
        for query in QUERIES:
            assert got(store, query, 10) == alone(store, query, 10), query
            assert got(store, query, 5, partition="semantic") == [
                (h.record.id, h.score) for h in store.search_text(query, 5, tenant="t", partition="semantic")]
        assert got(store, "alice", 3, partition="semantic")


def test_past_the_row_budget_rows_may_be_missed_but_every_score_is_bm25s(
        loaded: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite_text, "MAX_SEARCHED_ROWS", 100)
    monkeypatch.setattr(_sqlite_text, "ONE_QUERY_ROWS", 100)
    found = wanted = 0
    for query in QUERIES:
        hits, every = got(loaded, query, 10), alone(loaded, query, 3000)
        exact = dict(every)
        assert all(exact[i] == score for i, score in hits), query  # a row found is scored in full
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        found, wanted = found + len({i for i, _ in hits} & {i for i, _ in every[:10]}), wanted + len(every[:10])
    assert 0.5 <= found / wanted < 1.0  # the budget bites on this corpus, and most of the best rows are still found


@pytest.mark.parametrize("one_reader", [False, True])
def test_a_row_the_rarer_words_alone_rank_first_is_scored_by_every_word(
        tmp_path: Path, one_reader: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # zeta in 3 rows is searched; alpha in 6 passes the budget of 4, so it only completes scores. By zeta alone
    # "zeta zeta alpha" ranks first; by both words "zeta alpha alpha alpha" does: the search must say the latter.
    monkeypatch.setattr(_sqlite_text, "MAX_SEARCHED_ROWS", 4)
    monkeypatch.setattr(_sqlite_text, "ONE_QUERY_ROWS", 4)
    texts = ["zeta zeta alpha", "zeta alpha alpha alpha", "zeta filler", "alpha one", "alpha two", "alpha three",
             "alpha four"] + [f"filler{i} other words" for i in range(400)]
    store = (OneReader if one_reader else SQLiteStore)(tmp_path / "pair.db", 2, lexical_table_min_records=100)
    with store:
        store.upsert([Record(f"r{i}", t, None) for i, t in enumerate(texts)], tenant="t", partition="episodic")
        by_zeta = alone(store, "zeta", 3)
        assert by_zeta[0][0] == "r0"  # the case: first by the rarer word alone ...
        assert alone(store, "zeta alpha", 1)[0][0] == "r1"  # ... not by both
        for k in (1, 2, 3):  # the rows holding zeta (past them, rows of alpha alone are left out by design)
            assert got(store, "zeta alpha", k) == alone(store, "zeta alpha", k), k


def test_an_emptied_large_partition_keeps_its_table_and_finds_new_records(loaded: SQLiteStore) -> None:
    assert loaded.delete([f"e{i}" for i in range(3000)], tenant="t") == 3000
    assert loaded.search_text("alice word3", 5, tenant="t", partition="episodic") == []
    loaded.upsert([Record("n1", "alice word3", None), Record("n2", "bob", None)], tenant="t", partition="episodic")
    assert got(loaded, "alice word3", 5) == alone(loaded, "alice word3", 5)
    assert [i for i, _ in got(loaded, "alice word3", 5)] == ["n1"]


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100"])
def test_a_bad_lexical_table_size_is_refused_before_the_file_is_touched(tmp_path: Path, bad: object) -> None:
    from contextwise.errors import UsageError

    with pytest.raises(UsageError, match="lexical_table_min_records"):
        SQLiteStore(tmp_path / "never.db", 2, lexical_table_min_records=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "never.db").exists()


class OneReader(SQLiteStore):
    """The store searching text on its one connection: `_best`'s two statements one after the other."""

    parallel_reads = False  # type: ignore[assignment]


class Counted(_sqlite_text.Beside):
    """The second connection, counting the statements it reads."""

    def __init__(self, path: str, before: Callable[[], object] | None = None) -> None:
        super().__init__(connect(path))
        self.reads, self.before = 0, before

    def read(self, sql: str, params: Sequence[object], table: str, tenant: str) -> Any:
        self.reads += 1
        if self.before is not None and self.reads == 1:
            self.before()
        return super().read(sql, params, table, tenant)


def pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row budget the common words pass, so they only complete scores: the search's two statements."""
    monkeypatch.setattr(_sqlite_text, "MAX_SEARCHED_ROWS", 300)
    monkeypatch.setattr(_sqlite_text, "ONE_QUERY_ROWS", 300)


@pytest.mark.parametrize("k", [1, 5, 60])
def test_the_two_statements_at_once_rank_as_the_one_statement(loaded: SQLiteStore, k: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pruned(monkeypatch)
    loaded._beside = beside = Counted(loaded.path)
    with OneReader(loaded.path, 2) as one:
        for query in QUERIES:
            hits = got(loaded, query, k)
            assert hits == got(one, query, k), query  # same rows, same order, same floats
            exact = dict(alone(loaded, query, 3000))
            assert all(exact[i] == score for i, score in hits), query  # each row scored in full
    assert beside.reads >= 3  # several queries ran the two statements at once


def test_a_write_between_the_two_snapshots_is_not_mixed_in(loaded: SQLiteStore, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pruned(monkeypatch)
    query = "alice word3 word17"
    before = got(loaded, query, 5)
    other = SQLiteStore(tmp_path / "lex.db", 2)
    new = [Record(f"n{i}", "word3 word17 word17", None) for i in range(40)]  # no common word: the second statement's
    loaded._beside = beside = Counted(loaded.path, lambda: other.upsert(new, tenant="t", partition="episodic"))
    assert got(loaded, query, 5) == before  # the caller's snapshot, read whole on its own connection
    assert beside.reads == 1 and other.count(tenant="t") == 3040
    after = got(loaded, query, 5)
    assert after == alone(loaded, query, 5) and {i for i, _ in after} <= {r.id for r in new}
    other.close()


def test_an_error_of_the_second_connection_is_a_store_error(loaded: SQLiteStore, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pruned(monkeypatch)
    sqlite3.connect(tmp_path / "empty.db").close()
    loaded._beside = Counted(str(tmp_path / "empty.db"))  # a file without the partition's table
    with pytest.raises(StoreError, match="no such table"):
        got(loaded, "alice word3 word17", 5)
    assert loaded._text_conn is not None and not loaded._text_conn.in_transaction
    loaded._beside.close()
    loaded._beside = None
    assert got(loaded, "alice word3 word17", 5) == alone(loaded, "alice word3 word17", 5)


def test_close_ends_the_thread_of_the_second_connection(loaded: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pruned(monkeypatch)
    before = set(threading.enumerate())
    assert got(loaded, "alice word3 word17", 5)
    started = [t for t in set(threading.enumerate()) - before if t.name.startswith("contextwise-lexical")]
    assert started and all(t.is_alive() for t in started)
    loaded.close()
    assert not any(t.is_alive() for t in started)


@pytest.mark.parametrize("own_table", [False, True])
def test_a_score_is_bm25_without_length_normalisation(tmp_path: Path, own_table: bool) -> None:
    # FTS5 keeps no row sizes (columnsize=0) and reports each indexed column of a contentless table as -1 tokens
    # long, so bm25() (k1 = 1.2, b = 0.75) scores a term idf * tf * 2.2 / (tf + 1.2 * (0.25 - 0.75 * 2 / avgdl)):
    # two indexed columns (text, and the pad or scope column), avgdl their mean tokens per row.
    heads = ["cherry", "cherry", "cherry cherry", "apple", "apple banana", "banana", "plum", "plum pear", "pear fig",
             "fig"]
    fillers = [4 + 3 * (i == 1) + i % 3 for i in range(len(heads))]  # row 1 the longest
    texts = [f"{head} " + " ".join(f"w{i}x{j}" for j in range(m)) for i, (head, m) in enumerate(zip(heads, fillers))]
    store = SQLiteStore(tmp_path / "s.db", 2, lexical_table_min_records=5 if own_table else 1000)
    store.upsert([Record(f"r{i}", t, None) for i, t in enumerate(texts)], tenant="t", partition="p")
    assert store._conn is not None
    assert store._conn.execute("SELECT count(*) FROM lexical_tables").fetchone()[0] == int(own_table)
    scores = dict(got(store, "cherry apple", 10, partition="p"))
    n, pad = len(texts), len(LENGTH_PAD.split()) + (0 if own_table else 2)  # the scope column's two tokens
    avgdl = sum(len(t.split()) for t in texts) / n + pad

    def term(df: int, tf: int) -> float:
        idf = max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)
        return idf * tf * 2.2 / (tf + 1.2 * (0.25 - 0.75 * 2 / avgdl))

    assert set(scores) == {"r0", "r1", "r2", "r3", "r4"}
    assert scores["r0"] == pytest.approx(term(3, 1), rel=1e-12)
    assert scores["r1"] == scores["r0"]  # a longer row scores as the shorter one
    assert scores["r2"] == pytest.approx(term(3, 2), rel=1e-12) and scores["r2"] > scores["r0"]
    assert scores["r3"] == scores["r4"] == pytest.approx(term(2, 1), rel=1e-12)
    store.close()


def _v5_own_table(conn: sqlite3.Connection, tenant: str, part: str) -> str:
    """What v5 made of a large partition: an FTS5 table of its own with row sizes, and its triggers."""
    name = "lexical_" + hashlib.sha1(f"{tenant}\x00{part}".encode()).hexdigest()[:16]
    conn.execute(f"CREATE VIRTUAL TABLE {name} USING fts5(text, content='', tokenize='unicode61')")
    conn.execute(f"INSERT INTO {name} (rowid, text) SELECT rowid, text FROM records WHERE tenant = ? AND part = ?",
                 (tenant, part))
    scope = "'t' || hex(records.tenant) || ' t' || hex(records.tenant) || 'p' || hex(records.part)"
    conn.execute(f"INSERT INTO records_fts (records_fts, rowid, text, scope) SELECT 'delete', rowid, text, {scope} "
                 "FROM records WHERE tenant = ? AND part = ?", (tenant, part))
    conn.execute("INSERT INTO lexical_tables (tenant, part, name) VALUES (?, ?, ?)", (tenant, part, name))
    mine = f"{{0}}.tenant = '{tenant}' AND {{0}}.part = '{part}'"
    insert = f"INSERT INTO {name} (rowid, text) SELECT new.rowid, new.text WHERE {mine.format('new')};"
    remove = (f"INSERT INTO {name} ({name}, rowid, text) SELECT 'delete', old.rowid, old.text "
              f"WHERE {mine.format('old')};")
    conn.execute(f"CREATE TRIGGER {name}_insert AFTER INSERT ON records BEGIN {insert} END")
    conn.execute(f"CREATE TRIGGER {name}_delete AFTER DELETE ON records BEGIN {remove} END")
    conn.execute(f"CREATE TRIGGER {name}_update AFTER UPDATE OF text, tenant, part ON records "
                 f"BEGIN {remove} {insert} END")
    return name


def test_a_v5_file_is_rebuilt_without_row_sizes(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    conn = _old_file(path, 5)
    name = _v5_own_table(conn, "t", "episodic")
    sizes = "SELECT name FROM sqlite_master WHERE name LIKE '%_docsize' ORDER BY name"
    assert [r[0] for r in conn.execute(sizes)] == [f"{name}_docsize", "records_fts_docsize"]
    conn.close()
    with SQLiteStore(path, 2, lexical_table_min_records=100) as store:
        assert store.migrated_from == 5
        assert store._conn is not None
        assert store._conn.execute(sizes).fetchall() == []
        assert store._conn.execute("SELECT name FROM lexical_tables").fetchall() == [(name,)]
        for query in QUERIES:
            assert got(store, query, 10) == alone(store, query, 10), query
            # a small partition in records_fts: every hit holds a word of the query, best first
            hits = store.search_text(query, 5, tenant="t", partition="semantic")
            words = set(lexical_terms(query))
            assert all(words & set(lexical_terms(h.record.text)) for h in hits), query
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        store.upsert([Record("z1", "zebra alice", None)], tenant="t", partition="episodic")  # triggers still work
        store.upsert([Record("z2", "zebra", None)], tenant="t", partition="semantic")
        assert [i for i, _ in got(store, "zebra", 5)] == ["z1"]
        assert [i for i, _ in got(store, "zebra", 5, partition="semantic")] == ["z2"]
        for table in (name, "records_fts"):
            store._conn.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")


@pytest.mark.parametrize("own_table", [False, True])
@pytest.mark.parametrize("texts", [["Ana moved to Porto."], ["porto"] * 3 + ["x"] * 3, ["a b c", "porto b c"] * 4])
def test_short_texts_score_finite_and_positive(tmp_path: Path, own_table: bool, texts: list[str]) -> None:
    # Without the pad, a table whose texts average 3 tokens (4 in records_fts) made bm25()'s tf saturation 0:
    # a query word the row lacks then scored 0/0, and SQLite returned NULL for it.
    store = SQLiteStore(tmp_path / "s.db", 2, lexical_table_min_records=1 if own_table else 1000)
    store.upsert([Record(f"r{i}", t, None) for i, t in enumerate(texts)], tenant="t", partition="p")
    hits = got(store, "porto lisbon b", 10, partition="p")
    assert hits and all(math.isfinite(s) and s > 0 for _, s in hits)
    assert {i for i, _ in hits} == {f"r{i}" for i, t in enumerate(texts) if {"porto", "b"} & set(lexical_terms(t))}
    store.close()
