"""Facts: extraction from text (by a model with a strict JSON schema, or by rules) and the decision for each new
fact against similar stored ones — ADD, UPDATE, DELETE or NOOP. Everything here is pure: no I/O, no model calls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Mapping, Sequence

from contextwise.types import ChatOptions, Message

Op = Literal["ADD", "UPDATE", "DELETE", "NOOP"]
OPS: tuple[str, ...] = ("ADD", "UPDATE", "DELETE", "NOOP")
CATEGORIES = ("preference", "personal", "work", "plan", "health", "relationship", "general")
MAX_FACT_CHARS = 500


@dataclass(frozen=True)
class Candidate:
    """A fact extracted from text, not yet compared with what is stored."""

    text: str
    category: str = "general"
    confidence: float = 0.8


@dataclass(frozen=True)
class Neighbour:
    """A stored fact similar to a candidate, with their cosine similarity."""

    id: str
    text: str
    similarity: float


@dataclass(frozen=True)
class Decision:
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


def extract_messages(text: str) -> list[Message]:
    """The messages asking a model to extract facts from `text`."""
    return [Message.system(_EXTRACT_SYSTEM), Message.user(f"Text:\n{text}")]


def extract_options() -> ChatOptions:
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

_FIRST_PERSON = [(re.compile(p, re.I), r) for p, r in (
    (r"\bI'm\b|\bI am\b", "the user is"), (r"\bI've\b|\bI have\b", "the user has"), (r"\bI'll\b", "the user will"),
    (r"\bI'd\b", "the user would"), (r"\bmy\b", "the user's"), (r"\bmine\b", "the user's"), (r"\bme\b", "the user"),
    (r"\bI\b", "the user"),
)]
_FIRST_PERSON_SUBJECT = re.compile(r"\b(i|i'm|i've|i'd|i'll|my|we|our)\b", re.I)
# First-person sentences that carry nothing worth remembering.
_SMALL_TALK = re.compile(r"^\W*(i (think|guess|see|know|agree|mean|suppose)\b|i'm (fine|good|ok|okay|great|sorry)\b"
                         r"|thanks?\b|thank you\b|my pleasure\b)", re.I)
_CATEGORY_WORDS = {
    "preference": r"\b(like|likes|love|loves|prefer|prefers|hate|hates|enjoy|enjoys|favou?rite)\b",
    "personal": r"\b(name|age|years old|live|lives|born|birthday|moved|home)\b",
    "work": r"\b(work|works|job|company|colleague|office|manager|career|salary)\b",
    "plan": r"\b(plan|planning|will|going to|next week|next month|tomorrow|trip)\b",
    "health": r"\b(allergic|allergy|diet|vegetarian|vegan|doctor|sick|injury|medication)\b",
    "relationship": r"\b(wife|husband|partner|friend|mother|father|son|daughter|sister|brother|dog|cat)\b",
}


def rule_extract(text: str) -> list[Candidate]:
    """Facts by rules: first-person statements rewritten in the third person; questions left out.

    >>> [c.text for c in rule_extract("Hi! I live in Lyon. What time is it? I'm allergic to nuts.")]
    ['The user lives in Lyon.', 'The user is allergic to nuts.']
    """
    from contextwise.compress import split_sentences

    out = []
    for sentence in split_sentences(text):
        s = sentence.strip()
        if (not s or s.endswith("?") or len(s.split()) < 3 or len(s) > MAX_FACT_CHARS
                or not _FIRST_PERSON_SUBJECT.search(s) or _SMALL_TALK.search(s)):
            continue
        fact = _third_person(s)
        category = next((c for c, rx in _CATEGORY_WORDS.items() if re.search(rx, s, re.I)), "general")
        out.append(Candidate(fact, category, 0.6))
    return out


_NOT_A_BASE_VERB = frozenset(
    "is was has had will would can could should may might must does did no never not also always often really "
    "just still already usually sometimes recently currently only".split())


def _third_singular(word: str) -> str:
    low = word.lower()
    if low in _NOT_A_BASE_VERB or low.endswith(("ed", "'s")) or not low.isalpha():
        return word
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return word + "es"
    return word + "s"


def _third_person(sentence: str) -> str:
    out = sentence
    for rx, repl in _FIRST_PERSON:
        out = rx.sub(repl, out)
    # "the user live in" -> "the user lives in": the third person singular of the verb after the subject
    out = re.sub(r"\bthe user (don't|do not)\b", "the user does not", out, flags=re.I)
    out = re.sub(r"\b(the user (?:(?:no longer|really|also|always|often|usually|sometimes|still|never|rarely|"
                 r"just|now|mostly) )*)([a-z]+)\b", lambda m: f"{m.group(1)}{_third_singular(m.group(2))}", out,
                 flags=re.I)
    out = out[0].upper() + out[1:] if out else out
    return out if out.endswith((".", "!")) else out + "."


# -- decisions ----------------------------------------------------------------------------------------------

_NEGATION = re.compile(r"\b(no longer|not anymore|any ?more|stopped|quit|doesn't|does not|don't|do not|never)\b",
                       re.I)
# Verbs whose object can change (one value at a time): a new value UPDATEs the old fact instead of adding.
_SINGLE_VALUED = re.compile(
    r"\b(lives in|lives at|works (?:at|for|as)|is named|name is|is \d+ years old|age is|moved to|is married to|"
    r"drives|studies at|is based in|phone number is|email is|birthday is)\b", re.I)


def rule_decide(candidate: Candidate, neighbours: Sequence[Neighbour], *, duplicate: float = 0.9,
                related: float = 0.7, slot_related: float = 0.5) -> Decision:
    """Decide by similarity and wording: near-duplicates are NOOP, negations DELETE the fact they negate, a new
    value of a single-valued attribute ("lives in", "works at") UPDATEs it, anything else is ADDed.

    `slot_related` is lower than `related` because a shared attribute is itself strong evidence: MiniLM puts
    "lives in Lyon" and "lives in Berlin" at a cosine of about 0.6."""
    best = max(neighbours, key=lambda n: n.similarity, default=None)
    if best is not None and best.similarity >= duplicate and _negated(candidate.text) == _negated(best.text):
        return Decision(candidate, "NOOP", best.id, best.text, f"near-duplicate of a stored fact "
                                                               f"(cosine {best.similarity:.2f})")
    if best is not None and best.similarity >= related and _negated(candidate.text) and not _negated(best.text):
        return Decision(candidate, "DELETE", best.id, best.text, "the new text negates this stored fact")
    slot = _slot(candidate.text)
    same_slot = [n for n in neighbours if n.similarity >= slot_related and slot and _slot(n.text) == slot]
    if same_slot:
        best = max(same_slot, key=lambda n: n.similarity)
        return Decision(candidate, "UPDATE", best.id, candidate.text, f"a new value for '{slot}'")
    return Decision(candidate, "ADD", None, candidate.text, "no similar stored fact")


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def _slot(text: str) -> str:
    m = _SINGLE_VALUED.search(text)
    if not m:
        return ""
    subject = text[:m.start()].strip().lower()
    return f"{subject} {re.sub(r'[0-9]+', '#', m.group(1).lower())}"


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
    return ChatOptions(temperature=0.0, json_schema=DECIDE_SCHEMA)


def parse_decisions(answer: str, candidates: Sequence[Candidate],
                    neighbours: Sequence[Sequence[Neighbour]]) -> list[Decision]:
    """Validate a model's decisions: one per candidate, targets among that candidate's neighbours."""
    data = _json_object(answer)
    raw = data.get("decisions")
    if not isinstance(raw, list):
        raise InvalidAnswer('the answer needs a "decisions" list')
    by_candidate: dict[int, Decision] = {}
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
        by_candidate[index] = Decision(candidates[index], op, target if op != "ADD" else None, final, "model")
    missing = [i for i in range(len(candidates)) if i not in by_candidate]
    if missing:
        raise InvalidAnswer(f"no decision for new facts {missing}")
    return [by_candidate[i] for i in range(len(candidates))]
