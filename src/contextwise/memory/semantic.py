"""Semantic memory: facts with source, confidence and category; learned from text, compared with what is known
(ADD / UPDATE / DELETE / NOOP), every change kept in a history that can be undone.

Learning is a sans-I/O job: `LearnJob.plan()` says what it needs (a model answer, or the stored facts similar
to its candidates) and `apply()` takes it; `SemanticMemory.learn` and `alearn` are the two short drivers.
"""

from __future__ import annotations

import inspect
import uuid
import warnings
from dataclasses import dataclass, field, replace
from typing import Any
from collections.abc import Sequence

import numpy as np

from contextwise import _sansio
from contextwise.errors import UsageError
from contextwise.stores._errors import WriteConflictError
from contextwise.memory._base import (
    Entry, MemoryBackend, Mode, OpStats, Recalled, RecallWeights, Timer, check_text, maybe_await,
)
from contextwise.memory.episodic import arecall_tier, recall_tier
from contextwise.memory._rules import is_correction
from contextwise.memory.facts import (
    Candidate, FactDecision, InvalidAnswer, Neighbour, dated, decide_messages, decide_options, extract_messages,
    extract_options, parse_decisions, parse_extraction, retry_messages, rule_decide, rule_extract, slot_of,
)
from contextwise.types import ChatOptions, Completion, Message, Usage

# A live fact: not deleted and still true (superseded and ended facts stay stored as history, `current` False).
_LIVE = {"deleted": {"$ne": True}, "current": {"$ne": False}}
_KEPT = {"deleted": {"$ne": True}}
_CAS_ATTEMPTS = 32  # a compare-and-set write re-planned this often loses to writers that many times in a row
HISTORY_TIER = "fact_history"


@dataclass(frozen=True)
class Fact:
    """A stored fact."""

    id: str
    text: str
    category: str = "general"
    source: str = ""
    confidence: float = 0.8
    created_at: float = 0.0
    updated_at: float = 0.0
    mentions: int = 1
    #: when it became true and stopped being true (None: not known / still true), and when it was learned
    valid_from: float | None = None
    valid_to: float | None = None
    learned_at: float | None = None

    @property
    def current(self) -> bool:
        """Whether the fact is still true (not superseded or ended)."""
        return self.valid_to is None

    def valid_during(self, start: float, end: float) -> bool:
        """Whether the fact was true at some time in [start, end)."""
        return (self.valid_from is None or self.valid_from < end) and (self.valid_to is None or self.valid_to > start)


@dataclass(frozen=True)
class Change:
    """One entry of the history: the op, the fact, its text before and after, when, from where and why."""

    id: str
    op: str
    fact_id: str
    before: str | None
    after: str | None
    at: float
    source: str = ""
    reason: str = ""
    #: for SUPERSEDE: the fact the new one replaced (kept as history)
    replaces: str | None = None


@dataclass(frozen=True)
class Learned:
    """What one `learn` (or `undo`) did: a decision per extracted fact, the changes written, and the stats."""

    decisions: tuple[FactDecision, ...]
    changes: tuple[Change, ...]
    stats: OpStats


@dataclass(frozen=True)
class AskModel:
    """A step: send `messages` to the model (with `options`) and apply its Completion."""

    purpose: str
    messages: tuple[Message, ...]
    options: ChatOptions
    attempt: int = 0
    max_output_tokens: int | None = None


@dataclass(frozen=True)
class FindSimilar:
    """A step: find stored facts similar to each of `texts`, and how similar the texts are to each other."""

    texts: tuple[str, ...]


@dataclass(frozen=True)
class Similar:
    """The answer to FindSimilar: neighbours per text, and the texts' pairwise cosine matrix."""

    neighbours: tuple[tuple[Neighbour, ...], ...]
    pairwise: Any


Step = AskModel | FindSimilar


@dataclass
class LearnJob:
    """The state of learning from one text. Pure: it never calls a model or a store itself."""

    text: str
    use_model: bool
    max_retries: int = 2
    duplicate: float = 0.9
    related: float = 0.7
    #: when the text was said (seconds since the epoch): relative times in it are resolved against it
    timestamp: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    neighbours: list[tuple[Neighbour, ...]] = field(default_factory=list)
    decisions: list[FactDecision] | None = None
    warnings: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model_calls: int = 0
    _stage: str = "extract"
    _pending: Step | None = None

    def __post_init__(self) -> None:
        if not self.use_model:
            self.candidates = rule_extract(self.text, timestamp=self.timestamp)
            self._stage = "similar"

    def next_step(self) -> Step | None:
        """Deprecated: `plan` (every sans-I/O job plans and applies)."""
        warnings.warn("LearnJob.next_step was renamed plan", DeprecationWarning, stacklevel=2)
        return self.plan()

    def plan(self) -> Step | None:
        """What the job needs next (a model call, or similar stored facts), or None when its decisions are ready."""
        if self._pending is not None:
            return self._pending
        if self._stage == "extract":
            self._pending = AskModel("extract", tuple(extract_messages(self.text, timestamp=self.timestamp)),
                                     extract_options())
        elif self._stage == "similar":
            if not self.candidates:
                self.decisions, self._stage = [], "done"
                return None
            self._pending = FindSimilar(tuple(c.text for c in self.candidates))
        elif self._stage == "decide":
            self._pending = AskModel("decide", tuple(decide_messages(self.candidates, self.neighbours)),
                                     decide_options())
        return self._pending

    def apply(self, step: Step, answer: Completion | Similar) -> None:
        """Take the answer to `step`."""
        if step is not self._pending:
            raise UsageError("apply() takes the answer to the step plan() returned")
        self._pending = None
        if isinstance(step, FindSimilar):
            if not isinstance(answer, Similar):
                raise UsageError(f"the answer to FindSimilar is a Similar, got {type(answer).__name__}")
            self._merge_duplicates(answer)
            return
        if not isinstance(answer, Completion):
            raise UsageError(f"the answer to a model step is a Completion, got {type(answer).__name__}; an async "
                             "model's answer must be awaited (use alearn)")
        self.model_calls += 1
        self.usage = self.usage + answer.usage
        try:
            if step.purpose == "extract":
                correction = is_correction(self.text)
                self.candidates = [dated(replace(c, correction=correction), self.timestamp)
                                   for c in _storable(parse_extraction(answer.text))]
                self._stage = "similar"
            else:
                self.decisions = parse_decisions(answer.text, self.candidates, self.neighbours)
                self._stage = "done"
        except RecursionError:  # JSON nested thousands deep: an invalid answer like any other
            self._retry_or_fall_back(step, answer.text, "the JSON is nested too deeply")
        except InvalidAnswer as exc:
            self._retry_or_fall_back(step, answer.text, str(exc))

    def _retry_or_fall_back(self, step: AskModel, answer: str, error: str) -> None:
        if step.attempt < self.max_retries:
            messages = tuple(retry_messages(step.messages, answer, error))
            self._pending = AskModel(step.purpose, messages, step.options, step.attempt + 1)
            return
        self.warnings.append(f"the model's {step.purpose} answer was invalid {step.attempt + 1} times "
                             f"({error}); the rule-based {step.purpose} was used instead")
        if step.purpose == "extract":
            self.candidates, self._stage = rule_extract(self.text, timestamp=self.timestamp), "similar"
        else:
            self._decide_by_rules()

    def _merge_duplicates(self, similar: Similar) -> None:
        """Candidates nearly identical to an earlier one in the same text are merged into it."""
        keep = [i for i in range(len(self.candidates))
                if not any(similar.pairwise[i, j] >= self.duplicate for j in range(i))]
        self.candidates = [self.candidates[i] for i in keep]
        self.neighbours = [similar.neighbours[i] for i in keep]
        if self.use_model and any(self.neighbours):
            self._stage = "decide"
        else:
            self._decide_by_rules()

    def _decide_by_rules(self) -> None:
        self.decisions = [rule_decide(c, n, duplicate=self.duplicate, related=self.related)
                          for c, n in zip(self.candidates, self.neighbours)]
        self._stage = "done"


class SemanticMemory:
    """Facts learned from text, each change recorded.

    Args:
        backend: the tenant's MemoryBackend.
        model: a ChatModel (or AsyncChatModel for `alearn`) that extracts and decides; None uses the rules.
        max_retries: how often an invalid model answer is sent back for correction before the rules take over.
        duplicate / related: cosine thresholds for "the same fact" and "about the same thing".
    """

    tier = "semantic"

    def __init__(self, backend: MemoryBackend, *, model: Any = None, max_retries: int = 2,
                 duplicate: float = 0.9, related: float = 0.7, weights: RecallWeights | None = None,
                 k_similar: int = 5) -> None:
        self.backend = backend
        self.model = model
        self.max_retries = max_retries
        self.duplicate, self.related = duplicate, related
        self.weights = weights or RecallWeights()
        self.k_similar = k_similar

    # -- learning -------------------------------------------------------------------------------------------

    def start(self, text: str, *, timestamp: float | None = None) -> LearnJob:
        """A learning job for `text` said at `timestamp` (default: now), for drivers of your own."""
        when = self.backend.clock() if timestamp is None else _check_time(timestamp)
        return LearnJob(check_text(text, self.backend.max_text_chars), self.model is not None, self.max_retries,
                        self.duplicate, self.related, when)

    def learn(self, text: str, *, source: str = "", timestamp: float | None = None) -> Learned:
        """Extract facts from `text`, decide each against what is stored, and write the changes.

        `timestamp` is when the text was said (seconds since the epoch; default now): "yesterday" in it is the
        day before, and a fact it supersedes stopped being true then.

        Raises:
            UsageError: bad text, or an async model or store (use `alearn`); nothing is written.
        """
        _check_model(self.model, async_driver=False)
        timer, job = Timer("semantic.learn"), self.start(text, timestamp=timestamp)
        _sansio.run(job, self.model, answer_other=lambda step: self.similar(step.texts))
        return self._finish(job, self._commit(job.decisions or [], source, job.timestamp), timer)

    async def alearn(self, text: str, *, source: str = "", timestamp: float | None = None) -> Learned:
        """The async driver of `learn`: awaits an AsyncChatModel, an AsyncEmbedder and an AsyncVectorStore
        (sync ones are called as they are); the same pure job and commit plan as `learn`.

        Raises:
            UsageError: bad text, or a sync model (use `learn`); nothing is written.
        """
        _check_model(self.model, async_driver=True)
        timer, job = Timer("semantic.learn"), self.start(text, timestamp=timestamp)
        await _sansio.arun(job, self.model, answer_other=lambda step: self.asimilar(step.texts))
        return self._finish(job, await self._acommit(job.decisions or [], source, job.timestamp), timer)

    def remember(self, text: str, *, category: str = "general", source: str = "",
                 timestamp: float | None = None, confidence: float = 1.0) -> Learned:
        """Store `text` as a fact as it is: no extraction and no decision (a fact you already know to be true).

        Raises:
            UsageError: empty or oversized text, an unknown category, or a bad timestamp or confidence.
        """
        from contextwise.memory.facts import CATEGORIES

        timer, text = Timer("semantic.remember"), check_text(text, self.backend.max_text_chars)
        if category not in CATEGORIES:
            raise UsageError(f"category must be one of {', '.join(CATEGORIES)}, got {category!r}")
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
            raise UsageError(f"confidence must be a number in [0, 1], got {confidence!r}")
        said = None if timestamp is None else _check_time(timestamp)
        decision = FactDecision(Candidate(text, category, float(confidence)), "ADD", None, text, "remembered as given")
        changes = self._commit([decision], source, said)
        return Learned((decision,), tuple(changes), timer.stats(tokens=self.backend.counter.count(text)))

    def similar(self, texts: Sequence[str]) -> Similar:
        """Stored live facts similar to each text, and the texts' pairwise similarity."""
        vectors = self.backend.embedder.embed(list(texts), kind="document")
        found = [self.backend.search(self.tier, t, self.k_similar, mode="dense", where=_LIVE) for t in texts]
        slots = [self._slot_mates(t) for t in texts]
        return self._similar(texts, found, slots, vectors)

    async def asimilar(self, texts: Sequence[str]) -> Similar:
        """The async twin of `similar`."""
        vectors = await maybe_await(self.backend.embedder.embed(list(texts), kind="document"))
        found = [await self.backend.asearch(self.tier, t, self.k_similar, mode="dense", where=_LIVE) for t in texts]
        slots = [await self._aslot_mates(t) for t in texts]
        return self._similar(texts, found, slots, vectors)

    def _slot_mates(self, text: str) -> list[Any]:
        """The live facts setting the same single-valued attribute as `text` ("moved to Paris" and "lives in
        Lyon" are far apart for an embedder, and one ends the other)."""
        slot = slot_of(text)
        return [] if slot is None else self.backend.scan(self.tier, {**_LIVE, "slot": slot[0]})

    async def _aslot_mates(self, text: str) -> list[Any]:
        slot = slot_of(text)
        return [] if slot is None else await self.backend.ascan(self.tier, {**_LIVE, "slot": slot[0]})

    def _similar(self, texts: Sequence[str], found: Sequence[Sequence[tuple[Any, float]]],
                 slots: Sequence[Sequence[Any]], vectors: Any) -> Similar:
        neighbours = []
        for hits, mates, vector in zip(found, slots, vectors):
            near = [Neighbour(r.id, r.text, s) for r, s in hits if s >= min(self.related, 0.5)]
            known = {n.id for n in near}
            near += [Neighbour(r.id, r.text, float(np.dot(vector, r.vector)) if r.vector is not None else 0.0)
                     for r in mates if r.id not in known]
            neighbours.append(tuple(near))
        return Similar(tuple(neighbours), np.asarray(vectors) @ np.asarray(vectors).T)

    def _finish(self, job: LearnJob, changes: list[Change], timer: Timer) -> Learned:
        cost = _cost(self.model, job.usage) if job.model_calls else None
        tokens = self.backend.counter.count(job.text)
        stats = timer.stats(tokens=tokens, model_calls=job.model_calls, usage=job.usage, cost_usd=cost,
                            warnings=job.warnings)
        return Learned(tuple(job.decisions or ()), tuple(changes), stats)

    def _commit(self, decisions: Sequence[FactDecision], source: str, said: float | None) -> list[Change]:
        """Write every fact change and its history entry in one atomic write, compare-and-set against the
        versions of the facts the changes were planned on: a fact changed meanwhile (another thread or process;
        its text, or only its metadata, as a supersede does) is read again and the change re-planned, so each
        UPDATE's `before` is exactly the text it replaced, and a decision about a fact superseded meanwhile
        applies to its successor (one current fact, never two)."""
        for attempt in range(_CAS_ATTEMPTS):
            decisions, found = self._latest(decisions)
            entries, changes, expect = self._plan_commit(decisions, found, source, said)
            try:
                self.backend.write(entries, expect=expect)
                return changes
            except WriteConflictError:
                if attempt == _CAS_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _latest(self, decisions: Sequence[FactDecision]) -> tuple[list[FactDecision], list[Any]]:
        """The decisions retargeted from superseded facts to their current successors, and those records."""
        decisions = list(decisions)
        for _ in range(_CAS_ATTEMPTS):
            found = self.backend.get([d.target_id for d in decisions if d.target_id])
            moved = _successors(found)
            if not moved:
                return decisions, found
            decisions = [_retarget(d, moved) for d in decisions]
        return decisions, found

    async def _alatest(self, decisions: Sequence[FactDecision]) -> tuple[list[FactDecision], list[Any]]:
        decisions = list(decisions)
        for _ in range(_CAS_ATTEMPTS):
            found = await self.backend.aget([d.target_id for d in decisions if d.target_id])
            moved = _successors(found)
            if not moved:
                return decisions, found
            decisions = [_retarget(d, moved) for d in decisions]
        return decisions, found

    async def _acommit(self, decisions: Sequence[FactDecision], source: str, said: float | None) -> list[Change]:
        """The async twin of `_commit`."""
        for attempt in range(_CAS_ATTEMPTS):
            decisions, found = await self._alatest(decisions)
            entries, changes, expect = self._plan_commit(decisions, found, source, said)
            try:
                await self.backend.awrite(entries, expect=expect)
                return changes
            except WriteConflictError:
                if attempt == _CAS_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _plan_commit(self, decisions: Sequence[FactDecision], found: Sequence[Any], source: str, said: float | None
                     ) -> tuple[list[Entry], list[Change], dict[str, str | int | None]]:
        """The entries to write, the changes they record, and the texts they must still find. Pure."""
        now = self.backend.clock()
        stored = {r.id: r for r in found}
        entries: list[Entry] = []
        changes: list[Change] = []
        touched: set[str] = set()
        for d in decisions:
            if d.target_id and d.target_id in touched:
                continue  # a second decision on one stored fact in one text (a model's): the first one stands
            touched.add(d.target_id or "")
            written, change = self._apply_decision(d, stored.get(d.target_id or ""), source, now, said)
            entries += written
            if change is not None:
                changes.append(change)
                entries.append(_history_entry(change))
        expect: dict[str, str | int | None] = {r.id: _seen(r) for r in stored.values()}
        return entries, changes, expect

    def _apply_decision(self, d: FactDecision, old: Any, source: str, now: float,
                        said: float | None) -> tuple[list[Entry], Change | None]:
        if d.op == "ADD" or old is None:
            entry = self._new_fact(d, source, now, said)
            return [entry], _change("ADD", entry.id, None, d.text, now, source, d)
        meta = dict(old.metadata)
        meta.pop("tier", None)
        meta.update(updated_at=now, created_at=old.created_at)
        if d.op == "NOOP":
            meta.update(mentions=int(meta.get("mentions", 1)) + 1,
                        confidence=max(float(meta.get("confidence", 0)), d.candidate.confidence))
            return [Entry(self.tier, old.id, old.text, meta)], None
        if d.op in ("DELETE", "SUPERSEDE"):
            # The old fact stopped being true when the new text says (or when it was said); it stays as history.
            meta.update(current=False, valid_to=d.candidate.valid_from if d.candidate.valid_from is not None
                        else said)
            if d.op == "DELETE":
                return [Entry(self.tier, old.id, old.text, meta)], _change("DELETE", old.id, old.text, None, now,
                                                                         source, d)
            new = self._new_fact(d, source, now, said, valid_from=meta["valid_to"])
            meta["superseded_by"] = new.id
            return [Entry(self.tier, old.id, old.text, meta), new], _change(
                "SUPERSEDE", new.id, old.text, d.text, now, source, d, replaces=old.id)
        meta.update(source=source or meta.get("source", ""), confidence=d.candidate.confidence, learned_at=said,
                    **_slot_meta(d.text))
        if d.candidate.valid_from is not None:
            meta["valid_from"] = d.candidate.valid_from
        return [Entry(self.tier, old.id, d.text, meta)], _change("UPDATE", old.id, old.text, d.text, now, source, d)

    def _new_fact(self, d: FactDecision, source: str, now: float, said: float | None,
                  valid_from: float | None = None) -> Entry:
        meta: dict[str, Any] = {
            "category": d.candidate.category, "confidence": d.candidate.confidence, "source": source,
            "created_at": now, "updated_at": now, "mentions": 1, "importance": d.candidate.confidence,
            "learned_at": said, "current": True, **_slot_meta(d.text)}
        start = d.candidate.valid_from if d.candidate.valid_from is not None else valid_from
        if start is not None:
            meta["valid_from"] = start
        return Entry(self.tier, self.backend.new_id(self.tier), d.text, meta)

    # -- reading, history and undo --------------------------------------------------------------------------

    def recall(self, query: str, k: int = 5, *, mode: Mode = "hybrid",
               during: tuple[float, float] | None = None) -> Recalled:
        """The `k` facts most relevant to `query`: the ones true now, or the ones true at some time `during`
        [start, end) (seconds since the epoch), superseded ones included. A query naming a year ("where did she
        live in 2022?") is read as `during` that year when `during` is not given.

        >>> mem.recall("where did she live in 2022?").items[0].text  # doctest: +SKIP
        'The user lives in Lyon.'
        """
        period = during if during is not None else asked_period(query)
        if period is None:
            return recall_tier(self.backend, self.tier, query, k, self.weights, mode=mode, where=_LIVE)
        start, end = _check_period(period)
        pool = recall_tier(self.backend, self.tier, query, k * 4, self.weights, mode=mode, where=_KEPT)
        kept = tuple(i for i in pool.items if _valid_during(i.metadata, start, end))[:k]
        return Recalled(kept, pool.stats)

    async def arecall(self, query: str, k: int = 5, *, mode: Mode = "hybrid",
                      during: tuple[float, float] | None = None) -> Recalled:
        """The async twin of `recall`."""
        period = during if during is not None else asked_period(query)
        if period is None:
            return await arecall_tier(self.backend, self.tier, query, k, self.weights, mode=mode, where=_LIVE)
        start, end = _check_period(period)
        pool = await arecall_tier(self.backend, self.tier, query, k * 4, self.weights, mode=mode, where=_KEPT)
        return Recalled(tuple(i for i in pool.items if _valid_during(i.metadata, start, end))[:k], pool.stats)

    def facts(self, *, at: float | None = None) -> list[Fact]:
        """Every fact true now (or true at time `at`, superseded ones included), oldest first."""
        if at is None:
            return [_fact(r) for r in self.backend.scan(self.tier, _LIVE)]
        when = _check_time(at)
        return [f for f in map(_fact, self.backend.scan(self.tier, _KEPT)) if f.valid_during(when, when + 1e-6)]

    def get(self, ids: Sequence[str]) -> list[Fact]:
        """The facts with these ids that are true now, in the order asked (deleted, superseded and ended facts,
        and ids of anything else, left out): one read of those ids, whatever the number of facts."""
        from contextwise.stores._filter import matches, parse_where

        live = parse_where(_LIVE)
        return [_fact(r) for r in self.backend.get(list(ids))
                if r.metadata.get("tier") == self.tier and matches(live, r.metadata)]

    def history(self, fact_id: str | None = None) -> list[Change]:
        """The changes (of one fact, or of all), oldest first."""
        where = {"fact_id": fact_id} if fact_id else None
        changes = [_change_from(r) for r in self.backend.scan(HISTORY_TIER, where)]
        return sorted(changes, key=lambda c: (c.at, c.id))

    def undo(self, change_id: str) -> Learned:
        """Reverse one change (ADD → the fact is deleted, UPDATE → the old text is back, DELETE → restored);
        the reversal is itself recorded, and is the result's one change.

        Raises:
            UsageError: no such change, or its fact is no longer stored (nothing is written).
        """
        timer = Timer("semantic.undo")
        found = [c for c in self.history() if c.id == change_id]
        if not found:
            raise UsageError(f"no change {change_id!r} in this memory's history")
        change = found[0]
        old = self.backend.get([change.fact_id])
        if not old:
            raise UsageError(f"the fact {change.fact_id!r} of change {change_id!r} is no longer stored")
        meta = {k: v for k, v in old[0].metadata.items() if k != "tier"}
        meta.update(updated_at=self.backend.clock(), created_at=old[0].created_at)
        text = old[0].text
        extra: list[Entry] = []
        if change.op in ("ADD", "SUPERSEDE"):
            meta["deleted"] = True
            if change.op == "SUPERSEDE" and change.replaces:
                extra = [_reopened(r, self.backend.clock()) for r in self.backend.get([change.replaces])]
        elif change.op == "DELETE":
            meta = _reopened(old[0], self.backend.clock()).metadata  # type: ignore[assignment]
        elif change.op == "UPDATE":
            text = change.before or text
        reverse = Change(f"change:{uuid.uuid4().hex}", f"UNDO_{change.op}", change.fact_id, old[0].text,
                         None if meta.get("deleted") else text, self.backend.clock(), "", f"undo of {change_id}")
        self.backend.write([Entry(self.tier, change.fact_id, text, meta), *extra, _history_entry(reverse)],
                           expect={change.fact_id: _seen(old[0])})  # a concurrent change makes undo fail, not lie
        return Learned((), (reverse,), timer.stats(tokens=self.backend.counter.count(text)))


def _seen(record: Any) -> str | int:
    """What a compare-and-set must find of `record` still: its version, or its text from a store that keeps
    no versions (a third-party one)."""
    version = getattr(record, "version", 0)
    return version if isinstance(version, int) and version > 0 else str(record.text)


def _successors(found: Sequence[Any]) -> dict[str, str]:
    """Superseded facts among `found` -> the facts that replaced them."""
    return {r.id: str(r.metadata["superseded_by"]) for r in found
            if r.metadata.get("current") is False and r.metadata.get("superseded_by")}


def _check_model(model: Any, *, async_driver: bool) -> None:
    """A sync model in the async driver, or an async one in the sync driver, is the caller's mistake."""
    if model is None:
        return
    is_async = inspect.iscoroutinefunction(getattr(model, "complete", None))
    if is_async and not async_driver:
        raise UsageError(f"{type(model).__name__} is an async model: call alearn / aobserve, not learn / observe")
    if async_driver and not is_async:
        raise UsageError(f"{type(model).__name__} is a sync model: call learn / observe, not alearn / aobserve")


def _storable(candidates: list[Candidate]) -> list[Candidate]:
    """The model's facts, if every store can hold their text; else InvalidAnswer (so the model is asked again)."""
    from contextwise.stores._core import check_storable

    for c in candidates:
        try:
            check_storable("(fact)", c.text, "text")
        except UsageError as exc:
            raise InvalidAnswer(f"a fact's text cannot be stored ({exc}); write plain text") from exc
    return candidates

def _reopened(record: Any, now: float) -> Entry:
    """A fact made current again (its end and successor forgotten)."""
    meta = {k: v for k, v in record.metadata.items() if k not in ("tier", "valid_to", "superseded_by")}
    meta.update(deleted=False, current=True, updated_at=now, created_at=record.created_at)
    return Entry(SemanticMemory.tier, record.id, record.text, meta)


def asked_period(query: str) -> tuple[float, float] | None:
    """The calendar year a query asks about ("... in 2022?", "back in 2019"), as [start, end), or None."""
    import re

    from contextwise.memory._when import year_span

    m = re.search(r"\b(?:in|during|back in|around|of|since|by)\s+(?:[A-Z][a-z]+\s+)?((?:19|20)\d\d)\b", query)
    return year_span(int(m.group(1))) if m else None


def _valid_during(meta: Any, start: float, end: float) -> bool:
    since, until = _time(meta.get("valid_from")), _time(meta.get("valid_to"))
    return (since is None or since < end) and (until is None or until > start)


def _check_period(period: Any) -> tuple[float, float]:
    if not isinstance(period, tuple) or len(period) != 2:
        raise UsageError(f"during must be a (start, end) pair of seconds since the epoch, got {period!r}")
    start, end = _check_time(period[0]), _check_time(period[1])
    if end <= start:
        raise UsageError(f"during must end after it starts, got {period!r}")
    return start, end


def _change(op: str, fact_id: str, before: str | None, after: str | None, at: float, source: str,
            d: FactDecision, *, replaces: str | None = None) -> Change:
    return Change(f"change:{uuid.uuid4().hex}", op, fact_id, before, after, at, source, d.reason, replaces)


def _history_entry(change: Change) -> Entry:
    meta = {"op": change.op, "fact_id": change.fact_id, "before": change.before or "",
            "after": change.after or "", "at": change.at, "source": change.source, "reason": change.reason,
            "created_at": change.at, "replaces": change.replaces or ""}
    return Entry(HISTORY_TIER, change.id, f"{change.op} {change.fact_id}", meta, embed=False)


def _change_from(record: Any) -> Change:
    m = record.metadata
    return Change(record.id, m["op"], m["fact_id"], m.get("before") or None, m.get("after") or None,
                  float(m["at"]), m.get("source", ""), m.get("reason", ""), m.get("replaces") or None)


def _fact(record: Any) -> Fact:
    m = record.metadata
    return Fact(record.id, record.text, m.get("category", "general"), m.get("source", ""),
                float(m.get("confidence", 0.8)), record.created_at, float(m.get("updated_at", record.created_at)),
                int(m.get("mentions", 1)), _time(m.get("valid_from")), _time(m.get("valid_to")),
                _time(m.get("learned_at")))


def _slot_meta(text: str) -> dict[str, str]:
    slot = slot_of(text)
    return {"slot": slot[0][:200]} if slot else {}


def _time(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _check_time(timestamp: Any) -> float:
    import math

    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp) \
            or not 0 <= timestamp < 1e11:
        raise UsageError(f"timestamp must be seconds since the epoch (a finite number >= 0), got {timestamp!r}")
    return float(timestamp)


def _cost(model: Any, usage: Usage) -> float | None:
    from contextwise.errors import UnknownBackendError
    from contextwise.models import cost

    try:
        return cost(usage, getattr(model, "name", "")).total_usd
    except UnknownBackendError:
        return None  # a local or unlisted model: no price to give


def _retarget(decision: FactDecision, moved: dict[str, str]) -> FactDecision:
    """The decision aimed at its target's current successor (unchanged when it has none, or no target)."""
    target = decision.target_id
    return decision if target is None or target not in moved else replace(decision, target_id=moved[target])
