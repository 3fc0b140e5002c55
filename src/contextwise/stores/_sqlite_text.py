"""Lexical search in the SQLite store: FTS5's bm25(), with the statistics of the partition searched.

Where a partition's words live: a partition of at least `lexical_table_min_records` records has an FTS5 table of
its own (see _sqlite_schema v5), so bm25() there is the partition's own; smaller partitions share `records_fts`,
scoped by a token ANDed into the query (weight 0 in bm25()), and are ranked by bm25() over every matching row,
which is cheap at their size.

A partition's own table can hold hundreds of thousands of rows, where `ORDER BY bm25()` over every row matching
any query word takes ~100-300 ms (benchmarks/bench_memory.py). When the query words' rows add up to at most
ONE_QUERY_ROWS, that one `ORDER BY bm25() LIMIT k` query is still the cheapest. Past it, FTS5 still computes every
score, but only for the rows holding the rarer words: the words searched, rarest first, stop before their rows
(by document frequencies) would pass MAX_SEARCHED_ROWS, and the more common words only complete the scores of the
rows found (as Lucene's CommonTermsQuery does), so a row holding none of the rarer words can be missed.
`_best` ranks the rows holding the rarer words by the k best of `(common words) AND (rarer words)` and the k best
of the rarer words alone (`_merged` says why that is exact): one statement each, the two at once on two
connections of a file (`Beside`; one after the other on an in-memory database), so only the k best rows of each
cross into Python, and SQLite runs them outside Python's lock (a hybrid recall's dense search runs meanwhile).
Every score is bm25()'s over every row, to the last bit: every query lists the phrases in one order (most common
first) and adding the contributions of words a row lacks (0.0) changes no float. The rarer words alone are not
`(rarer words) NOT (common words)`, which ranked the same: bm25() counts the rows of every phrase of a statement
anew, and the common words' rows are most of the rows counted; at 200k memories that statement took 10.3 ms
against 4.3 (p50 of LoCoMo questions, one connection).

Scores: every FTS5 table of the store is contentless and keeps no per-row sizes (`columnsize=0`, schema v6).
FTS5 then reports each indexed column of a row as -1 tokens long (fts5ApiColumnSize), so bm25() (k1 = 1.2,
b = 0.75) scores a term idf * tf * 2.2 / (tf + 1.2 * (0.25 - 0.75 * 2 / avgdl)): every table has two indexed
columns (the text, and `pad` or `scope`), and avgdl is their mean tokens per row. That is BM25 without length
normalisation, its tf saturation set by the table's mean length: ~0.24 for memories of ~20 words. Every row
holds the 8 tokens of _sqlite_schema.LENGTH_PAD besides its text, so avgdl > 6 and the saturation stays
positive however short the texts (at 0 a word a row lacks would score 0/0, which SQLite returns as NULL).
Searches name the text column only. Reading each row's size was half of bm25()'s cost per row, and memories
are short texts that length normalisation ranked worse; both measured (figures in the README): at 200k
memories the store's lexical search took 14.4 / 15.1 ms against 34.1 / 31.6 with row sizes (v5 code on a v5 copy
of the file, runs alternated; both at 20,000 rows), and LoCoMo turn recall@10 through the default path rose from
0.748 to 0.763 on the tuning conversations (`benchmarks/bench_locomo.py default --split tuning`).

The budget: bm25() costs ~0.6-1 µs a row without row sizes. At 200k memories (benchmarks/bench_memory.py, LoCoMo
questions with inflections, k=60) episodic recall ranks all 60 in context, and its hybrid recall@10 against the same
recall over every row (dense search exact in both) was 0.991 at 8,000 rows, 0.998 at 12,000, 0.999 at 16,000 and
1.000 at 20,000 and 32,000 (`bench_memory.py --budgets 8000,12000,16000,20000,32000`); the store's lexical search
took 14.0 / 9.8 ms at 12,000 against 14.4 / 15.1 at 20,000 (the base command, two runs each, the same hour); 12,000
it is. (With row sizes, before v6: 0.987 at 16,000, 0.993 at 20,000, 1.000 at 32,000.)

Why no MaxScore proof: bm25() of a query is the sum of its phrases' contributions, each at most (k1 + 1) * idf, so
the most common words whose bounds add up to less than the k-th best score could be left to complete scores with
the top k provably exact. At k=60 that proof needs a median of ~20,600 rows scored in a 200k tier (~10,200 even
with each word's true maximum as its bound: the "MaxScore floor" figure of that script), past the budget, and the
k-th best score to prune by took a statement of its own (~2 ms) that saved fewer rows than it cost: without it,
lexical recall p50 was 17.2 ms against 18.9 at 200k, 13.6 against 14.4 at 60k (interleaved, same run), at the same
recall. Any word the proof would have left to complete scores is searched instead, so no result is less exact.
Those figures are from before v6. Without row sizes the proof needs a median of 5,963 rows (4,257 with true
maxima), but the budget's search already scores a median of 6,880 (that line of the script, 2026-12-07): no rows left to
save for the statement that finds the k-th best score.

Words in at least half of the partition's rows (and in over MIN_LEFT_OUT_ROWS) are left out when the query has
others: bm25() floors their IDF at 1e-6, so they add at most 2.2e-6 to a score (and rank rows holding only them
after every other row), while counting their rows for that IDF costs more than the rest of the search.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from collections.abc import Sequence


#: Words in at least half of a table's rows and in more than this many are left out (see above).
MIN_LEFT_OUT_ROWS = 2_000
#: The words searched stop before their rows would pass this many (by document frequencies); see above.
MAX_SEARCHED_ROWS = 12_000
#: Query words whose rows add up to at most this many are ranked by one `ORDER BY bm25() LIMIT k` query.
ONE_QUERY_ROWS = MAX_SEARCHED_ROWS
#: The document frequencies of at most this many own tables are cached, of at most this many terms each.
MAX_CACHED_TABLES = 64
MAX_CACHED_TERMS = 65_536


@dataclass
class _Counts:
    stamp: tuple[object, ...]
    df: dict[str, int] = field(default_factory=dict)


@dataclass
class TermCache:
    """Document frequencies per own FTS5 table, each valid while the table is unchanged: the stamp is the
    tenant's write counter (bumped by every write of the store, in any process) and the table's averages and
    structure records (FTS5 rewrites both on every write, by any writer)."""

    tables: OrderedDict[str, _Counts] = field(default_factory=OrderedDict)

    def counts(self, conn: sqlite3.Connection, table: str, tenant: str) -> tuple[int, dict[str, int]]:
        """The table's row count and its cached document frequencies (emptied if the table changed)."""
        stamp, rows = _state(conn, table, tenant)
        cached = self.tables.get(table)
        if cached is None or cached.stamp != stamp or len(cached.df) > MAX_CACHED_TERMS:
            cached = self.tables[table] = _Counts(stamp)
            while len(self.tables) > MAX_CACHED_TABLES:
                self.tables.popitem(last=False)
        self.tables.move_to_end(table)
        return rows, cached.df


def _state(conn: sqlite3.Connection, table: str, tenant: str) -> tuple[tuple[object, ...], int]:
    """What every write of the table's rows changes, by any process (the tenant's write counter, and the table's
    averages and structure records, which FTS5 rewrites on every write), and the table's row count."""
    blocks = dict(conn.execute(f"SELECT id, block FROM {table}_data WHERE id IN (1, 10)").fetchall())
    written = conn.execute("SELECT version FROM tenant_state WHERE tenant = ?", (tenant,)).fetchone()
    return (written, blocks.get(1), blocks.get(10)), (_varint(blocks[1]) if 1 in blocks else 0)


class Beside:
    """A second connection to the store's file and the one thread that reads on it, so `_best` runs its two
    statements at once: at 200k memories on 2 cores the store's lexical search took 14 ms instead of 25
    (benchmarks/bench_memory.py). Each statement reads in a read transaction of its own connection; the two
    snapshots are compared (`_state`) and the statement is read again on the caller's connection when a write
    landed between them, so a search never mixes two states of the table. The caller serialises its use (the
    store's lexical lock); `close` waits for a read still running."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="contextwise-lexical")

    def read(self, sql: str, params: Sequence[object], table: str,
             tenant: str) -> Future[tuple[tuple[object, ...], list[tuple[int, float]]]]:
        """The rows of `sql` and the table's state they were read in, read in the thread."""
        def run() -> tuple[tuple[object, ...], list[tuple[int, float]]]:
            self.conn.execute("BEGIN")
            try:
                return _state(self.conn, table, tenant)[0], self.conn.execute(sql, params).fetchall()
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
        return self._pool.submit(run)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.conn.close()


def shared_search(conn: sqlite3.Connection, scope_token: str, terms: Sequence[str], k: int, clause: str,
                  params: Sequence[object]) -> list[tuple[int, float]]:
    """The best `k` (rowid, score) of a partition in `records_fts`: bm25() over every matching row, best first,
    ties by rowid (the scope column weighs 0)."""
    sql = ("SELECT records_fts.rowid, -bm25(records_fts, 1.0, 0.0) FROM records_fts "
           "JOIN records r ON r.rowid = records_fts.rowid "
           f"WHERE records_fts MATCH ? AND {clause} ORDER BY bm25(records_fts, 1.0, 0.0), records_fts.rowid LIMIT ?")
    match = f'scope : "{scope_token}" AND ' + text_query(terms)
    return [(int(r), float(s)) for r, s in conn.execute(sql, (match, *params, k))]


def search(conn: sqlite3.Connection, table: str, terms: Sequence[str], k: int, clause: str,
           params: Sequence[object], cache: TermCache, *, tenant: str,
           beside: Beside | None = None) -> list[tuple[int, float]]:
    """The best `k` (rowid, score) of an own table for `terms` (distinct, lower-cased words), best first, ties by
    rowid: bm25() of FTS5, negated (higher is better), computed for the rows holding the rarer words only once the
    words' rows pass ONE_QUERY_ROWS (with `beside`, in two statements at once; see the module docstring)."""
    rows, df = _frequencies(conn, table, terms, cache, tenant)
    rest = sorted(_words(terms, rows, df), key=lambda t: (df[t], t))  # rarest first
    if not rest:
        return []
    if sum(df[t] for t in rest) <= ONE_QUERY_ROWS:  # few enough rows to score them all, in one query
        return _scored(conn, table, text_query(_common_first(rest, df)), clause, params, k)
    searched = [rest.pop(0)]
    while rest and sum(df[t] for t in searched) + df[rest[0]] <= MAX_SEARCHED_ROWS:
        searched.append(rest.pop(0))
    common = text_query(_common_first(rest, df)) if rest else None  # these only complete the scores of the rows found
    return _best(conn, table, text_query(_common_first(searched, df)), common, clause, params, k, beside=beside,
                 tenant=tenant)


def _words(terms: Sequence[str], rows: int, df: dict[str, int]) -> list[str]:
    """The terms searched: every term some row holds, less those in over MIN_LEFT_OUT_ROWS rows and at least half
    of them (bm25() gives them an IDF of 1e-6) if that leaves any."""
    held = [t for t in terms if df[t] > 0]
    return [t for t in held if df[t] < rows / 2 or df[t] <= MIN_LEFT_OUT_ROWS] or held


def _common_first(terms: Sequence[str], df: dict[str, int]) -> list[str]:
    """`terms` in the one phrase order every query uses: most common first, then by the word."""
    return sorted(terms, key=lambda t: (-df[t], t))


def _scoring(table: str, clause: str) -> str:
    """The SELECT of (rowid, bm25() negated: higher is better) of the rows of `table` matching `?` and `clause`."""
    join = "" if clause == "1" else f" JOIN records r ON r.rowid = {table}.rowid"
    return f"SELECT {table}.rowid, -bm25({table}) FROM {table}{join} WHERE {table} MATCH ? AND {clause}"


def _top(table: str, clause: str, k: int) -> str:
    """The SELECT of the best `k` (rowid, score) of the rows of `table` matching `?` and `clause`, ties by rowid."""
    return f"{_scoring(table, clause)} ORDER BY 2 DESC, 1 LIMIT {int(k)}"


def _scored(conn: sqlite3.Connection, table: str, match: str, clause: str, params: Sequence[object],
            k: int) -> list[tuple[int, float]]:
    """The best `k` (rowid, score) of the rows matching `match`, ties by rowid."""
    return [(int(r), float(s)) for r, s in conn.execute(_top(table, clause, k), (match, *params))]


def _best(conn: sqlite3.Connection, table: str, match: str, common: str | None, clause: str,
          params: Sequence[object], k: int, *, beside: Beside | None, tenant: str) -> list[tuple[int, float]]:
    """The best `k` (rowid, score) of the rows matching `match`, ties by rowid, every score bm25()'s over every
    phrase of `(common) AND (match)`: the k best of the rows holding both, and the k best of `match` alone
    (`_merged`). SQLite runs the statements outside Python's lock, beside the caller's other threads, and only the
    k best rows of each cross into Python: one after the other, or with `beside` one on each connection at once
    (the thread's read again here if its snapshot differs)."""
    if common is None:
        return _scored(conn, table, match, clause, params, k)
    sql = _top(table, clause, k)  # executed here, not through _scored: benchmarks/bench_memory.py counts those
    alone, holding = (match, *params), (f"{common} AND {match}", *params)
    if beside is None:
        return _merged(conn.execute(sql, holding).fetchall(), conn.execute(sql, alone).fetchall(), k)
    aside = beside.read(sql, alone, table, tenant)
    try:
        rows = conn.execute(sql, holding).fetchall()
        seen = _state(conn, table, tenant)[0]
    except BaseException:
        wait([aside])  # the other connection is the caller's again only once its read has ended
        raise
    seen_aside, rows_aside = aside.result()
    if seen_aside != seen:  # a write landed between the two snapshots: this transaction's rows, here
        rows_aside = conn.execute(sql, alone).fetchall()
    return _merged(rows, rows_aside, k)


def _merged(holding: Sequence[tuple[int, float]], alone: Sequence[tuple[int, float]],
            k: int) -> list[tuple[int, float]]:
    """The best `k` of the k best rows holding the common and the rarer words (`holding`, scored by every phrase)
    and the k best by the rarer words alone (`alone`), a row in both taking its score in `holding`.

    Exact: a row lacking the common words scores in `alone` as by every phrase (the phrases it lacks add 0.0), and
    if it ranks among the k best, fewer than k rows score above it by every phrase, so fewer than k do by the rarer
    words alone (a common word only adds to a score): it is among the k best of `alone`. A row holding both ranks
    in `holding` by every phrase. A row of `alone` that holds a common word yet is not in `holding` scores less
    there than by every phrase (each common word adds at least idf 1e-6 times its share), which is at most the
    k-th score of a `holding` of k rows (with fewer, `holding` is every row holding both): k rows rank above it."""
    scores = {int(r): float(s) for r, s in alone}
    scores.update((int(r), float(s)) for r, s in holding)
    return sorted(scores.items(), key=lambda row: (-row[1], row[0]))[:k]


def _frequencies(conn: sqlite3.Connection, table: str, terms: Sequence[str], cache: TermCache,
                 tenant: str) -> tuple[int, dict[str, int]]:
    """The table's row count and how many of its rows hold each term (bm25()'s count for the term's IDF)."""
    rows, df = cache.counts(conn, table, tenant)
    missing = [t for t in terms if t not in df]
    if missing:
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{table}_vocab USING fts5vocab(main, {table}, row)")
        marks = ",".join("?" * len(missing))
        counted = dict(conn.execute(f"SELECT term, doc FROM temp.{table}_vocab WHERE term IN ({marks})", missing))
        for t in missing:
            df[t] = int(counted[t]) if t in counted else _phrase_rows(conn, table, t)
    return rows, {t: df[t] for t in terms}


def _phrase_rows(conn: sqlite3.Connection, table: str, term: str) -> int:
    """Rows holding `term` as FTS5 reads it (a term FTS5 splits into several tokens is a phrase)."""
    sql = f"SELECT count(*) FROM {table} WHERE {table} MATCH ?"
    return int(conn.execute(sql, (text_query([term]),)).fetchone()[0])


def _varint(blob: bytes) -> int:
    """The first SQLite varint of an FTS5 record (the averages record starts with the row count)."""
    value = 0
    for n, byte in enumerate(blob[:9]):
        if n == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return value


def text_query(terms: Sequence[str]) -> str:
    """An FTS5 query for rows whose text holds any of `terms` (never the pad column: see _sqlite_schema v6)."""
    return "text : (" + " OR ".join(map(quote, terms)) + ")"


def quote(term: str) -> str:
    """A term as an FTS5 string (a phrase of the words FTS5's tokenizer finds in it)."""
    return '"' + term.replace('"', '""') + '"'
