"""Needles: the facts hidden in a haystack, the question that asks for them and the answers that score it.

Kinds (each a function returning a `Needle`):

- `classic()`: gkamradt's single San Francisco needle.
- `multi_key(keys, ...)`: RULER's MK-NIAH: `keys` facts of one template with different keys; one is asked,
  the others are same-template distractors.
- `multi_value(values, ...)`: RULER's MV-NIAH: one key holding several values; all must be given.
- `multi_query(keys, queries, ...)`: RULER's MQ-NIAH: several keys asked at once.
- `low_overlap(pair)`: NoLiMa-style: the question shares no content word with the fact; answering needs one
  associative hop (Dresden -> the Semper Opera). The pairs are our own (`LOW_OVERLAP`).
- `with_distractors(needle, level)`: Chroma "context rot" style distractors of a stated similarity.

Placement of several facts (documented in `place_depths`): the first fact goes at the cell's depth, the
others at even steps through the rest of the context after it (gkamradt's multi-needle rule).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from dataclasses import dataclass, field, replace

from contextwise.errors import UsageError

_WORD = re.compile(r"[a-z0-9]+")
#: Words that carry no content; a low-overlap pair may share these and nothing else.
STOPWORDS = frozenset("""a an the and or but of to in on at by for with from as is are was were be been being it its
this that these those which who whom whose what when where why how do does did done has have had having not no
any some one two there their they them he she his her him i you we our your my me us than then so if also very
just about into over after before up down out off only own same such can could should would will may might must
mentioned text provided according""".split())


class EmptyNeedleError(UsageError):
    """A needle with no fact, no question or no answer: nothing could be found or scored."""


@dataclass(frozen=True)
class Needle:
    """What one cell hides and asks.

    Attributes:
        name: a short label for tables ("classic", "mk4-uuid").
        facts: the sentences inserted into the haystack, in order (one for a single needle).
        question: what the model is asked.
        answers: every expected value; the score is the fraction of them the answer gives.
        distractors: sentences inserted too that look like the fact but do not answer the question.
        kind: which family it belongs to ("single", "multi-key", "multi-value", "multi-query", "low-overlap").
        answer_prefix: RULER's answer prefix, the start of a correct answer ("The special magic number for X
            mentioned in the provided text is"): sent after "Answer:" when the run asks for it, which base
            models need to answer at all.
    """

    name: str
    facts: tuple[str, ...]
    question: str
    answers: tuple[str, ...]
    distractors: tuple[str, ...] = ()
    kind: str = "single"
    meta: tuple[tuple[str, str], ...] = field(default=(), compare=True)
    answer_prefix: str = ""

    def __post_init__(self) -> None:
        if not self.facts or any(not f.strip() for f in self.facts):
            raise EmptyNeedleError(f"needle {self.name!r}: give at least one non-empty fact to hide")
        if not self.question.strip():
            raise EmptyNeedleError(f"needle {self.name!r}: the question is empty")
        if not self.answers or any(not a.strip() for a in self.answers):
            raise EmptyNeedleError(f"needle {self.name!r}: give at least one non-empty expected answer")

    @property
    def digest(self) -> str:
        """A content hash of everything that reaches the prompt or the score (part of the cell id)."""
        body = json.dumps([self.facts, self.question, self.answers, self.distractors], ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def inserts(self) -> tuple[str, ...]:
        """Facts and distractors in insertion order: distractors interleaved after the facts they imitate."""
        return self.facts + self.distractors


def single(fact: str, question: str, answer: str | tuple[str, ...], *, name: str = "single",
           answer_prefix: str = "") -> Needle:
    """One fact, one question; `answer` is the value (or values) a correct reply contains."""
    answers = (answer,) if isinstance(answer, str) else tuple(answer)
    return Needle(name, (fact,), question, answers, answer_prefix=answer_prefix)


def classic() -> Needle:
    """gkamradt's needle: the best thing to do in San Francisco (scored on its key phrase)."""
    return single("The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.",
                  "What is the best thing to do in San Francisco?", ("sandwich", "Dolores Park"), name="classic",
                  answer_prefix="The best thing to do in San Francisco is")


# A fixed pool of keys; RULER draws random words, we draw from a list so runs are reproducible everywhere.
_KEY_WORDS = ("amber", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbor", "indigo", "juniper",
              "kestrel", "lagoon", "meadow", "nebula", "obsidian", "prairie", "quartz", "raven", "saffron",
              "tundra", "umber", "violet", "willow", "xenon", "yarrow", "zephyr")


def _keys(rng: random.Random, n: int) -> list[str]:
    pairs = [f"{a}-{b}" for a in _KEY_WORDS for b in _KEY_WORDS if a != b]
    return rng.sample(pairs, n)


def _value(rng: random.Random, value: str) -> str:
    if value == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if value == "number":
        return str(rng.randrange(1_000_000, 10_000_000))
    raise UsageError(f"value {value!r}: use 'number' or 'uuid'")


def _fact(key: str, value: str, kind: str) -> str:
    noun = "uuid" if kind == "uuid" else "number"
    return f"One of the special magic {noun}s for {key} is: {value}."


def _ask(keys: list[str], kind: str, *, several: bool) -> str:
    noun = "uuid" if kind == "uuid" else "number"
    if len(keys) == 1:
        return (f"What {'are all the special magic ' + noun + 's' if several else 'is the special magic ' + noun}"
                f" for {keys[0]} mentioned in the provided text?")
    return f"What are the special magic {noun}s for {', '.join(keys[:-1])} and {keys[-1]} mentioned in the text?"


def _prefix(keys: list[str], kind: str, *, several: bool) -> str:
    noun = "uuid" if kind == "uuid" else "number"
    if len(keys) == 1 and not several:
        return f"The special magic {noun} for {keys[0]} mentioned in the provided text is"
    return f"The special magic {noun}s for {' and '.join(keys)} mentioned in the provided text are"


def multi_key(keys: int = 4, *, value: str = "number", seed: int = 0) -> Needle:
    """RULER MK-NIAH: `keys` facts of one template, different keys; the first is asked, the rest distract."""
    if keys < 1:
        raise UsageError(f"multi_key needs keys >= 1, got {keys}")
    rng = random.Random(f"mk:{keys}:{value}:{seed}")
    names, values = _keys(rng, keys), [_value(rng, value) for _ in range(keys)]
    return Needle(f"mk{keys}-{value}", (_fact(names[0], values[0], value),), _ask(names[:1], value, several=False),
                  (values[0],), tuple(_fact(k, v, value) for k, v in zip(names[1:], values[1:])), "multi-key",
                  answer_prefix=_prefix(names[:1], value, several=False))


def multi_value(values: int = 4, *, value: str = "number", seed: int = 0) -> Needle:
    """RULER MV-NIAH: one key with `values` values, all of them expected."""
    if values < 1:
        raise UsageError(f"multi_value needs values >= 1, got {values}")
    rng = random.Random(f"mv:{values}:{value}:{seed}")
    key, found = _keys(rng, 1)[0], [_value(rng, value) for _ in range(values)]
    return Needle(f"mv{values}-{value}", tuple(_fact(key, v, value) for v in found),
                  _ask([key], value, several=True), tuple(found), kind="multi-value",
                  answer_prefix=_prefix([key], value, several=True))


def multi_query(keys: int = 4, queries: int = 2, *, value: str = "number", seed: int = 0) -> Needle:
    """RULER MQ-NIAH: `keys` facts, the first `queries` of them asked in one question."""
    if not 1 <= queries <= keys:
        raise UsageError(f"multi_query needs 1 <= queries <= keys, got {queries} and {keys}")
    rng = random.Random(f"mq:{keys}:{queries}:{value}:{seed}")
    names, found = _keys(rng, keys), [_value(rng, value) for _ in range(keys)]
    facts = tuple(_fact(k, v, value) for k, v in zip(names, found))
    return Needle(f"mq{queries}of{keys}-{value}", facts[:queries], _ask(names[:queries], value, several=False),
                  tuple(found[:queries]), facts[queries:], "multi-query",
                  answer_prefix=_prefix(names[:queries], value, several=True))


@dataclass(frozen=True)
class LowOverlapPair:
    """A NoLiMa-style fact and question: no content word in common; the link is world knowledge."""

    fact: str
    question: str
    link: str  # the hop a reader must make, for the docs and the report


#: Our own low-overlap pairs. `{name}` is the answer; the question never names the fact's place or object.
LOW_OVERLAP = (
    LowOverlapPair("Actually, {name} lives right next to the Semper Opera House.",
                   "Which character has been to Dresden?", "the Semper Opera House is in Dresden"),
    LowOverlapPair("In the end {name} took the overnight ferry across the Bosphorus.",
                   "Which character has visited Istanbul?", "the Bosphorus runs through Istanbul"),
    LowOverlapPair("{name} spent every summer painting beside the canals of Giethoorn.",
                   "Which character knows the Netherlands well?", "Giethoorn is a Dutch village"),
    LowOverlapPair("Last spring {name} finally climbed Kilimanjaro.",
                   "Which character has stood on African soil?", "Kilimanjaro is in Tanzania"),
    LowOverlapPair("For years {name} kept a photo of the Atomium above the fireplace.",
                   "Which character likes Brussels?", "the Atomium is a Brussels landmark"),
    LowOverlapPair("{name} is allergic to gluten.",
                   "Which character cannot eat bread?", "bread contains gluten"),
    LowOverlapPair("{name} was born the same year the Berlin Wall fell.",
                   "Which character is a child of 1989?", "the Berlin Wall fell in 1989"),
    LowOverlapPair("{name} proposed to his partner under the Northern Lights in Tromsø.",
                   "Which character got engaged in Norway?", "Tromsø is in Norway"),
)
_NAMES = ("Yuki", "Stuart", "Katie", "Megan", "Diego", "Veronica", "Mandy", "Calvin", "Ingrid", "Rashid")


def content_words(text: str) -> set[str]:
    """Lower-case words of `text` without stopwords (and without a plural/possessive 's')."""
    words = {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in _WORD.findall(text.lower())}
    return words - STOPWORDS


def low_overlap(pair: int = 0, *, seed: int = 0) -> Needle:
    """The `pair`-th LOW_OVERLAP pair with a character name drawn from the seed; the name is the answer."""
    if not 0 <= pair < len(LOW_OVERLAP):
        raise UsageError(f"low_overlap pair must be in 0..{len(LOW_OVERLAP) - 1}, got {pair}")
    chosen = LOW_OVERLAP[pair]
    name = random.Random(f"lo:{pair}:{seed}").choice(_NAMES)
    return Needle(f"lo{pair}", (chosen.fact.format(name=name),), chosen.question, (name,), kind="low-overlap",
                  meta=(("link", chosen.link),), answer_prefix="The character is")


#: Distractor levels for `with_distractors`, by how much a distractor looks like the fact.
DISTRACTOR_LEVELS = ("near", "far")


def with_distractors(needle: Needle, level: str = "near", *, count: int = 2, seed: int = 0) -> Needle:
    """The needle with `count` distractors of the given similarity added after its facts.

    - "near": the fact with its answer swapped for another value and its subject changed (same template):
      a careless reader picks it.
    - "far": same topic words, no template: lexical noise rather than a trap.

    The measured similarity of each is `distractor_similarity`.
    """
    if level not in DISTRACTOR_LEVELS:
        raise UsageError(f"distractor level {level!r}: use one of {', '.join(DISTRACTOR_LEVELS)}")
    if count < 1:
        raise UsageError(f"count must be at least 1, got {count}")
    rng = random.Random(f"dx:{needle.digest}:{level}:{seed}")
    made = [_near(needle, rng) if level == "near" else _far(needle, rng) for _ in range(count)]
    return replace(needle, name=f"{needle.name}+{level}{count}", distractors=needle.distractors + tuple(made))


_CITIES = ("Seattle", "Boston", "Denver", "Austin", "Chicago", "Portland", "Atlanta", "Phoenix")
_FOODS = ("burrito", "bagel", "taco", "pretzel", "croissant")
_PARKS = ("Central Park", "Zilker Park", "Millennium Park", "Forest Park", "Piedmont Park")


def _near(needle: Needle, rng: random.Random) -> str:
    fact = needle.facts[0]
    if "San Francisco" in fact:
        return (f"The best thing to do in {rng.choice(_CITIES)} is eat a {rng.choice(_FOODS)} and sit in "
                f"{rng.choice(_PARKS)} on a sunny day.")
    key_value = re.match(r"One of the special magic (\w+) for (\S+) is: (\S+)\.", fact)
    if key_value:
        key = _keys(rng, 1)[0]
        return _fact(key, _value(rng, "uuid" if key_value.group(1) == "uuids" else "number"),
                     "uuid" if key_value.group(1) == "uuids" else "number")
    swapped = fact
    for answer in needle.answers:
        swapped = swapped.replace(answer, rng.choice(_NAMES) if answer in _NAMES else "someone else")
    return swapped


def _far(needle: Needle, rng: random.Random) -> str:
    words = sorted(content_words(needle.facts[0]) - {w.lower() for a in needle.answers for w in a.split()})
    picked = rng.sample(words, min(2, len(words))) if words else ["place"]
    return f"People often talk about {', '.join(picked)} without ever agreeing on what matters most."


def distractor_similarity(needle: Needle) -> list[float]:
    """Jaccard similarity of each distractor's content words to the first fact's (1 = the same words)."""
    fact = content_words(needle.facts[0])
    return [len(fact & (d := content_words(text))) / max(1, len(fact | d)) for text in needle.distractors]


def place_depths(depth_percent: float, count: int) -> list[float]:
    """Depths for `count` inserts: the first at `depth_percent`, the rest at even steps through what is left.

    >>> place_depths(40, 3)
    [40.0, 60.0, 80.0]
    """
    step = (100.0 - depth_percent) / count
    return [depth_percent + i * step for i in range(count)]


def needles_from(spec: str, *, seed: int = 0) -> list[Needle]:
    """Needles from a short spec (the CLI's --needle): "classic", "mk:4" / "mk:4:uuid" (multi-key),
    "mv:3[:uuid]" (multi-value), "mq:2/4[:uuid]" (2 of 4 keys asked), "lo:3" or "lo:all" (low overlap), any of
    them followed by "+near:2" or "+far:2" for distractors.

    >>> [n.name for n in needles_from("mk:4:uuid+near:1")]
    ['mk4-uuid+near1']
    """
    base, _, extra = spec.strip().partition("+")
    kind, _, rest = base.partition(":")
    args = rest.split(":") if rest else []
    value = args[1] if len(args) > 1 else "number"
    try:
        if kind == "classic" and not args:
            made = [classic()]
        elif kind == "mk":
            made = [multi_key(int(args[0]) if args else 4, value=value, seed=seed)]
        elif kind == "mv":
            made = [multi_value(int(args[0]) if args else 4, value=value, seed=seed)]
        elif kind == "mq":
            asked, _, keys = (args[0] if args else "2/4").partition("/")
            made = [multi_query(int(keys or 4), int(asked), value=value, seed=seed)]
        elif kind == "lo":
            pairs = range(len(LOW_OVERLAP)) if not args or args[0] == "all" else [int(args[0])]
            made = [low_overlap(i, seed=seed) for i in pairs]
        else:
            raise ValueError(kind)
    except (ValueError, IndexError):
        raise UsageError(f"--needle {spec!r}: use classic, mk:N[:uuid], mv:N[:uuid], mq:ASKED/KEYS[:uuid], "
                         f"lo:I or lo:all, optionally +near:N or +far:N") from None
    if extra:
        level, _, count = extra.partition(":")
        if level not in DISTRACTOR_LEVELS or (count and not count.isdigit()):
            raise UsageError(f"--needle {spec!r}: distractors are +near:N or +far:N")
        made = [with_distractors(n, level, count=int(count or 2), seed=seed) for n in made]
    return made
