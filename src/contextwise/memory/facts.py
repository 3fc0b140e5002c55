"""Facts: extraction from text (by a model with a strict JSON schema, or by rules) and the decision for each new
fact against similar stored ones — ADD, UPDATE, DELETE or NOOP. Everything here is pure: no I/O, no model calls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Literal
from collections.abc import Mapping, Sequence

from contextwise.types import ChatOptions, Message

Op = Literal["ADD", "UPDATE", "SUPERSEDE", "DELETE", "NOOP"]
#: The ops a model may choose; SUPERSEDE (a new value of a single-valued attribute, the old one kept as history)
#: is decided by rules, also on top of a model's UPDATE (see `settle`).
OPS: tuple[str, ...] = ("ADD", "UPDATE", "DELETE", "NOOP")
CATEGORIES = ("preference", "personal", "work", "plan", "health", "relationship", "general")
MAX_FACT_CHARS = 500


@dataclass(frozen=True)
class Candidate:
    """A fact extracted from text, not yet compared with what is stored."""

    text: str
    category: str = "general"
    confidence: float = 0.8
    #: when what it states became true (seconds since the epoch), if the text says ("last month")
    valid_from: float | None = None
    #: whether it corrects something said before ("Actually, it was peanuts") rather than reporting a change
    correction: bool = False


@dataclass(frozen=True)
class Neighbour:
    """A stored fact similar to a candidate, with their cosine similarity."""

    id: str
    text: str
    similarity: float


@dataclass(frozen=True)
class FactDecision:
    """What to do with one candidate: the op, the stored fact it targets (UPDATE/DELETE/NOOP) and the text."""

    candidate: Candidate
    op: Op
    target_id: str | None
    text: str
    reason: str


class InvalidAnswer(ValueError):
    """A model answer that does not follow the schema; the message is fed back to the model on retry."""


# -- extraction ---------------------------------------------------------------------------------------------

EXTRACT_SCHEMA: Mapping[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["facts"],
    "properties": {"facts": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["text", "category", "confidence"],
        "properties": {"text": {"type": "string", "minLength": 1, "maxLength": MAX_FACT_CHARS},
                       "category": {"type": "string", "enum": list(CATEGORIES)},
                       "confidence": {"type": "number", "minimum": 0, "maximum": 1}}}}},
}

_EXTRACT_SYSTEM = (
    "You extract durable facts worth remembering from a text: facts about the user (preferences, personal "
    "details, work, plans, health, relationships) and about the world that the user stated. Write each fact as "
    "one short self-contained sentence in the third person, starting with 'The user' when it is about the user. "
    "Leave out greetings, questions, and anything temporary. Answer with JSON only, following this schema: "
    + json.dumps(EXTRACT_SCHEMA)
)


def extract_messages(text: str, *, timestamp: float | None = None) -> list[Message]:
    """The messages asking a model to extract facts from `text` (said at `timestamp`, if given)."""
    if timestamp is None:
        return [Message.system(_EXTRACT_SYSTEM), Message.user(f"Text:\n{text}")]
    from datetime import datetime, timezone

    said = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%d %B %Y").lstrip("0")
    return [Message.system(_EXTRACT_SYSTEM + " Write dates in full (e.g. 7 May 2023), resolving words like "
                           "'yesterday' against the date the text was said."),
            Message.user(f"Said on {said}. Text:\n{text}")]


def extract_options() -> ChatOptions:
    """Deterministic decoding constrained to EXTRACT_SCHEMA."""
    return ChatOptions(temperature=0.0, json_schema=EXTRACT_SCHEMA)


def parse_extraction(answer: str) -> list[Candidate]:
    """Validate a model's extraction answer; raise InvalidAnswer saying what is wrong."""
    data = _json_object(answer)
    facts = data.get("facts")
    if not isinstance(facts, list):
        raise InvalidAnswer('the answer needs a "facts" list')
    out = []
    for n, fact in enumerate(facts):
        if not isinstance(fact, dict):
            raise InvalidAnswer(f"facts[{n}] must be an object")
        text = fact.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_FACT_CHARS:
            raise InvalidAnswer(f"facts[{n}].text must be a non-empty string of at most {MAX_FACT_CHARS} chars")
        category = fact.get("category", "general")
        if category not in CATEGORIES:
            raise InvalidAnswer(f"facts[{n}].category must be one of {', '.join(CATEGORIES)}")
        confidence = fact.get("confidence", 0.8)
        if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
            raise InvalidAnswer(f"facts[{n}].confidence must be a number between 0 and 1")
        out.append(Candidate(text.strip(), category, float(confidence)))
    return out


def retry_messages(previous: Sequence[Message], answer: str, error: str) -> list[Message]:
    """The conversation asking the model to correct an answer that failed validation."""
    return [*previous, Message.assistant(answer),
            Message.user(f"That answer is not valid: {error}. Answer again with JSON only, following the schema.")]


def _json_object(answer: str) -> dict[str, Any]:
    text = answer.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"the answer is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer must be a JSON object")
    return data


# -- rule-based extraction ----------------------------------------------------------------------------------

_CATEGORY_WORDS = {
    "preference": r"\b(like|likes|love|loves|prefer|prefers|hate|hates|enjoy|enjoys|favou?rite)\b",
    "personal": r"\b(name|age|years old|live|lives|born|birthday|moved|home)\b",
    "work": r"\b(work|works|job|company|colleague|office|manager|career|salary)\b",
    "plan": r"\b(plan|planning|will|going to|next week|next month|tomorrow|trip)\b",
    "health": r"\b(allergic|allergy|diet|vegetarian|vegan|doctor|sick|injury|medication)\b",
    "relationship": r"\b(wife|husband|partner|friend|mother|father|son|daughter|sister|brother|dog|cat)\b",
}


def rule_extract(text: str, *, timestamp: float | None = None) -> list[Candidate]:
    """Facts by rules: first-person statements rewritten in the third person; questions and chit-chat left out;
    relative times ("yesterday") resolved against `timestamp` (seconds since the epoch) when it is given.

    >>> [c.text for c in rule_extract("Hi! I live in Lyon. What time is it? I'm allergic to nuts.")]
    ['The user lives in Lyon.', 'The user is allergic to nuts.']
    """
    from contextwise.compress import split_sentences
    from contextwise.memory._rules import sentence_fact

    out = []
    for sentence in split_sentences(text):
        fact = sentence_fact(sentence)
        if fact is None:
            continue
        category = next((c for c, rx in _CATEGORY_WORDS.items() if re.search(rx, fact.text, re.I)), "general")
        out.append(dated(Candidate(fact.text, category, 0.6, correction=fact.correction), timestamp))
    return out


def dated(candidate: Candidate, timestamp: float | None) -> Candidate:
    """The candidate with its relative times resolved against `timestamp`, and `valid_from` set to the earliest
    time it names (unchanged when `timestamp` is None)."""
    if timestamp is None:
        return candidate
    from contextwise.memory._when import resolve_times

    resolved = resolve_times(candidate.text, timestamp)
    text = resolved.text[:1].upper() + resolved.text[1:]
    return replace(candidate, text=text,
                   valid_from=resolved.start if resolved.start is not None else candidate.valid_from)


# -- decisions ----------------------------------------------------------------------------------------------

_NEGATION = re.compile(r"\b(no longer|not anymore|any ?more|stopped|quit|doesn't|does not|don't|do not|never|"
                       r"is not|isn't|was not|wasn't|has not|hasn't)\b", re.I)
# A change of state, not a denial: the old fact was true until now, so it ends (and stays as history).
_ENDED = re.compile(r"\b(no longer|any ?more|stopped|quit|gave up|moved out|left)\b", re.I)
# Attributes with one value at a time: a new value supersedes the old fact (which stays as history).
_SLOTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx, re.I)) for name, rx in (
    ("home", r"\b(?:lives in|lives at|lives near|moved to|moved back to|has moved to|relocated to|is based in|"
             r"resides in|now lives in|lives now in|settled in)\s+"),
    ("employer", r"\b(?:works at|works for|is employed by|joined|started working at|started working for|"
                 r"got a job at|has a job at|took a job at|started a new job at|is working at|is working for)\s+"),
    ("role", r"\b(?:works as|is working as|got a job as|started working as)\s+"),
    ("partner", r"\b(?:is married to|married|is dating|is engaged to|got engaged to|is seeing|"
                r"(?:partner|boyfriend|girlfriend|husband|wife|fianc[ée]e?) is(?: called| named)?)\s+"),
    ("age", r"\b(?:is (?=\d+ years old\b)|turned (?=\d+\b))"),
    ("name", r"\b(?:name is|is called|is named|goes by)\s+"),
    ("school", r"\b(?:studies at|is studying at|goes to school at|enrolled at)\s+"),
    ("car", r"\b(?:drives an?|drives)\s+"),
    ("phone", r"\b(?:phone number is)\s+"), ("email", r"\b(?:email is|email address is)\s+"),
    ("birthday", r"\b(?:birthday is|was born on)\s+"),
))
_VALUE_END = re.compile(r"\s+(?:on|in|since|last|this|next|for|from|because|and|but|with|after|before|as|now)\b"
                        r"|[.,;!]|$",
                        re.I)


def slot_of(text: str) -> tuple[str, str] | None:
    """The single-valued attribute a fact sets and its value: "The user lives in Lyon." -> ("the user|home",
    "lyon"); None when the fact sets none."""
    for name, rx in _SLOTS:
        m = rx.search(text)
        if m:
            subject = re.sub(r"\s+", " ", text[:m.start()]).strip().lower()
            own = re.search(r"the user(?:'s [\w -]+?)?$", subject)  # "on 7 May 2023 the user" -> "the user"
            subject = own.group(0) if own else subject
            subject = re.sub(r"^the user said: \"i\b", "the user", subject)
            rest = text[m.end():]
            value = rest[:_VALUE_END.search(rest).start()].strip().lower()  # type: ignore[union-attr]
            role = re.search(r"\b(partner|boyfriend|girlfriend|husband|wife|fianc)", m.group(0), re.I)
            if role:  # "The user's wife is Ann": the subject is the user, the attribute their partner
                subject = re.sub(r"'s$", "", subject).strip()
            return f"{subject}|{name}", value
    return None


def rule_decide(candidate: Candidate, neighbours: Sequence[Neighbour], *, duplicate: float = 0.9,
                related: float = 0.7, slot_related: float = 0.5) -> FactDecision:
    """Decide by similarity and wording.

    - a near-duplicate is NOOP;
    - a correction ("Actually ..., it was peanuts") UPDATEs the fact it corrects with the corrected text;
    - a new value of a single-valued attribute (home, employer, partner, ...) SUPERSEDEs the current one, which
      stays as history with its validity closed;
    - a negation DELETEs (ends) the fact it negates;
    - anything else is ADDed.

    `slot_related` is lower than `related` because a shared attribute is itself strong evidence: MiniLM puts
    "lives in Lyon" and "lives in Berlin" at a cosine of about 0.6."""
    best = max(neighbours, key=lambda n: n.similarity, default=None)
    slot = slot_of(candidate.text)
    same_slot = [n for n in neighbours if slot and (other := slot_of(n.text)) and other[0] == slot[0]]
    if candidate.correction and not any(n.text == candidate.text for n in neighbours):
        target = max(same_slot or [n for n in neighbours if n.similarity >= slot_related],
                     key=lambda n: n.similarity, default=None)
        if target is not None:
            return FactDecision(candidate, "UPDATE", target.id, candidate.text, "a correction of this stored fact")
    if best is not None and best.similarity >= duplicate and _negated(candidate.text) == _negated(best.text):
        return FactDecision(candidate, "NOOP", best.id, best.text, f"near-duplicate of a stored fact "
                                                               f"(cosine {best.similarity:.2f})")
    if slot and any(slot_of(n.text) == slot for n in same_slot) and not _negated(candidate.text):
        same = next(n for n in same_slot if slot_of(n.text) == slot)
        return FactDecision(candidate, "NOOP", same.id, same.text, f"the same value of '{slot[0]}'")
    if best is not None and best.similarity >= related and _negated(candidate.text) and not _negated(best.text):
        return FactDecision(candidate, "DELETE", best.id, best.text, "the new text negates this stored fact")
    if same_slot and not _negated(candidate.text):
        target = max(same_slot, key=lambda n: n.similarity)
        return FactDecision(candidate, "SUPERSEDE", target.id, candidate.text, f"a new value of '{slot[0]}'"
                        if slot else "a new value")
    return FactDecision(candidate, "ADD", None, candidate.text, "no similar stored fact")


def settle(decision: FactDecision, target: Neighbour | None) -> FactDecision:
    """A model's UPDATE that gives a single-valued attribute a new value (not a correction) becomes SUPERSEDE,
    so the old value stays as history, as the rules decide it."""
    if decision.op != "UPDATE" or target is None or decision.candidate.correction:
        return decision
    new, old = slot_of(decision.text), slot_of(target.text)
    if new and old and new[0] == old[0] and new[1] != old[1]:
        return replace(decision, op="SUPERSEDE", reason=f"model: a new value of '{new[0]}'")
    return decision


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def ends_fact(text: str) -> bool:
    """Whether a negation says a fact stopped being true ("no longer", "anymore", "quit") rather than that it
    never was."""
    return bool(_ENDED.search(text))


DECIDE_SCHEMA: Mapping[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["decisions"],
    "properties": {"decisions": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["candidate", "op", "target", "text"],
        "properties": {"candidate": {"type": "integer", "minimum": 0},
                       "op": {"type": "string", "enum": list(OPS)},
                       "target": {"type": ["string", "null"]},
                       "text": {"type": "string"}}}}},
}

_DECIDE_SYSTEM = (
    "You maintain a memory of facts. For each new fact, compare it with the similar stored facts listed under "
    "it and choose one op: ADD (new information), UPDATE (it changes a stored fact: give the stored fact's id as "
    "target and the merged text), DELETE (it contradicts or retracts a stored fact: give its id as target), or "
    "NOOP (already known: give the stored fact's id as target). Answer with JSON only, following this schema: "
    + json.dumps(DECIDE_SCHEMA)
)


def decide_messages(candidates: Sequence[Candidate], neighbours: Sequence[Sequence[Neighbour]]) -> list[Message]:
    """The messages asking a model to decide an op for every candidate."""
    lines = []
    for n, (cand, near) in enumerate(zip(candidates, neighbours)):
        lines.append(f"New fact {n}: {cand.text}")
        lines += [f"  stored [{nb.id}] (similarity {nb.similarity:.2f}): {nb.text}" for nb in near] or [
            "  (no similar stored facts)"]
    return [Message.system(_DECIDE_SYSTEM), Message.user("\n".join(lines))]


def decide_options() -> ChatOptions:
    """Deterministic decoding constrained to DECIDE_SCHEMA."""
    return ChatOptions(temperature=0.0, json_schema=DECIDE_SCHEMA)


def parse_decisions(answer: str, candidates: Sequence[Candidate],
                    neighbours: Sequence[Sequence[Neighbour]]) -> list[FactDecision]:
    """Validate a model's decisions: one per candidate, targets among that candidate's neighbours."""
    data = _json_object(answer)
    raw = data.get("decisions")
    if not isinstance(raw, list):
        raise InvalidAnswer('the answer needs a "decisions" list')
    by_candidate: dict[int, FactDecision] = {}
    for n, d in enumerate(raw):
        if not isinstance(d, dict) or not isinstance(d.get("candidate"), int):
            raise InvalidAnswer(f"decisions[{n}] needs an integer candidate")
        index, op, target, text = d["candidate"], d.get("op"), d.get("target"), d.get("text") or ""
        if not 0 <= index < len(candidates) or index in by_candidate:
            raise InvalidAnswer(f"decisions[{n}].candidate {index} is unknown or decided twice")
        if op not in OPS:
            raise InvalidAnswer(f"decisions[{n}].op must be one of {', '.join(OPS)}")
        known = {nb.id: nb for nb in neighbours[index]}
        if op != "ADD" and target not in known:
            raise InvalidAnswer(f"decisions[{n}]: {op} needs a target among the ids listed for new fact {index}")
        if op in ("ADD", "UPDATE") and not text.strip():
            raise InvalidAnswer(f"decisions[{n}]: {op} needs the fact's text")
        final = text.strip() if op in ("ADD", "UPDATE") else known[target].text  # type: ignore[index]
        decision = FactDecision(candidates[index], op, target if op != "ADD" else None, final, "model")
        by_candidate[index] = settle(decision, known.get(target) if isinstance(target, str) else None)
    missing = [i for i in range(len(candidates)) if i not in by_candidate]
    if missing:
        raise InvalidAnswer(f"no decision for new facts {missing}")
    return [by_candidate[i] for i in range(len(candidates))]
