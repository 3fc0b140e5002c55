"""Memory recall measured on LoCoMo (Maharana et al., 2024): does recall find the dialog turns a question rests on?

Each turn of a conversation is stored as one memory item (the conversation is its own tenant, a hard partition);
each question is asked once; a question's `evidence` ("D3:7": session 3, turn 7) says which turns answer it.

Definitions (k is a cut-off in the ranked list of turns recalled for the question):

- turn recall@k: the fraction of a question's evidence turns among the top k turns, averaged over questions.
- turn all@k: the share of questions whose evidence turns are all among the top k.
- session recall@k / all@k: the same over sessions: the sessions of a question's evidence turns against the
  sessions the top k turns come from (sessions are not ranked on their own).

One ranked list of max(ks) turns is fetched per question and every k reads a prefix of it. Questions with no
evidence that names a turn of their conversation are skipped and counted (`RecallReport.skipped`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from contextwise.errors import UsageError
from contextwise.memory._base import HYBRID_WEIGHTS

#: The conversations kept out of every tuning decision; figures on them are held-out figures.
HELD_OUT = ("conv-48", "conv-49", "conv-50")
#: The memory tier the turns are written to.
TIER = "episodic"
_EVIDENCE = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")
_SESSION_KEY = re.compile(r"session_(\d+)")
_DATE_FORMAT = "%I:%M %p on %d %B, %Y"


@dataclass(frozen=True)
class Turn:
    """One dialog turn: its id ("D3:7"), session number, speaker, text, the session's date, an image caption."""

    dia_id: str
    session: int
    speaker: str
    text: str
    date: str = ""
    caption: str = ""


@dataclass(frozen=True)
class Question:
    """A question with the turns that answer it.

    Attributes:
        evidence: ids of turns of this conversation, normalised ("D30:05" -> "D30:5"), without repeats.
        unmatched: evidence strings naming no turn of the conversation (malformed or absent ids).
        category: LoCoMo's category: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial.
    """

    text: str
    answer: str
    category: int
    evidence: tuple[str, ...]
    unmatched: tuple[str, ...] = ()


@dataclass(frozen=True)
class LocomoConversation:
    """One LoCoMo conversation: its id, the two speakers, every turn in order, and the questions about it."""

    sample_id: str
    speakers: tuple[str, str]
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]

    @property
    def sessions(self) -> int:
        """How many sessions hold at least one turn."""
        return len({t.session for t in self.turns})


# ---------------------------------------------------------------------------------------------------- loading


def load_locomo(path: str | Path) -> tuple[LocomoConversation, ...]:
    """Read a LoCoMo file (the `locomo10.json` layout: a list of {sample_id, conversation, qa, ...}).

    Raises:
        UsageError: the file cannot be read, is not JSON, or is not in the LoCoMo layout; the message says where.

    >>> conversations = load_locomo("locomo10.json")  # doctest: +SKIP
    >>> conversations[0].sample_id  # doctest: +SKIP
    'conv-26'
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the LoCoMo file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"the LoCoMo file {path} is not UTF-8 text (bad byte at offset {exc.start})") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"the LoCoMo file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}") from exc
    if not isinstance(data, list) or not data:
        raise UsageError(f"the LoCoMo file {path} must hold a non-empty JSON list of conversations "
                         "(the locomo10.json layout)")
    conversations = tuple(_conversation(entry, n, path) for n, entry in enumerate(data))
    ids = [c.sample_id for c in conversations]
    if len(set(ids)) != len(ids):
        raise UsageError(f"the LoCoMo file {path} repeats a sample_id; each conversation needs its own")
    return conversations


def parse_evidence(raw: str) -> list[str]:
    """Turn ids in one evidence string, normalised: "D8:6; D9:17" -> ["D8:6", "D9:17"], "D:11:26" -> ["D11:26"].

    >>> parse_evidence("D30:05 D4:4")
    ['D30:5', 'D4:4']
    """
    return [f"D{int(s)}:{int(t)}" for s, t in _EVIDENCE.findall(str(raw))]


def _conversation(entry: Any, index: int, path: Path) -> LocomoConversation:
    where = f"{path}, conversation #{index}"
    if not isinstance(entry, Mapping):
        raise UsageError(f"{where}: expected an object with sample_id, conversation and qa")
    missing = [key for key in ("sample_id", "conversation", "qa") if key not in entry]
    if missing:
        raise UsageError(f"{where}: missing {', '.join(missing)}")
    sample_id = str(entry["sample_id"])
    where = f"{path}, {sample_id}"
    body, qa = entry["conversation"], entry["qa"]
    if not isinstance(body, Mapping) or not isinstance(qa, list):
        raise UsageError(f"{where}: 'conversation' must be an object and 'qa' a list")
    turns = _turns(body, where)
    known = {t.dia_id for t in turns}
    questions = tuple(_question(item, n, known, where) for n, item in enumerate(qa))
    speakers = (str(body.get("speaker_a", "")), str(body.get("speaker_b", "")))
    return LocomoConversation(sample_id, speakers, turns, questions)


def _turns(body: Mapping[str, Any], where: str) -> tuple[Turn, ...]:
    sessions = sorted((int(m.group(1)), key) for key in body if (m := _SESSION_KEY.fullmatch(key)))
    turns: list[Turn] = []
    for number, key in sessions:
        if not isinstance(body[key], list):
            raise UsageError(f"{where}: {key} must be a list of turns")
        date = str(body.get(f"{key}_date_time", ""))
        turns += [_turn(item, number, date, f"{where}, {key}") for item in body[key]]
    if not turns:
        raise UsageError(f"{where}: no turns (expected session_1, session_2, ... lists)")
    return tuple(turns)


def _turn(item: Any, session: int, date: str, where: str) -> Turn:
    if not isinstance(item, Mapping) or not all(isinstance(item.get(k), str) for k in ("dia_id", "speaker", "text")):
        raise UsageError(f"{where}: every turn needs string dia_id, speaker and text")
    return Turn(item["dia_id"], session, item["speaker"], item["text"], date, str(item.get("blip_caption") or ""))


def _question(item: Any, index: int, known: set[str], where: str) -> Question:
    if not isinstance(item, Mapping) or not isinstance(item.get("question"), str):
        raise UsageError(f"{where}, qa #{index}: every QA item needs a 'question' string")
    raw = item.get("evidence") or []
    if not isinstance(raw, list):
        raise UsageError(f"{where}, qa #{index}: 'evidence' must be a list of dialog ids like \"D1:3\"")
    found: list[str] = []
    unmatched: list[str] = []
    for text in raw:
        ids = parse_evidence(text)
        unmatched += [str(text)] if not ids else [i for i in ids if i not in known]
        found += [i for i in ids if i in known and i not in found]
    answer = item.get("answer", item.get("adversarial_answer", ""))
    category = item.get("category", 0)
    if not isinstance(category, int) or isinstance(category, bool):
        raise UsageError(f"{where}, qa #{index}: 'category' must be a whole number, got {category!r}")
    return Question(item["question"], str(answer), category, tuple(found), tuple(unmatched))


def session_of(dia_id: str) -> int:
    """The session number of a turn id: "D3:7" -> 3."""
    return int(dia_id[1:].split(":", 1)[0])


def session_time(date: str) -> float | None:
    """A LoCoMo session date ("1:56 pm on 8 May, 2023") as seconds since the epoch (UTC), or None."""
    try:
        return datetime.strptime(date.strip(), _DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------- what gets embedded


@dataclass(frozen=True)
class TurnText:
    """How a turn becomes the text of its memory item (what is embedded and indexed).

    Args:
        speaker: put "Name: " before the text.
        date: put "[session date] " first.
        caption: add the caption of a shared image as "[shares a photo: ...]".
    """

    speaker: bool = True
    date: bool = False
    caption: bool = False

    def render(self, turn: Turn) -> str:
        """The text stored for `turn`."""
        text = f"{turn.speaker}: {turn.text}" if self.speaker else turn.text
        if self.caption and turn.caption:
            text = f"{text} [shares a photo: {turn.caption}]"
        return f"[{turn.date}] {text}" if self.date and turn.date else text


#: Named TurnText settings; "speaker+date+caption" was chosen on the tuning conversations (bench_locomo.py tune).
TURN_TEXTS: Mapping[str, TurnText] = {
    "speaker": TurnText(), "plain": TurnText(speaker=False), "speaker+date": TurnText(date=True),
    "speaker+caption": TurnText(caption=True), "speaker+date+caption": TurnText(date=True, caption=True),
}


# ------------------------------------------------------------------------------------------------- retrieval


class Retrieval(Protocol):
    """A way to rank one tenant's turns for a query."""

    @property
    def name(self) -> str:
        """What the results of this retrieval are called."""

    def rank(self, backend: Any, query: str, depth: int) -> list[str]:
        """Ids of the best `depth` items, best first."""


@dataclass(frozen=True)
class DenseRetrieval:
    """Vector search with the backend's embedder and store."""

    name: str = "dense"

    def rank(self, backend: Any, query: str, depth: int) -> list[str]:
        """Ids of the `depth` nearest turns."""
        return [r.id for r, _ in backend.search(TIER, query, depth, mode="dense")]


@dataclass(frozen=True)
class LexicalRetrieval:
    """BM25 over the stored texts (the backend's lexical index)."""

    name: str = "lexical"

    def rank(self, backend: Any, query: str, depth: int) -> list[str]:
        """Ids of the `depth` best BM25 matches."""
        return [r.id for r, _ in backend.search(TIER, query, depth, mode="lexical")]


@dataclass(frozen=True)
class HybridRetrieval:
    """Dense and BM25 rankings fused by weighted reciprocal rank: MemoryBackend's hybrid search with the given
    weights (the defaults are the backend's own). Other weights are for tuning."""

    dense_weight: float = HYBRID_WEIGHTS[0]
    lexical_weight: float = HYBRID_WEIGHTS[1]
    name: str = "hybrid"

    def rank(self, backend: Any, query: str, depth: int) -> list[str]:
        """Ids of the `depth` best turns by fused rank."""
        hits = backend.search(TIER, query, depth, mode="hybrid", weights=(self.dense_weight, self.lexical_weight))
        return [r.id for r, _ in hits]


MODES: Mapping[str, Retrieval] = {"dense": DenseRetrieval(), "lexical": LexicalRetrieval(), "hybrid": HybridRetrieval()}


def as_retrieval(mode: str | Retrieval) -> Retrieval:
    """A Retrieval for "dense", "lexical" or "hybrid", or the object itself."""
    if isinstance(mode, str):
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        return MODES[mode]
    if not callable(getattr(mode, "rank", None)) or not isinstance(getattr(mode, "name", None), str):
        raise UsageError(f"a mode is 'dense', 'lexical', 'hybrid' or an object with .name and .rank(), "
                         f"got {type(mode).__name__}")
    return mode


# --------------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class QuestionResult:
    """Where one question's evidence landed in its ranked list.

    Attributes:
        turn_ranks: per evidence turn, its 1-based rank in the list, or None if not in it.
        session_ranks: per evidence session, the rank of its first turn in the list, or None.
    """

    sample_id: str
    category: int
    evidence: tuple[str, ...]
    turn_ranks: tuple[int | None, ...]
    session_ranks: tuple[int | None, ...]

    def turn_recall(self, k: int) -> float:
        """The fraction of evidence turns in the top k."""
        return _found(self.turn_ranks, k) / len(self.turn_ranks)

    def turn_all(self, k: int) -> bool:
        """Whether every evidence turn is in the top k."""
        return _found(self.turn_ranks, k) == len(self.turn_ranks)

    def session_recall(self, k: int) -> float:
        """The fraction of evidence sessions that one of the top k turns comes from."""
        return _found(self.session_ranks, k) / len(self.session_ranks)

    def session_all(self, k: int) -> bool:
        """Whether every evidence session has a turn in the top k."""
        return _found(self.session_ranks, k) == len(self.session_ranks)


def score_question(sample_id: str, question: Question, ranked: Sequence[str]) -> QuestionResult:
    """Score one ranked list of turn ids against a question's evidence."""
    position: dict[str, int] = {}
    session_first: dict[int, int] = {}
    for rank, dia_id in enumerate(ranked, start=1):
        position.setdefault(dia_id, rank)
        session_first.setdefault(session_of(dia_id), rank)
    sessions = sorted({session_of(e) for e in question.evidence})
    return QuestionResult(sample_id, question.category, question.evidence,
                          tuple(position.get(e) for e in question.evidence),
                          tuple(session_first.get(s) for s in sessions))


def _found(ranks: Iterable[int | None], k: int) -> int:
    return sum(1 for r in ranks if r is not None and r <= k)


@dataclass(frozen=True)
class ModeRecall:
    """Recall of one retrieval mode: every question's result, and the time the queries took."""

    mode: str
    questions: tuple[QuestionResult, ...]
    query_s: float

    def _mean(self, value: Callable[[QuestionResult], float]) -> float:
        return sum(value(q) for q in self.questions) / len(self.questions) if self.questions else 0.0

    def turn_recall(self, k: int) -> float:
        """Mean fraction of evidence turns in the top k."""
        return self._mean(lambda q: q.turn_recall(k))

    def turn_all(self, k: int) -> float:
        """Share of questions with all evidence turns in the top k."""
        return self._mean(lambda q: float(q.turn_all(k)))

    def session_recall(self, k: int) -> float:
        """Mean fraction of evidence sessions among the sessions of the top k turns."""
        return self._mean(lambda q: q.session_recall(k))

    def session_all(self, k: int) -> float:
        """Share of questions with all evidence sessions among the sessions of the top k turns."""
        return self._mean(lambda q: float(q.session_all(k)))

    @property
    def queries_per_s(self) -> float:
        """Questions answered per second of query time."""
        return len(self.questions) / self.query_s if self.query_s > 0 else 0.0

    def only(self, sample_ids: Iterable[str] | None = None, *, categories: Iterable[int] | None = None
             ) -> ModeRecall:
        """The results of some conversations and/or categories (query time scaled by the questions kept)."""
        ids = set(sample_ids) if sample_ids is not None else None
        cats = set(categories) if categories is not None else None
        kept = tuple(q for q in self.questions
                     if (ids is None or q.sample_id in ids) and (cats is None or q.category in cats))
        share = len(kept) / len(self.questions) if self.questions else 0.0
        return replace(self, questions=kept, query_s=self.query_s * share)


@dataclass(frozen=True)
class RecallReport:
    """What `evaluate_recall` measured: per mode the recall at each k, plus counts and speed.

    Attributes:
        ks: the cut-offs.
        modes: one ModeRecall per retrieval mode, in the order asked.
        conversations: the sample ids evaluated.
        turns: turns ingested; ingest_s the time it took (embedding, storing, indexing).
        skipped: questions left out because no evidence names a turn of their conversation.
        unmatched_evidence: evidence strings naming no turn (dropped from otherwise usable questions too).
        query_embed_s: time to embed all questions, in one batch per conversation, before any mode searched;
            each mode's `query_s` is then search time with the query vector cached.
    """

    ks: tuple[int, ...]
    modes: tuple[ModeRecall, ...]
    conversations: tuple[str, ...]
    turns: int
    ingest_s: float
    skipped: int
    unmatched_evidence: int
    query_embed_s: float = 0.0
    turn_text: TurnText = field(default_factory=TurnText)

    @property
    def turns_per_s(self) -> float:
        """Turns ingested per second."""
        return self.turns / self.ingest_s if self.ingest_s > 0 else 0.0

    @property
    def query_embeds_per_s(self) -> float:
        """Questions embedded per second (0 when no mode needed query vectors)."""
        return self.questions / self.query_embed_s if self.query_embed_s > 0 else 0.0

    @property
    def questions(self) -> int:
        """Questions evaluated (per mode)."""
        return len(self.modes[0].questions) if self.modes else 0

    def mode(self, name: str) -> ModeRecall:
        """The results of the mode called `name`."""
        for m in self.modes:
            if m.mode == name:
                return m
        raise UsageError(f"no mode {name!r} in this report; it has {', '.join(m.mode for m in self.modes)}")

    def only(self, sample_ids: Iterable[str]) -> RecallReport:
        """The report restricted to some conversations (ingest figures stay those of the whole run)."""
        ids = tuple(sample_ids)
        return replace(self, modes=tuple(m.only(ids) for m in self.modes),
                       conversations=tuple(c for c in self.conversations if c in ids))


# ------------------------------------------------------------------------------------------------ evaluation

#: progress(stage, done, total): stage is "ingest" (turns) or "query" (questions x modes).
Progress = Callable[[str, int, int], None]


def evaluate_recall(conversations: Sequence[LocomoConversation], *, memory_factory: Callable[[str], Any] | None = None,
                    embedder: Any = "onnx:all-minilm-l6-v2", store: Any = None,
                    mode: str | Retrieval | Sequence[str | Retrieval] = ("dense", "lexical", "hybrid"),
                    ks: Sequence[int] = (5, 10, 20), turn_text: TurnText | None = None,
                    batch_size: int = 64, progress: Progress | None = None) -> RecallReport:
    """Store every turn of each conversation (its own tenant) as a memory, ask every question, measure recall.

    Args:
        conversations: from `load_locomo`.
        memory_factory: tenant -> MemoryBackend; None builds one per conversation over `store` and `embedder`.
        embedder / store: used when `memory_factory` is None; store None is one InMemoryStore for all tenants.
        mode: "dense", "lexical", "hybrid", a Retrieval, or several; the turns are ingested once for all.
        ks: the cut-offs; each question is asked once per mode for max(ks) turns.
        turn_text: how a turn becomes stored text (default: "Speaker: text").
        batch_size: turns embedded and stored per write.
        progress: called as turns are ingested and questions asked.

    >>> from contextwise.testing import HashEmbedder
    >>> report = evaluate_recall(load_locomo("locomo10.json"), embedder=HashEmbedder(384))  # doctest: +SKIP
    >>> report.mode("hybrid").turn_recall(10)  # doctest: +SKIP
    0.5...
    """
    retrievals = _retrievals(mode)
    ks = _check_ks(ks)
    if not conversations:
        raise UsageError("no conversations to evaluate")
    text = turn_text or TurnText()
    factory = memory_factory or _default_factory(embedder, store)
    tick = progress or (lambda stage, done, total: None)
    backends, ingest_s = _ingest(conversations, factory, text, batch_size, retrievals, tick)
    results, query_s, embed_s = _query(conversations, backends, retrievals, max(ks), tick)
    return RecallReport(ks, tuple(ModeRecall(r.name, tuple(results[r.name]), query_s[r.name]) for r in retrievals),
                        tuple(c.sample_id for c in conversations), sum(len(c.turns) for c in conversations),
                        ingest_s, sum(1 for c in conversations for q in c.questions if not q.evidence),
                        sum(len(q.unmatched) for c in conversations for q in c.questions), embed_s, text)


def _retrievals(mode: str | Retrieval | Sequence[str | Retrieval]) -> list[Retrieval]:
    single = isinstance(mode, str) or hasattr(mode, "rank") or not isinstance(mode, (list, tuple))
    modes = [mode] if single else list(mode)  # type: ignore[arg-type]
    if not modes:
        raise UsageError("give at least one mode: 'dense', 'lexical' or 'hybrid'")
    out = [as_retrieval(m) for m in modes]  # type: ignore[arg-type]
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise UsageError(f"two modes share a name ({', '.join(names)}); give each Retrieval its own name")
    return out


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    values = tuple(sorted(set(ks)))
    if not values or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in values):
        raise UsageError(f"ks must be positive whole numbers, e.g. (5, 10, 20); got {tuple(ks)!r}")
    return values


def _default_factory(embedder: Any, store: Any) -> Callable[[str], Any]:
    from contextwise.embed import CachedEmbedder
    from contextwise.memory import MemoryBackend
    from contextwise.registry import resolve

    inner = resolve("embedder", embedder)
    shared = inner if isinstance(inner, CachedEmbedder) else CachedEmbedder(inner)
    if store is None:
        from contextwise.stores import InMemoryStore

        store = InMemoryStore(shared.dimensions)
    return lambda tenant: MemoryBackend(store, shared, tenant=tenant)


def _ingest(conversations: Sequence[LocomoConversation], factory: Callable[[str], Any], text: TurnText,
            batch_size: int, retrievals: Sequence[Retrieval], tick: Progress) -> tuple[dict[str, Any], float]:
    total, done, elapsed = sum(len(c.turns) for c in conversations), 0, 0.0
    backends: dict[str, Any] = {}
    tick("ingest", 0, total)
    for conv in conversations:
        backend = backends[conv.sample_id] = factory(conv.sample_id)
        for start in range(0, len(conv.turns), batch_size):
            batch = conv.turns[start:start + batch_size]
            began = time.perf_counter()
            backend.put(TIER, [(t.dia_id, text.render(t), _metadata(t)) for t in batch])
            elapsed += time.perf_counter() - began
            done += len(batch)
            tick("ingest", done, total)
        began = time.perf_counter()
        if any(not isinstance(r, DenseRetrieval) for r in retrievals):
            backend.search(TIER, "index", 1, mode="lexical")  # builds the lexical index: part of ingesting
        elapsed += time.perf_counter() - began
    return backends, elapsed


def _metadata(turn: Turn) -> dict[str, Any]:
    meta: dict[str, Any] = {"session": turn.session, "speaker": turn.speaker, "date": turn.date,
                            "dia_id": turn.dia_id}
    when = session_time(turn.date)
    if when is not None:
        meta["created_at"] = when
    return meta


def _query(conversations: Sequence[LocomoConversation], backends: Mapping[str, Any], retrievals: Sequence[Retrieval],
           depth: int, tick: Progress) -> tuple[dict[str, list[QuestionResult]], dict[str, float], float]:
    results: dict[str, list[QuestionResult]] = {r.name: [] for r in retrievals}
    seconds = {r.name: 0.0 for r in retrievals}
    total = sum(1 for c in conversations for q in c.questions if q.evidence) * len(retrievals)
    done, embed_s = 0, 0.0
    tick("query", 0, total)
    for conv in conversations:
        asked = [q for q in conv.questions if q.evidence]
        if any(not isinstance(r, LexicalRetrieval) for r in retrievals):
            began = time.perf_counter()  # one batch; every mode then finds the query vectors cached
            backends[conv.sample_id].embedder.embed([q.text for q in asked], kind="query")
            embed_s += time.perf_counter() - began
        for question in asked:
            for retrieval in retrievals:
                began = time.perf_counter()
                ranked = retrieval.rank(backends[conv.sample_id], question.text, depth)
                seconds[retrieval.name] += time.perf_counter() - began
                results[retrieval.name].append(score_question(conv.sample_id, question, ranked))
                done += 1
                tick("query", done, total)
    return results, seconds, embed_s
