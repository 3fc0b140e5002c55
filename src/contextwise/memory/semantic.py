"""Semantic memory: facts with source, confidence and category; learned from text, compared with what is known
(ADD / UPDATE / DELETE / NOOP), every change kept in a history that can be undone.

Learning is a sans-I/O job: `LearnJob.next_step()` says what it needs (a model answer, or the stored facts similar
to its candidates) and `apply()` takes it; `SemanticMemory.learn` and `alearn` are the two short drivers.
"""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

import numpy as np

from contextwise.errors import UsageError
from contextwise.stores._errors import WriteConflictError
from contextwise.memory._base import (
    Entry, MemoryBackend, Mode, OpStats, Recalled, RecallWeights, Timer, check_text, maybe_await,
)
from contextwise.memory.episodic import arecall_tier, recall_tier
from contextwise.memory.facts import (
    Candidate, Decision, InvalidAnswer, Neighbour, decide_messages, decide_options, extract_messages,
    extract_options, parse_decisions, parse_extraction, retry_messages, rule_decide, rule_extract,
)
from contextwise.types import ChatOptions, Completion, Message, Usage

_LIVE = {"deleted": {"$ne": True}}
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


@dataclass(frozen=True)
class Learned:
    """What one `learn` (or `undo`) did: a decision per extracted fact, the changes written, and the stats."""

    decisions: tuple[Decision, ...]
    changes: tuple[Change, ...]
    stats: OpStats


@dataclass(frozen=True)
class AskModel:
    """A step: send `messages` to the model (with `options`) and apply its Completion."""

    purpose: str
    messages: tuple[Message, ...]
    options: ChatOptions
    attempt: int = 0


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
    candidates: list[Candidate] = field(default_factory=list)
    neighbours: list[tuple[Neighbour, ...]] = field(default_factory=list)
    decisions: list[Decision] | None = None
    warnings: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model_calls: int = 0
    _stage: str = "extract"
    _pending: Step | None = None

    def __post_init__(self) -> None:
        if not self.use_model:
            self.candidates = rule_extract(self.text)
            self._stage = "similar"

    def next_step(self) -> Step | None:
        """What the job needs next, or None when its decisions are ready."""
        if self._pending is not None:
            return self._pending
        if self._stage == "extract":
            self._pending = AskModel("extract", tuple(extract_messages(self.text)), extract_options())
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
            raise UsageError("apply() takes the answer to the step next_step() returned")
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
                self.candidates, self._stage = _storable(parse_extraction(answer.text)), "similar"
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
            self.candidates, self._stage = rule_extract(self.text), "similar"
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

    def start(self, text: str) -> LearnJob:
        """A learning job for `text` (for drivers of your own)."""
        return LearnJob(check_text(text, self.backend.max_text_chars), self.model is not None, self.max_retries,
                        self.duplicate, self.related)

    def learn(self, text: str, *, source: str = "") -> Learned:
        """Extract facts from `text`, decide each against what is stored, and write the changes.

        Raises:
            UsageError: bad text, or an async model or store (use `alearn`); nothing is written.
        """
        _check_model(self.model, async_driver=False)
        timer, job = Timer("semantic.learn"), self.start(text)
        while (step := job.next_step()) is not None:
            answer = self.similar(step.texts) if isinstance(step, FindSimilar) else self.model.complete(
                list(step.messages), options=step.options)
            job.apply(step, answer)
        return self._finish(job, self._commit(job.decisions or [], source), timer)

    async def alearn(self, text: str, *, source: str = "") -> Learned:
        """The async driver of `learn`: awaits an AsyncChatModel, an AsyncEmbedder and an AsyncVectorStore
        (sync ones are called as they are); the same pure job and commit plan as `learn`.

        Raises:
            UsageError: bad text, or a sync model (use `learn`); nothing is written.
        """
        _check_model(self.model, async_driver=True)
        timer, job = Timer("semantic.learn"), self.start(text)
        while (step := job.next_step()) is not None:
            answer = await self.asimilar(step.texts) if isinstance(step, FindSimilar) else \
                await self.model.complete(list(step.messages), options=step.options)
            job.apply(step, answer)
        return self._finish(job, await self._acommit(job.decisions or [], source), timer)

    def similar(self, texts: Sequence[str]) -> Similar:
        """Stored live facts similar to each text, and the texts' pairwise similarity."""
        vectors = self.backend.embedder.embed(list(texts), kind="document")
        found = [self.backend.search(self.tier, t, self.k_similar, mode="dense", where=_LIVE) for t in texts]
        return self._similar(found, vectors)

    async def asimilar(self, texts: Sequence[str]) -> Similar:
        """The async twin of `similar`."""
        vectors = await maybe_await(self.backend.embedder.embed(list(texts), kind="document"))
        found = [await self.backend.asearch(self.tier, t, self.k_similar, mode="dense", where=_LIVE) for t in texts]
        return self._similar(found, vectors)

    def _similar(self, found: Sequence[Sequence[tuple[Any, float]]], vectors: Any) -> Similar:
        neighbours = tuple(tuple(Neighbour(r.id, r.text, s) for r, s in hits if s >= min(self.related, 0.5))
                           for hits in found)
        return Similar(neighbours, np.asarray(vectors) @ np.asarray(vectors).T)

    def _finish(self, job: LearnJob, changes: list[Change], timer: Timer) -> Learned:
        cost = _cost(self.model, job.usage) if job.model_calls else None
        tokens = self.backend.counter.count(job.text)
        stats = timer.stats(tokens=tokens, model_calls=job.model_calls, usage=job.usage, cost_usd=cost,
                            warnings=job.warnings)
        return Learned(tuple(job.decisions or ()), tuple(changes), stats)

    def _commit(self, decisions: Sequence[Decision], source: str) -> list[Change]:
        """Write every fact change and its history entry in one atomic write, compare-and-set against the texts
        the changes were planned on: a fact changed meanwhile (another thread or process) is read again and
        the change re-planned, so each UPDATE's `before` is exactly the text it replaced."""
        targets = [d.target_id for d in decisions if d.target_id]
        for attempt in range(_CAS_ATTEMPTS):
            entries, changes, expect = self._plan_commit(decisions, self.backend.get(targets), source)
            try:
                self.backend.write(entries, expect=expect)
                return changes
            except WriteConflictError:
                if attempt == _CAS_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acommit(self, decisions: Sequence[Decision], source: str) -> list[Change]:
        """The async twin of `_commit`."""
        targets = [d.target_id for d in decisions if d.target_id]
        for attempt in range(_CAS_ATTEMPTS):
            entries, changes, expect = self._plan_commit(decisions, await self.backend.aget(targets), source)
            try:
                await self.backend.awrite(entries, expect=expect)
                return changes
            except WriteConflictError:
                if attempt == _CAS_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _plan_commit(self, decisions: Sequence[Decision], found: Sequence[Any], source: str
                     ) -> tuple[list[Entry], list[Change], dict[str, str | None]]:
        """The entries to write, the changes they record, and the texts they must still find. Pure."""
        now = self.backend.clock()
        stored = {r.id: r for r in found}
        entries: list[Entry] = []
        changes: list[Change] = []
        for d in decisions:
            entry, change = self._apply_decision(d, stored.get(d.target_id or ""), source, now)
            if entry is not None:
                entries.append(entry)
            if change is not None:
                changes.append(change)
                entries.append(_history_entry(change))
        expect: dict[str, str | None] = {r.id: r.text for r in stored.values()}
        return entries, changes, expect

    def _apply_decision(self, d: Decision, old: Any, source: str, now: float) -> tuple[Entry | None,
                                                                                         Change | None]:
        if d.op == "ADD" or old is None:
            fact_id = self.backend.new_id(self.tier)
            meta = {"category": d.candidate.category, "confidence": d.candidate.confidence, "source": source,
                    "created_at": now, "updated_at": now, "mentions": 1, "importance": d.candidate.confidence}
            return Entry(self.tier, fact_id, d.text, meta), _change("ADD", fact_id, None, d.text, now, source, d)
        meta = dict(old.metadata)
        meta.pop("tier", None)
        meta.update(updated_at=now, created_at=old.created_at)
        if d.op == "NOOP":
            meta.update(mentions=int(meta.get("mentions", 1)) + 1,
                        confidence=max(float(meta.get("confidence", 0)), d.candidate.confidence))
            return Entry(self.tier, old.id, old.text, meta), None
        if d.op == "DELETE":
            meta["deleted"] = True
            return Entry(self.tier, old.id, old.text, meta), _change("DELETE", old.id, old.text, None, now, source,
                                                                   d)
        meta.update(source=source or meta.get("source", ""), confidence=d.candidate.confidence)
        return Entry(self.tier, old.id, d.text, meta), _change("UPDATE", old.id, old.text, d.text, now, source, d)

    # -- reading, history and undo --------------------------------------------------------------------------

    def recall(self, query: str, k: int = 5, *, mode: Mode = "hybrid") -> Recalled:
        """The `k` live facts most relevant to `query`."""
        return recall_tier(self.backend, self.tier, query, k, self.weights, mode=mode, where=_LIVE)

    async def arecall(self, query: str, k: int = 5, *, mode: Mode = "hybrid") -> Recalled:
        """The async twin of `recall`."""
        return await arecall_tier(self.backend, self.tier, query, k, self.weights, mode=mode, where=_LIVE)

    def facts(self) -> list[Fact]:
        """Every live fact, oldest first."""
        return [_fact(r) for r in self.backend.scan(self.tier, _LIVE)]

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
        if change.op == "ADD":
            meta["deleted"] = True
        elif change.op == "DELETE":
            meta["deleted"] = False
        elif change.op == "UPDATE":
            text = change.before or text
        reverse = Change(f"change:{uuid.uuid4().hex}", f"UNDO_{change.op}", change.fact_id, old[0].text,
                         None if meta.get("deleted") else text, self.backend.clock(), "", f"undo of {change_id}")
        self.backend.write([Entry(self.tier, change.fact_id, text, meta), _history_entry(reverse)],
                           expect={change.fact_id: old[0].text})  # a concurrent change makes undo fail, not lie
        return Learned((), (reverse,), timer.stats(tokens=self.backend.counter.count(text)))


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


def _change(op: str, fact_id: str, before: str | None, after: str | None, at: float, source: str,
            d: Decision) -> Change:
    return Change(f"change:{uuid.uuid4().hex}", op, fact_id, before, after, at, source, d.reason)


def _history_entry(change: Change) -> Entry:
    meta = {"op": change.op, "fact_id": change.fact_id, "before": change.before or "",
            "after": change.after or "", "at": change.at, "source": change.source, "reason": change.reason,
            "created_at": change.at}
    return Entry(HISTORY_TIER, change.id, f"{change.op} {change.fact_id}", meta, embed=False)


def _change_from(record: Any) -> Change:
    m = record.metadata
    return Change(record.id, m["op"], m["fact_id"], m.get("before") or None, m.get("after") or None,
                  float(m["at"]), m.get("source", ""), m.get("reason", ""))


def _fact(record: Any) -> Fact:
    m = record.metadata
    return Fact(record.id, record.text, m.get("category", "general"), m.get("source", ""),
                float(m.get("confidence", 0.8)), record.created_at, float(m.get("updated_at", record.created_at)),
                int(m.get("mentions", 1)))


def _cost(model: Any, usage: Usage) -> float | None:
    from contextwise.errors import UnknownBackendError
    from contextwise.models import cost

    try:
        return cost(usage, getattr(model, "name", "")).total_usd
    except UnknownBackendError:
        return None  # a local or unlisted model: no price to give

