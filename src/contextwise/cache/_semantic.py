"""The semantic tier: answers to requests that mean the same, behind the exact tier.

A candidate must share the request's frame exactly (model, sampling, tools, endpoint, tenant, namespace and the
system prompt), which is the vector-store partition it is searched in; within it, the embedded text is the last
user turn followed by the turns before it (the system prompt is matched exactly through the partition, so it
cannot be outvoted by similar wording). A neighbour is served only if its similarity reaches the threshold and
its anchors (numbers, quotes, identifiers, negation, polarity, content words) equal the new prompt's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import Sequence

import numpy as np

from contextwise.cache._anchors import anchors
from contextwise.cache._entry import Entry
from contextwise.cache._request import CacheRequest
from contextwise.cache._stores import MemoryEntries, SQLiteEntries
from contextwise.errors import UsageError
from contextwise.types import Message, Record

if TYPE_CHECKING:
    from contextwise.cache._response import Lookup, ResponseCache

# Cosine similarity a neighbour needs: calibrate() with a false-hit budget of 1% on the calibration half of the NQ
# pair set chose 0.8923 with the embedder's float32 compute, 0.8811 with its int8 compute (the default now; at 0.89
# the test half's hit rate is 0.931 instead of 0.939, false hits the same 0.0018), so 0.89 stays
# (benchmarks/bench_cache.py --semantic; how the pairs are made: benchmarks/data/cache_pairs.md).
DEFAULT_THRESHOLD = 0.89
DEFAULT_TURNS = 3
_CANDIDATES = 4


class SemanticIndex:
    """Vectors of cached prompts in a VectorStore, one partition per (tenant, namespace, frame).

    Args:
        vectors: a VectorStore (SQLiteStore, PostgresStore, InMemoryStore) of the embedder's dimensions; a store
            with `bind_embedder` is bound to the embedder, so one whose vectors another embedder made raises
            EmbedderMismatchError here rather than serving its neighbours.
        embedder: an Embedder; default the embedded ONNX all-MiniLM-L6-v2.
        threshold: the cosine similarity a neighbour needs (see `calibrate`).
        turns: how many turns (the last user turn first) are embedded.
        guard: check the anchors before serving; turning it off brings back the false hits of plain
            threshold caches.
    """

    def __init__(self, vectors: Any, *, embedder: Any = None, threshold: float = DEFAULT_THRESHOLD,
                 turns: int = DEFAULT_TURNS, guard: bool = True) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise UsageError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
        if turns < 1:
            raise UsageError(f"turns must be at least 1, got {turns}")
        from contextwise.embed import CachedEmbedder, default_embedder

        inner = embedder if embedder is not None else default_embedder()
        self.embedder = inner if isinstance(inner, CachedEmbedder) else CachedEmbedder(inner)
        bind = getattr(vectors, "bind_embedder", None)
        if bind is not None:  # another embedder's neighbours would be served as hits: refuse them up front
            bind(self.embedder.name)
        self.vectors = vectors
        self.threshold = threshold
        self.turns = turns
        self.guard = guard

    @classmethod
    def beside(cls, entries: Any, **options: Any) -> SemanticIndex:
        """An index stored next to `entries`: in the same SQLite file, or in memory for in-memory entries."""
        from contextwise.stores import InMemoryStore, SQLiteStore

        if isinstance(entries, SQLiteEntries):
            return cls(SQLiteStore(entries.path, 384), **options)
        if isinstance(entries, MemoryEntries):
            return cls(InMemoryStore(384), **options)
        raise UsageError("the semantic tier of a Redis cache needs a vector store: ResponseCache(spec, "
                         "semantic=SemanticIndex(SQLiteStore(path) or PostgresStore(dsn)))")

    # -- texts and partitions -----------------------------------------------------------------------------------

    def prompt_text(self, request: CacheRequest) -> str:
        """The text embedded for a request: the last user turn, then up to `turns - 1` turns before it."""
        return prompt_text(request.messages, self.turns)

    @staticmethod
    def partition(tenant: str, frame: str) -> str:
        """The vector-store tenant of a (tenant, frame): a prefix per tenant, so a tenant can be cleared."""
        return f"s{_short(tenant)}.{frame[:40]}"

    # -- writes and lookups -------------------------------------------------------------------------------------

    def add(self, entry: Entry) -> None:
        """Index a stored entry's prompt under its frame."""
        if not entry.prompt:
            return
        vector = self.embedder.embed([entry.prompt], kind="query")[0]
        record = Record(entry.key, entry.prompt, tuple(float(x) for x in vector), {"namespace": entry.namespace})
        self.vectors.upsert([record], tenant=self.partition(entry.tenant, entry.frame))

    def lookup(self, cache: ResponseCache, request: CacheRequest, *, tenant: str, namespace: str) -> Lookup:
        """The nearest servable entry of the request's frame, if it passes the threshold and the guard."""
        from contextwise.cache._response import Lookup

        text = self.prompt_text(request)
        if not text:
            return Lookup("", False, reason="semantic: no user turn")
        partition = self.partition(tenant, request.frame_key(tenant, namespace))
        vector = self.embedder.embed([text], kind="query")[0]
        hits = self.vectors.query(vector, _CANDIDATES, tenant=partition)
        if not hits:
            return Lookup("", False, reason="semantic: empty")
        distance = 1.0 - float(hits[0].score)
        mine = anchors(text)
        reason = f"semantic: nearest at distance {distance:.3f}, threshold {1 - self.threshold:.3f}"
        for hit in hits:
            if hit.score < self.threshold:
                break
            entry, why = cache.read(tenant, namespace, hit.record.id)
            if entry is None:
                self.vectors.delete([hit.record.id], tenant=partition)
                reason = f"semantic: nearest entry {why}"
                continue
            differs = mine.mismatch(anchors(entry.prompt)) if self.guard else None
            if differs is None:
                return Lookup("", True, "semantic", 1.0 - float(hit.score), entry=entry)
            reason = f"guard: {differs} differ"
        return Lookup("", False, distance=distance, reason=reason)

    def clear(self, tenant: str) -> None:
        """Drop every partition of `tenant`."""
        prefix = f"s{_short(tenant)}."
        for name in self.vectors.tenants():
            if name.startswith(prefix):
                self.vectors.drop_tenant(name)

    def close(self) -> None:
        """Close the vector store."""
        close = getattr(self.vectors, "close", None)
        if close is not None:
            close()


def prompt_text(messages: Sequence[Message], turns: int = DEFAULT_TURNS) -> str:
    """The last user turn, then the turns before it, newest first (system and developer messages left out).

    >>> prompt_text([Message.user("Capital of France?"), Message.assistant("Paris."), Message.user("And Spain?")])
    'user: And Spain?\\nassistant: Paris.\\nuser: Capital of France?'
    """
    talk = [m for m in messages if m.role not in ("system", "developer")]
    last_user = max((i for i, m in enumerate(talk) if m.role == "user"), default=None)
    if last_user is None:
        return ""
    chosen = talk[max(0, last_user - turns + 1): last_user + 1]
    return "\n".join(f"{m.role}: {m.text}" for m in reversed(chosen))


def _short(tenant: str) -> str:
    return hashlib.sha256(tenant.encode("utf-8", "surrogatepass")).hexdigest()[:20]


# -- calibration ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """A threshold chosen from a false-hit budget, and how it does on the pairs it was chosen on.

    `hit_rate` is the share of positive pairs served, `false_hit_rate` the share of negative pairs served; each
    `*_ci` is its 95% Wilson interval.
    """

    threshold: float
    hit_rate: float
    false_hit_rate: float
    hit_ci: tuple[float, float]
    false_hit_ci: tuple[float, float]
    positives: int
    negatives: int


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default).

    >>> [round(x, 3) for x in wilson(0, 100)]
    [0.0, 0.037]
    """
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def evaluate(similarity: np.ndarray, passes: np.ndarray, labels: np.ndarray, threshold: float) -> Calibration:
    """How a threshold (with the guard's verdicts `passes`) serves labelled pairs."""
    served = (similarity >= threshold) & passes
    pos, neg = labels, ~labels
    hits, false = int((served & pos).sum()), int((served & neg).sum())
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    return Calibration(threshold, hits / max(n_pos, 1), false / max(n_neg, 1), wilson(hits, n_pos),
                       wilson(false, n_neg), n_pos, n_neg)


def calibrate(pairs: Sequence[tuple[str, str, bool]], *, embedder: Any = None, max_false_hit_rate: float = 0.01,
              guard: bool = True, hit_slack: float = 0.01) -> Calibration:
    """A threshold for `pairs` (prompt, cached prompt, same meaning?) whose false-hit rate stays within
    `max_false_hit_rate`, with the guard applied as the cache applies it.

    Among the thresholds within the budget, the best hit rate is found; the threshold chosen is the highest
    whose hit rate is within `hit_slack` of it, so a guard that already keeps false hits down does not leave
    the similarity check at nothing. Each prompt is embedded as a one-turn conversation, as the cache does.
    """
    if not 0.0 <= max_false_hit_rate < 1.0:
        raise UsageError(f"max_false_hit_rate must be in [0, 1), got {max_false_hit_rate}")
    similarity, passes, labels = pair_scores(pairs, embedder=embedder, guard=guard)
    return choose_threshold(similarity, passes, labels, max_false_hit_rate=max_false_hit_rate, hit_slack=hit_slack)


def choose_threshold(similarity: np.ndarray, passes: np.ndarray, labels: np.ndarray, *,
                     max_false_hit_rate: float = 0.01, hit_slack: float = 0.01) -> Calibration:
    """The threshold `calibrate` chooses, from precomputed pair scores."""
    within = [evaluate(similarity, passes, labels, 1.0 + 1e-6)]
    for threshold in sorted(set(np.round(similarity, 4).tolist()), reverse=True):
        found = evaluate(similarity, passes, labels, threshold)
        if found.false_hit_rate > max_false_hit_rate:
            break
        within.append(found)
    best = max(c.hit_rate for c in within)
    return next(c for c in within if c.hit_rate >= best - hit_slack)


def pair_scores(pairs: Sequence[tuple[str, str, bool]], *, embedder: Any = None,
                guard: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cosine similarity, guard passes, label) per pair, the prompts embedded as the cache embeds them."""
    from contextwise.embed import default_embedder

    model = embedder if embedder is not None else default_embedder()
    texts = [prompt_text([Message.user(t)]) for a, b, _ in pairs for t in (a, b)]
    vectors = np.asarray(model.embed(texts, kind="query"), dtype=np.float32)
    similarity = np.einsum("ij,ij->i", vectors[0::2], vectors[1::2])
    passes = np.array([(not guard) or anchors(a).mismatch(anchors(b)) is None
                       for a, b in zip(texts[0::2], texts[1::2])], dtype=bool)
    labels = np.array([bool(label) for _, _, label in pairs], dtype=bool)
    return similarity, passes, labels
