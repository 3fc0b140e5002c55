"""Saved llama.cpp KV states on disk: one file per state, an SQLite index, a byte budget, a tenant partition.

A state is llama.cpp's sequence-state bytes for the first n tokens of a prompt. Its file is

    b"CWKVSTA1" | sha256(body) (32 bytes) | body
    body = header length (u32 LE) | header (JSON) | tokens (int32 LE) | state bytes

and the header names the fingerprint (what the bytes depend on: model file, window, batch, build), the tenant
and the token count. A file is written to a temporary name in its directory and renamed into place, so a reader
sees a whole file or none; a file that is torn anyway (a power cut before the data reached the disk), changed,
or made for another model, build, window or tenant fails its checks and is removed, and the lookup is a miss.

Files live under `<root>/<sha256(tenant)[:32]>/<fingerprint[:16]>/`: a tenant's lookups read only its own
directory and index rows, and a file's header must name the tenant too. The budget is one for the whole cache
(it bounds the disk used); eviction goes least recently used or least frequently used first, by the bytes
each file really takes on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from collections.abc import Sequence

import numpy as np

from contextwise import _sqlite
from contextwise._paths import cache_dir, read_checked, write_checked
from contextwise.errors import StoreError, UsageError
from contextwise.stores._core import check_tenant

MAGIC = b"CWKVSTA1"
_DIGEST = 32
_HEAD = struct.Struct("<I")
#: Prompts agree on at least this many leading tokens before a saved state is worth looking at (the index keys
#: states by a hash of them).
HEAD_TOKENS = 16
#: Files a crashed writer left behind are removed once this old (a live writer renames its file sooner).
STALE_S = 600.0
Policy = Literal["lru", "lfu"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_states (
    tenant TEXT NOT NULL, fingerprint TEXT NOT NULL, key TEXT NOT NULL, head TEXT NOT NULL,
    n_tokens INTEGER NOT NULL, tokens BLOB NOT NULL, bytes INTEGER NOT NULL, created REAL NOT NULL,
    last_used REAL NOT NULL, uses INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, fingerprint, key));
CREATE INDEX IF NOT EXISTS kv_states_head ON kv_states (tenant, fingerprint, head);
CREATE TABLE IF NOT EXISTS kv_scenarios (
    tenant TEXT NOT NULL, scenario_id TEXT NOT NULL, system TEXT NOT NULL, common_context TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (tenant, scenario_id));
"""


@dataclass(frozen=True)
class KVStateEntry:
    """One saved state: whose, for which fingerprint, how many tokens, its real size on disk, how used."""

    tenant: str
    fingerprint: str
    key: str
    n_tokens: int
    bytes: int
    last_used: float
    uses: int
    path: Path

    @property
    def bytes_per_token(self) -> float:
        """The file's bytes over its tokens (header and token ids included)."""
        return self.bytes / self.n_tokens


@dataclass(frozen=True)
class KVFound:
    """The saved state sharing the longest prefix with a prompt: `common_tokens` of its tokens match."""

    entry: KVStateEntry
    common_tokens: int


@dataclass(frozen=True)
class KVState:
    """A verified state read back: its tokens and llama.cpp's bytes (a buffer ctypes can share)."""

    tokens: tuple[int, ...]
    data: bytearray


@dataclass(frozen=True)
class KVCacheStats:
    """What the cache holds, and what this process's lookups did (refused: a file failed its checks)."""

    entries: int
    bytes: int
    budget_bytes: int
    hits: int
    misses: int
    refused: int
    saves: int
    evictions: int


@dataclass(frozen=True)
class Scenario:
    """A precomputed scenario: the system prompt and the context every request of it shares."""

    scenario_id: str
    system: str
    common_context: str

    @property
    def system_text(self) -> str:
        """The one system message a scenario's prompts start with: the system prompt, a blank line, the
        common context (the system prompt alone when there is none)."""
        return f"{self.system}\n\n{self.common_context}" if self.common_context else self.system


class KVStateCache:
    """Saved KV states of the local model on disk (see the module docstring); safe across threads and processes.

    >>> states = KVStateCache(tmp_path, budget_bytes=2 * 1024**3, policy="lru")  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, budget_bytes: int = 4 * 1024**3,
                 policy: Policy = "lru") -> None:
        """Args:
            path: the directory; default `cache_dir()/kv`.
            budget_bytes: the most bytes all saved files may take together; older (lru) or less used (lfu)
                states are removed to make room, and a state larger than the whole budget is not saved.
            policy: "lru" or "lfu" (ties broken by age).

        Raises:
            UsageError: a bad budget or policy.
            StoreError: the directory or its index cannot be opened.
        """
        if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int) or budget_bytes < 1:
            raise UsageError(f"budget_bytes must be a positive int, got {budget_bytes!r}")
        if policy not in ("lru", "lfu"):
            raise UsageError(f"policy must be 'lru' or 'lfu', got {policy!r}")
        self.root = Path(path) if path is not None else cache_dir() / "kv"
        self.budget_bytes, self.policy = budget_bytes, policy
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "refused": 0, "saves": 0, "evictions": 0}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._db = _sqlite.connect(self.root / "index.sqlite", durable=False)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the KV state cache at {self.root}: {exc}", backend="kv") from exc
        self._sweep()

    # -- lookups ----------------------------------------------------------------------------------------------

    def find(self, tenant: str, fingerprint: str, tokens: Sequence[int]) -> KVFound | None:
        """The tenant's state for `fingerprint` that shares the longest prefix with `tokens` (the smaller file
        on a tie); None when none shares HEAD_TOKENS."""
        tenant = check_tenant(tenant)
        if len(tokens) < HEAD_TOKENS:
            return None
        wanted = np.asarray(tokens, dtype=np.int32)
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT key, n_tokens, tokens, bytes, last_used, uses FROM kv_states "
                    "WHERE tenant = ? AND fingerprint = ? AND head = ?",
                    (tenant, fingerprint, _head(wanted))).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the KV state index in {self.root}: {exc}", backend="kv") from exc
        best: KVFound | None = None
        for key, n_tokens, blob, size, last_used, uses in rows:
            saved = np.frombuffer(blob, dtype="<i4")
            common = _common(saved, wanted)
            if best is None or (common, -size) > (best.common_tokens, -best.entry.bytes):
                entry = KVStateEntry(tenant, fingerprint, key, n_tokens, size, last_used, uses,
                                     self._file(tenant, fingerprint, key))
                best = KVFound(entry, common)
        return best

    def load(self, entry: KVStateEntry) -> KVState | None:
        """The state's tokens and bytes after every check (checksum, header, tenant, fingerprint, tokens); a
        file that fails one is removed and None returned. Counts a use (for the policy) when it passes."""
        state = self._read(entry)
        with self._lock:
            if state is None:
                self._counts["refused"] += 1
                self._drop(entry.tenant, entry.fingerprint, entry.key)
                return None
            self._db.execute("UPDATE kv_states SET last_used = ?, uses = uses + 1 "
                             "WHERE tenant = ? AND fingerprint = ? AND key = ?",
                             (time.time(), entry.tenant, entry.fingerprint, entry.key))
        return state

    def count(self, hit: bool) -> None:
        """Count one lookup of this process as a hit or a miss (for `stats`)."""
        with self._lock:
            self._counts["hits" if hit else "misses"] += 1

    # -- saving -----------------------------------------------------------------------------------------------

    def save(self, tenant: str, fingerprint: str, tokens: Sequence[int], data: bytes | bytearray) -> \
            KVStateEntry | None:
        """Save the state of `tokens` (written whole, then renamed into place; an existing one for the same
        tokens is replaced) and evict to fit the budget; None when the file alone exceeds the budget.

        Raises:
            StoreError: the file could not be written (nothing is left behind).
        """
        tenant = check_tenant(tenant)
        ids = np.asarray(tokens, dtype="<i4")
        if len(ids) < HEAD_TOKENS or not data:
            raise UsageError(f"a saved state needs at least {HEAD_TOKENS} tokens and some bytes")
        key = hashlib.sha256(ids.tobytes()).hexdigest()[:32]
        path = self._file(tenant, fingerprint, key)
        header = json.dumps({"fingerprint": fingerprint, "tenant": tenant, "n_tokens": len(ids),
                             "state_bytes": len(data)}, sort_keys=True).encode()
        parts = (_HEAD.pack(len(header)), header, ids.tobytes(), data)
        size = len(MAGIC) + _DIGEST + sum(len(p) for p in parts)
        if size > self.budget_bytes:
            return None
        try:
            write_checked(path, parts, magic=MAGIC)
            size = path.stat().st_size
        except OSError as exc:
            raise StoreError(f"cannot write a KV state under {self.root}: {exc}", backend="kv") from exc
        now = time.time()
        with self._lock:
            try:
                self._db.execute("INSERT OR REPLACE INTO kv_states VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                                 (tenant, fingerprint, key, _head(ids), len(ids), ids.tobytes(), size, now, now))
                self._counts["saves"] += 1
                self._evict(keep=(tenant, fingerprint, key))
            except sqlite3.Error as exc:
                path.unlink(missing_ok=True)
                raise StoreError(f"cannot index a KV state in {self.root}: {exc}", backend="kv") from exc
        return KVStateEntry(tenant, fingerprint, key, len(ids), size, now, 0, path)

    def remove(self, entry: KVStateEntry) -> None:
        """Remove one saved state (file and index row)."""
        with self._lock:
            self._drop(entry.tenant, entry.fingerprint, entry.key)

    def clear(self, tenant: str) -> int:
        """Remove every state and scenario of `tenant`; the number of states removed."""
        tenant = check_tenant(tenant)
        with self._lock:
            rows = self._db.execute("SELECT fingerprint, key FROM kv_states WHERE tenant = ?", (tenant,)).fetchall()
            for fingerprint, key in rows:
                self._drop(tenant, fingerprint, key)
            self._db.execute("DELETE FROM kv_scenarios WHERE tenant = ?", (tenant,))
        return len(rows)

    # -- scenarios --------------------------------------------------------------------------------------------

    def put_scenario(self, tenant: str, scenario: Scenario) -> None:
        """Record a scenario's texts (replacing the tenant's scenario of that id)."""
        tenant = check_tenant(tenant)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO kv_scenarios VALUES (?, ?, ?, ?, ?)",
                             (tenant, scenario.scenario_id, scenario.system, scenario.common_context, time.time()))

    def scenario(self, tenant: str, scenario_id: str) -> Scenario | None:
        """The tenant's scenario of that id, if one was recorded."""
        tenant = check_tenant(tenant)
        with self._lock:
            row = self._db.execute("SELECT system, common_context FROM kv_scenarios WHERE tenant = ? AND "
                                   "scenario_id = ?", (tenant, scenario_id)).fetchone()
        return Scenario(scenario_id, row[0], row[1]) if row else None

    # -- inspection -------------------------------------------------------------------------------------------

    def entries(self, tenant: str | None = None) -> list[KVStateEntry]:
        """The saved states, of one tenant or all, least recently used first."""
        where, args = ("WHERE tenant = ?", (check_tenant(tenant),)) if tenant is not None else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT tenant, fingerprint, key, n_tokens, bytes, last_used, uses "
                                    f"FROM kv_states {where} ORDER BY last_used, rowid", args).fetchall()
        return [KVStateEntry(t, f, k, n, b, used, uses, self._file(t, f, k)) for t, f, k, n, b, used, uses in rows]

    def stats(self) -> KVCacheStats:
        """Entries and bytes on disk now, and this process's counts."""
        with self._lock:
            entries, size = self._db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM kv_states").fetchone()
            return KVCacheStats(entries, size, self.budget_bytes, **self._counts)

    def close(self) -> None:
        """Close the index."""
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"KVStateCache({str(self.root)!r}, budget_bytes={self.budget_bytes}, policy={self.policy!r})"

    # -- inside -----------------------------------------------------------------------------------------------

    def _file(self, tenant: str, fingerprint: str, key: str) -> Path:
        return self.root / hashlib.sha256(tenant.encode()).hexdigest()[:32] / fingerprint[:16] / f"{key}.kv"

    def _read(self, entry: KVStateEntry) -> KVState | None:
        found = read_checked(entry.path, magic=MAGIC)
        if found is None:
            return None
        buffer, body = found
        size, view = len(buffer), memoryview(buffer)
        start = body + _HEAD.size
        if size < start:
            return None
        (header_bytes,) = _HEAD.unpack_from(view, start - _HEAD.size)
        try:
            header = json.loads(bytes(view[start:start + header_bytes]))
        except ValueError:
            return None
        n_tokens, at = int(header.get("n_tokens", -1)), start + header_bytes
        if header.get("tenant") != entry.tenant or header.get("fingerprint") != entry.fingerprint or \
                n_tokens != entry.n_tokens or at + 4 * n_tokens + int(header.get("state_bytes", -1)) != size:
            return None
        ids = np.frombuffer(buffer, dtype="<i4", count=n_tokens, offset=at)
        if hashlib.sha256(ids.tobytes()).hexdigest()[:32] != entry.key:
            return None
        tokens = tuple(ids.tolist())
        del view, ids  # a bytearray cannot be resized while a view of it is alive
        del buffer[:at + 4 * n_tokens]  # the state bytes alone, in place
        return KVState(tokens, buffer)

    def _drop(self, tenant: str, fingerprint: str, key: str) -> None:
        self._db.execute("DELETE FROM kv_states WHERE tenant = ? AND fingerprint = ? AND key = ?",
                         (tenant, fingerprint, key))
        self._file(tenant, fingerprint, key).unlink(missing_ok=True)

    def _evict(self, *, keep: tuple[str, str, str]) -> None:
        order = "last_used, rowid" if self.policy == "lru" else "uses, last_used, rowid"
        (total,) = self._db.execute("SELECT coalesce(sum(bytes), 0) FROM kv_states").fetchone()
        if total <= self.budget_bytes:
            return
        for tenant, fingerprint, key, size in self._db.execute(
                f"SELECT tenant, fingerprint, key, bytes FROM kv_states ORDER BY {order}").fetchall():
            if total <= self.budget_bytes:
                break
            if (tenant, fingerprint, key) != keep:
                self._drop(tenant, fingerprint, key)
                self._counts["evictions"] += 1
                total -= size

    def _sweep(self) -> None:
        """Remove what crashed writers left: temporary files, and state files no index row names, once stale."""
        with self._lock:
            known = {Path(self._file(t, f, k)) for t, f, k in
                     self._db.execute("SELECT tenant, fingerprint, key FROM kv_states").fetchall()}
        cutoff = time.time() - STALE_S
        for path in self.root.glob("*/*/*"):
            try:
                if (path.suffix == ".tmp" or path.suffix == ".kv" and path not in known) and \
                        path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue


def _head(tokens: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(tokens[:HEAD_TOKENS], dtype="<i4").tobytes()).hexdigest()[:16]


def _common(a: np.ndarray, b: np.ndarray) -> int:
    """The length of the longest common prefix of two token arrays."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n
