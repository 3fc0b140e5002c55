"""Build the labelled prompt pairs the semantic cache is calibrated and measured on (benchmarks/data/cache_pairs.jsonl).

From each NQ-Open question of Lost in the Middle (nq-open-oracle, 2,655 real user questions) the rules below make
pairs (prompt, cached prompt, same meaning?), deterministically (no randomness: choices follow the question's
index). How each kind is made is written in benchmarks/data/cache_pairs.md.

    python benchmarks/make_cache_pairs.py [--data /work/shared/bench/data/lost-in-the-middle]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
DEFAULT_DATA = Path("/work/shared/bench/data/lost-in-the-middle")
OUT = HERE / "data" / "cache_pairs.jsonl"

AUX = ("is", "was", "are", "were", "did", "does", "do", "can", "will", "has", "have", "could", "should")
CONTRACT = {"what is": "what's", "who is": "who's", "where is": "where's", "when is": "when's",
            "how is": "how's", "it is": "it's", "that is": "that's", "there is": "there's"}
PREFIXES = ("can you tell me {q}?", "i'd like to know {q}", "quick question: {q}?", "do you know {q}?",
            "please tell me {q}", "{Q}?", "hey, {q}?", "{q}? thanks")
ANTONYMS = {"first": "last", "last": "first", "largest": "smallest", "smallest": "largest", "biggest": "smallest",
            "highest": "lowest", "lowest": "highest", "most": "least", "least": "most", "oldest": "youngest",
            "youngest": "oldest", "longest": "shortest", "shortest": "longest", "north": "south",
            "south": "north", "east": "west", "west": "east", "before": "after", "after": "before",
            "start": "end", "end": "start", "won": "lost", "win": "lose", "men": "women", "women": "men",
            "male": "female", "female": "male", "best": "worst", "top": "bottom", "next": "previous",
            "new": "old", "old": "new", "current": "former", "open": "close", "early": "late", "upper": "lower",
            "lower": "upper", "inside": "outside", "left": "right", "right": "left", "up": "down", "down": "up",
            "max": "min", "more": "less", "positive": "negative", "high": "low", "low": "high"}
NUMBER_WORDS = {"one": "two", "two": "three", "three": "four", "four": "five", "five": "six", "first": "second",
                "second": "third", "third": "fourth", "fourth": "fifth", "ten": "eleven", "twelve": "thirteen"}
SYNONYMS = {"movie": "film", "film": "movie", "located": "situated", "largest": "biggest", "us": "united states",
            "uk": "united kingdom", "tv show": "tv series", "begin": "start", "died": "passed away",
            "sang": "performed", "wrote": "authored", "made": "created", "big": "large"}
STOP = set("a an the of in on at to for from by with is are was were be did does do who what when where which "
           "how why whom whose s it its and or".split())


def paraphrase(q: str, i: int) -> tuple[str, str] | None:
    """(rule, paraphrase) for question number i: contractions or the possessive form where they apply, else a
    prefix/suffix template."""
    for long, short in CONTRACT.items():
        if re.search(rf"\b{long}\b", q) and i % 3 == 0:
            return "contraction", re.sub(rf"\b{long}\b", short, q, count=1)
    m = re.match(r"^(who|what|where|when) (is|was|are|were) the (\w+) of (the )?([\w ]+)$", q)
    if m and i % 3 == 1:
        return "possessive", f"{m.group(1)} {m.group(2)} {m.group(5)}'s {m.group(3)}"
    template = PREFIXES[i % len(PREFIXES)]
    return "template", template.format(q=q, Q=q[:1].upper() + q[1:])


def extra_paraphrases(q: str) -> list[tuple[str, str]]:
    """Further paraphrases: a synonym swapped (the guard refuses these: they measure the hits it gives up) and
    "the" dropped (it keeps these)."""
    out = []
    for word, other in SYNONYMS.items():
        if re.search(rf"\b{word}\b", q):
            out.append(("synonym", re.sub(rf"\b{word}\b", other, q, count=1)))
            break
    if " the " in f" {q} ":
        out.append(("drop-the", re.sub(r"\bthe ", "", q, count=1)))
    return out


def negation(q: str) -> str | None:
    words = q.split()
    for j, w in enumerate(words[:4]):
        if w in AUX:
            return " ".join(words[:j + 1] + ["not"] + words[j + 1:])
    if words and words[0] in ("who", "what", "which") and len(words) > 2:
        return " ".join(words[:1] + ["never"] + words[1:])
    return None


def antonym(q: str) -> str | None:
    words = q.split()
    for j, w in enumerate(words):
        if w in ANTONYMS:
            return " ".join(words[:j] + [ANTONYMS[w]] + words[j + 1:])
    return None


def number_swap(q: str) -> str | None:
    m = re.search(r"\b(\d+)\b", q)
    if m:
        n = int(m.group(1))
        return q[:m.start()] + str(n + 1 if n < 1900 or n > 2100 else n - 1) + q[m.end():]
    words = q.split()
    for j, w in enumerate(words):
        if w in NUMBER_WORDS:
            return " ".join(words[:j] + [NUMBER_WORDS[w]] + words[j + 1:])
    return None


def tail_phrase(q: str) -> tuple[int, str] | None:
    """The phrase after the last "of"/"in" (a named thing, in most NQ questions), with where it starts."""
    found = list(re.finditer(r"\b(?:of|in) (?:the )?", q))
    m = found[-1] if found else None
    if m is None or len(q) - m.end() < 3:
        return None
    return m.end(), q[m.end():]


def entity_swap(q: str, others: list[str], i: int) -> str | None:
    mine = tail_phrase(q)
    if mine is None:
        return None
    for step in range(1, 40):
        other = tail_phrase(others[(i * 7 + step * 13) % len(others)])
        if other is not None and other[1] != mine[1] and not set(other[1].split()) & set(mine[1].split()):
            return q[:mine[0]] + other[1]
    return None


def split_of(q: str) -> str:
    """"calibrate" or "test", by a hash of the question (half each), so a question's pairs stay together."""
    return "calibrate" if hashlib.sha256(q.encode()).digest()[0] % 2 == 0 else "test"


def neighbours(questions: list[str]) -> list[int]:
    """For each question, the most similar other question under the embedded MiniLM (a hard negative)."""
    sys.path.insert(0, str(HERE.parent / "src"))
    import numpy as np

    from contextwise.cache._semantic import prompt_text
    from contextwise.embed import default_embedder
    from contextwise.types import Message

    vectors = default_embedder().embed([prompt_text([Message.user(q)]) for q in questions], kind="query")
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    for a, q in enumerate(questions):  # the same question asked twice in NQ is not a negative
        sims[a, [b for b, other in enumerate(questions) if other == q]] = -1.0
    return [int(j) for j in sims.argmax(axis=1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    with gzip.open(args.data / "nq-open-oracle.jsonl.gz", "rt", encoding="utf-8") as handle:
        questions = list(dict.fromkeys(json.loads(line)["question"].strip() for line in handle))
    near = neighbours(questions)
    rows = []
    for i, q in enumerate(questions):
        found = paraphrase(q, i)
        candidates = [("paraphrase:" + found[0], found[1], True)] if found else []
        if i % 2 == 0:
            candidates += [("paraphrase:" + kind, text, True) for kind, text in extra_paraphrases(q)]
        for kind, make in (("negation", negation), ("antonym", antonym), ("number", number_swap)):
            made = make(q)
            if made and made != q:
                candidates.append((kind, made, False))
        swapped = entity_swap(q, questions, i)
        if swapped:
            candidates.append(("entity", swapped, False))
        candidates.append(("neighbour", questions[near[i]], False))
        for kind, other, same in candidates:
            rows.append({"prompt": other, "cached": q, "same": same, "kind": kind, "split": split_of(q)})
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    print(f"{len(rows)} pairs from {len(questions)} questions -> {OUT}")
    for kind, n in sorted(kinds.items()):
        print(f"  {kind:24s} {n}")


if __name__ == "__main__":
    main()
