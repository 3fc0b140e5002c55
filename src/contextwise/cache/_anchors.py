"""The guard of the semantic tier: parts of a prompt that a paraphrase keeps and a different question changes.

Before a semantic hit is served, the new prompt's anchors must equal the cached prompt's: numbers (digits,
number words and ordinals, one spelling), quoted strings, code identifiers, negation cues, polarity words
(on/off, enable/disable, before/after, ...) and the content words themselves (lower-cased, possessives and plural
or verb endings cut, fillers such as "please", "tell me", "city" left out). Content words stand in for named
entities, which lower-case questions do not mark: "who is the president of france" and "... of germany" differ
in one. A paraphrase may reorder words, add fillers, contract ("what's") or change case; swapping a word for a
synonym is refused too, at the price of a hit: the tier is built never to serve a wrong answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000",
                      "million": "1000000", "billion": "1000000000", "dozen": "12", "half": "0.5"})
_ORDINALS = {w: str(i + 1) for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())}
_ORDINALS.update({"last": "-1", "final": "-1", "latest": "-1", "penultimate": "-2"})
_NEGATIONS = frozenset("not no never none nobody nothing neither nor nowhere cannot without n't non".split())
# Each word stands for its side of an opposition; a prompt and its paraphrase may not take opposite sides.
_POLARITY_SIDE: dict[str, str] = {}
for _i, _pair in enumerate(("on off", "enable disable", "enabled disabled", "allow deny", "allowed denied",
                            "yes no", "true false", "increase decrease", "up down", "open close", "start stop",
                            "before after", "more less", "most least", "max min", "maximum minimum",
                            "add remove", "include exclude", "higher lower", "highest lowest", "best worst",
                            "better worse", "largest smallest", "biggest smallest", "oldest youngest",
                            "older younger", "longest shortest", "win lose", "won lost", "in out",
                            "inside outside", "above below", "over under", "north south", "east west",
                            "left right", "male female", "men women", "buy sell", "import export",
                            "encrypt decrypt", "lock unlock", "show hide", "push pull", "upload download",
                            "accept reject", "light dark", "hot cold", "fast slow", "early late",
                            "earliest newest", "top bottom", "front back", "always sometimes",
                            "internal external", "new old", "positive negative", "plus minus")):
    _a, _b = _pair.split()
    _POLARITY_SIDE.setdefault(_a, f"{_i}+")
    _POLARITY_SIDE.setdefault(_b, f"{_i}-")
_STOP = frozenset((
    "a an the this that these those it its of in on at to for from by with about as into onto upon and or but "
    "if then so than too very is are was were be been being am do does did doing done have has had having will "
    "would shall should can could may might must i me my mine we us our you your he him his she her they them "
    "their what which who whom whose when where why how whats whos wheres whens hows there here also just "
    "really some any each every s d ll re ve m t"
).split())
# Words a paraphrase adds or drops without changing what is asked.
_FILLERS = frozenset((
    "please tell know like want wonder wondering question quick curious name named called exactly actually "
    "city country person thing one kind sort type give let say explain idea anyone somebody someone hey hi "
    "hello thanks thank ok okay well so wanna need find out help remind"
).split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019\-]*|\d+(?:[.,:]\d+)*(?:st|nd|rd|th)?")
_QUOTE = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d|`([^`]+)`|(?<![A-Za-z])'([^']+)'(?![A-Za-z])")
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\b|\b[a-z]+[A-Z][A-Za-z0-9]*\b|"
                    r"\b[A-Za-z0-9]*_[A-Za-z0-9_]+\b|\b[A-Za-z_][A-Za-z0-9_]*\(\)")


@dataclass(frozen=True)
class Anchors:
    """What a paraphrase must keep: numbers, quoted strings, code identifiers, negation cues, polarity
    sides and content words."""

    numbers: tuple[str, ...]
    quotes: frozenset[str]
    identifiers: frozenset[str]
    negations: int
    polarity: frozenset[str]
    words: frozenset[str]

    def mismatch(self, other: Anchors) -> str | None:
        """The first anchor kind that differs from `other`'s, or None when all match."""
        for kind in ("numbers", "quotes", "identifiers", "negations"):
            if getattr(self, kind) != getattr(other, kind):
                return kind
        if _opposed(self.polarity, other.polarity):
            return "polarity"
        return "words" if self.words != other.words else None


def anchors(text: str) -> Anchors:
    """The anchors of `text`.

    >>> anchors("turn on dark mode").mismatch(anchors("turn off dark mode"))
    'polarity'
    >>> print(anchors("capital of France?").mismatch(anchors("France's capital city?")))
    None
    """
    quotes = frozenset(next(g for g in m.groups() if g).strip().lower() for m in _QUOTE.finditer(text))
    identifiers = frozenset(m.group(0) for m in _IDENT.finditer(text))
    numbers: list[str] = []
    negations = 0
    polarity: set[str] = set()
    words: set[str] = set()
    for raw in _WORD.findall(text):
        token = raw.lower().replace("\u2019", "'")
        if token.endswith("n't"):
            negations += 1
            token = token[:-3]
        number = _number(token)
        if number is not None:
            numbers.append(number)
            continue
        if token in _NEGATIONS:
            negations += 1
            continue
        side = _POLARITY_SIDE.get(token)
        if side is not None:
            polarity.add(side)
            if token in _STOP:
                continue
        word = _stem(token)
        if word and word not in _STOP and word not in _FILLERS:
            words.add(word)
    return Anchors(tuple(sorted(numbers)), quotes, identifiers, negations, frozenset(polarity), frozenset(words))


def _opposed(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether one side of an opposition is in `a` and only the other side in `b`, or the reverse."""
    for side in a ^ b:
        flip = side[:-1] + ("-" if side.endswith("+") else "+")
        if (side in a and flip in b and side not in b) or (side in b and flip in a and side not in a):
            return True
    return False


def _number(token: str) -> str | None:
    if token[0].isdigit():
        digits = re.sub(r"(st|nd|rd|th)$", "", token).replace(",", "")
        return digits
    return _NUMBER_WORDS.get(token) or _ORDINALS.get(token)


def _stem(token: str) -> str:
    """A light stem: possessive, plural and common verb endings cut, so "cities'", "France's" and "wins"
    meet "city", "france" and "win"."""
    word = token.strip("'-")
    head, mark, tail = word.partition("'")
    if mark and tail in ("s", "d", "ll", "re", "ve", "m", ""):
        word = head
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word
