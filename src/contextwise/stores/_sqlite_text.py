"""Lexical search in the SQLite store: FTS5's bm25() ranking, evaluated only on the rows that can reach the top k.

Why: FTS5's `ORDER BY bm25()` scores every row matching any query word, and bm25() first counts each phrase's
rows for its IDF, the scope token's too (every row of the tier). At 200k memories a question's words match half
the tier, so one search took seconds. Here FTS5 finds the rows (no ranking function), and the same BM25 is
computed in Python with MaxScore pruning: the query's rare terms are looked up first; their rows are scored in
full; once the k-th best score is above the most the remaining (common) terms could add together to a row that has
none of the rare ones (each term adds less than idf * (k1 + 1)), no other row can enter the top k, and the rows
matching only common terms are never read. The scores are bm25()'s to the last bit: the same statistics (the
file's row count and mean length from FTS5's averages record, each row's length from its docsize record, the
document frequency of each phrase, cached until the file changes), the same constants and the same order of
floating-point operations.

When that proof needs more rows than MAX_SCORED_ROWS, the search stops there: common terms then only score the
rows that hold a rarer one, as Lucene's CommonTermsQuery does, and a row holding only common words can be missed.
At 200k memories (benchmarks/bench_memory.py, LoCoMo questions, depth 60) that kept recall@10 at 0.98 against
bm25() over every row, 2.4x faster; a tier whose words are all rare enough is ranked exactly.

The Python scoring needs each candidate's tokens as FTS5's unicode61 tokenizer makes them. Where its rules are
simple they are applied here: runs of [A-Za-z0-9], case-folded, every other character a separator, which holds for
ASCII text and for text whose other characters are punctuation, symbols (emoji) or spaces. Any other text ("café",
"日本語", a combining accent) is handed to unicode61 itself: written to a temporary FTS5 table of this connection
and read back through fts5vocab, so its tokens are FTS5's exactly.

A file of at most SQL_MAX_ROWS rows skips all this: bm25() in SQL is cheaper there (the same ranking).
"""

from __future__ import annotations

import math
import re
import sqlite3
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from collections.abc import Sequence

import numpy as np

#: FTS5's bm25() constants (ext/fts5/fts5_aux.c).
K1, B = 1.2, 0.75
#: A file of at most this many rows is ranked by bm25() in SQL: every phrase's IDF count and every match are
#: cheap there, and C beats the Python scoring (LoCoMo-sized tiers: benchmarks/bench_locomo.py default).
SQL_MAX_ROWS = 20_000
#: The first round reads the rarest terms' rows, up to this many by their document frequencies (at least one term).
FIRST_ROUND_ROWS = 2_000
#: Later rounds read more terms' rows while the rows read stay within this many (by document frequencies); past
#: it the common terms only score the rows read (as Lucene's CommonTermsQuery does), unless fewer than k were found.
MAX_SCORED_ROWS = 6_000
#: The document-frequency cache holds at most this many terms (it is emptied whenever the file changes).
MAX_CACHED_TERMS = 65_536

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
_ASCII_RUN = re.compile(r"[\x00-\x7f]+")


@dataclass
class TermCache:
    """Document frequencies per FTS5 phrase, valid while the file is unchanged (`stamp`: the connection's data
    version and the store's own write count)."""

    stamp: tuple[int, int] | None = None
    df: dict[str, int] = field(default_factory=dict)


class _Fallback(Exception):
    """This search needs bm25() in SQL."""


def search(conn: sqlite3.Connection, scope_token: str, terms: Sequence[str], k: int, clause: str,
           params: Sequence[object], cache: TermCache, writes: int) -> list[tuple[int, float]]:
    """The best `k` (rowid, score) of the scope for `terms` (distinct, lower-cased words), best first, ties by
    rowid: bm25() of FTS5 with weight 1 for text and 0 for the scope column, negated (higher is better)."""
    try:
        return _pruned(conn, scope_token, terms, k, clause, params, cache, writes)
    except _Fallback:
        return sql_search(conn, scope_token, terms, k, clause, params)


def sql_search(conn: sqlite3.Connection, scope_token: str, terms: Sequence[str], k: int, clause: str,
               params: Sequence[object]) -> list[tuple[int, float]]:
    """The same ranking by bm25() in SQL, over every matching row (only rowids and scores are sorted)."""
    sql = ("SELECT records_fts.rowid, -bm25(records_fts, 1.0, 0.0) FROM records_fts "
           "JOIN records r ON r.rowid = records_fts.rowid "
           f"WHERE records_fts MATCH ? AND {clause} ORDER BY bm25(records_fts, 1.0, 0.0), records_fts.rowid LIMIT ?")
    return [(int(r), float(s)) for r, s in conn.execute(sql, (_match(scope_token, terms), *params, k))]


def _pruned(conn: sqlite3.Connection, scope_token: str, terms: Sequence[str], k: int, clause: str,
            params: Sequence[object], cache: TermCache, writes: int) -> list[tuple[int, float]]:
    averages = conn.execute("SELECT block FROM records_fts_data WHERE id = 1").fetchone()
    if averages is None:
        return []
    sizes = _varints(averages[0])
    rows, tokens = sizes[0], sum(sizes[1:])
    if rows <= 0:
        return []
    if rows <= SQL_MAX_ROWS:
        raise _Fallback  # a small file: bm25() over every matching row is cheaper than reading texts here
    avgdl = float(tokens) / float(rows)
    phrases = [fts_tokens(conn, t) for t in terms]
    df = _document_frequencies(conn, terms, cache, writes)
    # bm25()'s IDF, floored as bm25() floors it; a phrase found nowhere adds nothing and is not searched.
    live = [i for i, t in enumerate(terms) if df[t] > 0 and phrases[i]]
    idf = {i: _idf(rows, df[terms[i]]) for i in live}
    order = sorted(live, key=lambda i: (df[terms[i]], i))  # rarest first
    scored: dict[int, float] = {}
    searched: list[int] = []
    essential = _within(order, df, terms, FIRST_ROUND_ROWS, at_least_one=True)
    while essential:
        found = _candidates(conn, scope_token, [terms[i] for i in essential], [terms[i] for i in searched],
                            clause, params)
        scored.update(zip((row[0] for row in found), _scores(conn, found, live, phrases, idf, avgdl)))
        searched += essential
        rest = [i for i in order if i not in searched]
        threshold = sorted(scored.values(), reverse=True)[k - 1] if len(scored) >= k else 0.0
        # A row holding none of the searched terms holds at most the rest, each adding below idf * (k1 + 1):
        # the most common ones whose bounds add up to less than the k-th best score cannot lift a row into the
        # top k, and are never searched. The others are, rarest first, while the row budget lasts.
        ceiling = 0.0
        while rest and (ceiling + idf[rest[-1]] * (K1 + 1.0)) * (1 + 1e-9) < threshold:
            ceiling += idf[rest.pop()] * (K1 + 1.0)
        essential = _within(rest, df, terms, MAX_SCORED_ROWS - sum(df[terms[i]] for i in searched))
        if rest and not essential and len(scored) < k:
            raise _Fallback  # fewer than k rows hold the rarer words, and the common ones are too many to read
    best = sorted(scored.items(), key=lambda item: (-item[1], item[0]))[:k]
    return best


def _within(order: Sequence[int], df: dict[str, int], terms: Sequence[str], budget: int, *,
            at_least_one: bool = False) -> list[int]:
    """The first terms of `order` whose document frequencies add up to at most `budget`."""
    out: list[int] = []
    for i in order:
        if budget < df[terms[i]] and not (at_least_one and not out):
            break
        out.append(i)
        budget -= df[terms[i]]
    return out


def _document_frequencies(conn: sqlite3.Connection, terms: Sequence[str], cache: TermCache,
                          writes: int) -> dict[str, int]:
    """How many rows of the file hold each phrase in their text (bm25()'s count for its IDF), cached while the
    file is unchanged."""
    stamp = (int(conn.execute("PRAGMA data_version").fetchone()[0]), writes)
    if cache.stamp != stamp or len(cache.df) > MAX_CACHED_TERMS:
        cache.stamp, cache.df = stamp, {}
    for t in terms:
        if t not in cache.df:
            sql = "SELECT count(*) FROM records_fts WHERE records_fts MATCH ?"
            cache.df[t] = int(conn.execute(sql, (f"text : {quote(t)}",)).fetchone()[0])
    return {t: cache.df[t] for t in terms}


def _candidates(conn: sqlite3.Connection, scope_token: str, terms: Sequence[str], done: Sequence[str],
                clause: str, params: Sequence[object]) -> list[tuple[int, str, bytes]]:
    """(rowid, text, docsize record) of the scope's rows holding any of `terms` and none of `done` (those were
    read in an earlier round), filtered by `clause`."""
    if not terms:
        return []
    match = _match(scope_token, terms) + (" NOT text : (" + " OR ".join(map(quote, done)) + ")" if done else "")
    sql = ("SELECT r.rowid, r.text, (SELECT sz FROM records_fts_docsize WHERE id = r.rowid) FROM records_fts "
           f"JOIN records r ON r.rowid = records_fts.rowid WHERE records_fts MATCH ? AND {clause}")
    return conn.execute(sql, (match, *params)).fetchall()


def _scores(conn: sqlite3.Connection, rows: Sequence[tuple[int, str, bytes | None]], live: Sequence[int],
            phrases: Sequence[list[str]], idf: dict[int, float], avgdl: float) -> list[float]:
    """bm25() of each row, in bm25()'s order of operations (phrases in query order, each row's length from its
    docsize record), vectorised over the rows."""
    if not rows:
        return []
    if any(row[2] is None for row in rows):
        raise _Fallback  # a table made without column sizes
    words = _words(phrases, live)
    counts = [_counts(conn, row[1], words) for row in rows]
    length = np.array([_length(row[2]) for row in rows], dtype=np.float64)  # type: ignore[arg-type]
    norm = K1 * (1 - B + B * length / avgdl)
    score = np.zeros(len(rows), dtype=np.float64)
    for i in live:
        phrase = phrases[i]
        if len(phrase) == 1:
            freq = np.array([c.get(phrase[0], 0) for c in counts], dtype=np.float64)
        else:
            freq = np.array([_occurrences(fts_tokens(conn, row[1]), phrase) for row in rows], dtype=np.float64)
        score += idf[i] * ((freq * (K1 + 1.0)) / (freq + norm))
    return [float(x) for x in score]


def _words(phrases: Sequence[list[str]], live: Sequence[int]) -> re.Pattern[str] | None:
    """One pattern finding the query's one-token phrases as whole tokens of simple (see fts_tokens) text."""
    words = sorted({phrases[i][0] for i in live if len(phrases[i]) == 1}, key=lambda w: (-len(w), w))
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, words)) + r")(?![a-z0-9])") if words else None


def _counts(conn: sqlite3.Connection, text: str, words: re.Pattern[str] | None) -> Counter[str]:
    """How often each one-token phrase of the query occurs in `text`, as FTS5 tokenizes it: in simple text,
    by one pattern over the text (about half the time of tokenizing it); in other text, from its tokens."""
    if _simple(text):
        return Counter(words.findall(text.lower())) if words is not None else Counter()
    return Counter(fts_tokens(conn, text))


def _length(size: bytes) -> int:
    """A row's length in tokens (all columns) from its docsize record; two one-byte varints, usually."""
    if len(size) == 2 and size[0] < 0x80 and size[1] < 0x80:
        return size[0] + size[1]
    return sum(_varints(size))


def fts_tokens(conn: sqlite3.Connection, text: str) -> list[str]:
    """The tokens FTS5's unicode61 tokenizer makes of `text`, in order."""
    if _simple(text):
        return _ASCII_TOKEN.findall(text.lower())
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.cw_tokens USING fts5(text, tokenize='unicode61')")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.cw_tokens_vocab USING fts5vocab(temp, cw_tokens, instance)")
    conn.execute("INSERT INTO temp.cw_tokens (rowid, text) VALUES (1, ?)", (text,))
    try:
        return [row[0] for row in conn.execute("SELECT term FROM temp.cw_tokens_vocab WHERE doc = 1 ORDER BY offset")]
    finally:
        conn.execute("DELETE FROM temp.cw_tokens WHERE rowid = 1")


def _simple(text: str) -> bool:
    """Whether unicode61 tokenizes `text` as runs of [a-z0-9] after lower-casing: it is ASCII, or each of its other
    characters is a separator (punctuation, symbols such as emoji, spaces, controls; not letters, digits, marks
    or private use)."""
    return text.isascii() or all(unicodedata.category(c)[0] in "PSZC" and unicodedata.category(c) != "Co"
               for c in _ASCII_RUN.sub("", text))


def _occurrences(tokens: list[str], phrase: list[str]) -> int:
    if len(phrase) == 1:
        return tokens.count(phrase[0])
    n = len(phrase)
    return sum(1 for s in range(len(tokens) - n + 1) if tokens[s:s + n] == phrase)


def _idf(rows: int, hits: int) -> float:
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return value if value > 0.0 else 1e-6


def _varints(blob: bytes) -> list[int]:
    """The SQLite varints in `blob` (FTS5 records: big-endian 7-bit groups, the ninth byte whole)."""
    out, i = [], 0
    while i < len(blob):
        value = 0
        for n in range(9):
            byte = blob[i]
            i += 1
            if n == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        out.append(value)
    return out


def _match(scope_token: str, terms: Sequence[str]) -> str:
    return f'scope : "{scope_token}" AND text : (' + " OR ".join(map(quote, terms)) + ")"


def quote(term: str) -> str:
    """A term as an FTS5 string (a phrase of the words FTS5's tokenizer finds in it)."""
    return '"' + term.replace('"', '""') + '"'
