"""Rule-based fact extraction: first-person statements about the speaker rewritten in the third person.

What is kept: a sentence whose subject is the speaker ("I ...", "My ..."), that says something durable or datable.
What is left out: questions, greetings, thanks, agreement, compliments and other chit-chat, and sentences about the
person spoken to ("you"), whose referent a fact could not name.

Grammar is right or left alone: only the verb right after a subject "I" is conjugated, and only when it is a verb
this module knows (its base form, or a past form that stays as it is); a sentence it cannot rewrite safely is kept
as a quotation ('The user said: "..."'). An object "me" becomes "the user" and is never conjugated after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Base forms whose third person singular is regular (+s, +es, y -> ies) unless listed in _IRREGULAR_3SG.
_BASE_VERBS = frozenset("""
accept act add admire cherish adopt advise agree aim allow apply appreciate arrange ask attend avoid bake believe belong
bike blog boil book borrow bounce bring build buy call camp care carry catch celebrate change chat cheer choose
clean climb coach code collect come compete consider cook count crave create cycle dance date decide design
dislike dive do donate draw dream drink drive drop eat edit embrace enjoy exercise expect explore face fail feel
fight find finish fish fix fly focus follow forget garden get give go golf grow guess hang hate have head help
hike hire hold hope host hunt imagine intend invest join jog keep kayak knit know lead learn leave lend like
listen live look love make manage mean meditate meet mentor miss move need nurse object offer open organize
organise own paint pass pay perform photograph plan plant play practice practise prefer prepare produce publish
put quit raise reach read realize realise recommend recover relax remember rent repair research rest return ride
run save say see sell send serve share shop sing skate ski sleep smoke speak spend stand start stay stop study
support surf swim take talk teach tend think train travel try turn understand use visit volunteer vote wait walk
want watch wear wish work worry write
""".split())
_IRREGULAR_3SG = {"have": "has", "do": "does", "go": "goes", "be": "is"}
# Past and other forms that are the same for every person: they stay as they are.
_INVARIANT = frozenset("""
was were had did went came got made took saw felt found gave kept knew left lost met paid put quit read ran
said sold sent sat slept spent stood swam taught told thought understood won wore wrote began bought brought built
caught chose drank drove ate fell flew forgot grew heard held hung led lent rode rang rose sang shook shot spoke
stuck struck swung threw woke became broke can could will would shall should may might must used
""".split())
_CONTRACTIONS = [(re.compile(p, re.I), r) for p, r in (
    (r"\bI'm\b|\bI am\b", "the user is"), (r"\bI've\b", "the user has"), (r"\bI'll\b", "the user will"),
    (r"\bI'd\b", "the user would"), (r"\bI (?:don't|do not)\b", "the user does not"),
    (r"\bI (?:didn't|did not)\b", "the user did not"), (r"\bI (?:can't|cannot|can not)\b", "the user cannot"),
    (r"\bI (?:won't|will not)\b", "the user will not"), (r"\bI (?:haven't|have not)\b", "the user has not"),
    (r"\bI (?:wasn't|was not)\b", "the user was not"), (r"\bI (?:wouldn't|would not)\b", "the user would not"),
    (r"\bI (?:couldn't|could not)\b", "the user could not"),
)]
_POSSESSIVE = [(re.compile(p), r) for p, r in (
    (r"\bmy\b", "the user's"), (r"\bMy\b", "The user's"), (r"\bmine\b", "the user's"),
    (r"\bmyself\b", "themself"), (r"\bme\b(?!-)", "the user"),
)]
_I_VERB = re.compile(r"\bI((?: (?:[a-z]+ly|also|always|never|often|sometimes|still|just|now|even|already|usually|"
                     r"finally|recently|once|actually|only|rarely|mostly|no longer|not|never|barely|hardly|kinda|"
                     r"sort of|kind of))*) ([A-Za-z]+)\b")

# A leading discourse marker or time phrase before the subject: "Yeah, ", "Oh and ", "Last week, ".
_LEAD = re.compile(r"^(?:(?:yeah|yes|yep|oh|ah|well|so|and|but|also|plus|actually|honestly|btw|anyway|haha|lol|"
                   r"hmm|um|ok|okay|sure|right|no|nope|wait|sorry|by the way|fun fact|guess what)\b[,!.:]?\s*)+",
                   re.I)
_SUBJECT = re.compile(r"^(?:(?:yesterday|today|last \w+|this \w+|recently|lately|on \w+|\w+ \w+ ago)[, ]+)?"
                      r"(?:I\b|I'|My\b|We\b|We'|Our\b)", re.I)
_OBJECT = re.compile(r"\b(?:me|my)\b(?!-)")
_ADDRESSEE = re.compile(r"\b(you|your|yours|yourself|you're|you've|you'll|you'd|ya|u)\b", re.I)
_GROUP = re.compile(r"\b(we|we're|we've|we'll|us|our|ours)\b", re.I)
_CHIT_CHAT = re.compile(
    r"^(?:hi|hey|hello|thanks|thank|bye|goodbye|cheers|congrats|congratulations|wow|cool|nice|great|awesome|"
    r"good (?:morning|night|luck)|see ya|take care|lol|haha|omg)\b"
    r"|^I (?:\S+ )?agree\b"
    r"|^I (?:\w+ly )?(?:think|guess|suppose|agree|mean|bet|hope|wish|understand|see|know|believe|feel (?:you|the "
    r"same)|hear|appreciate|admire|can't wait|cannot wait|can imagine|can't imagine|can relate|must say|have to "
    r"say|love (?:that|how|it|this|the idea)|totally|completely|couldn't agree|get it|got it|promise|doubt)\b"
    r"|^I'(?:m|d) (?:\w+ly |so |very |super |totally )*(?:glad|happy (?:for|to hear)|sorry|proud of|excited "
    r"for|thrilled for|honou?red|grateful|thankful|curious|not sure|sure|fine|good|ok|okay|doing (?:great|"
    r"well|good|fine|ok)|love to|like to hear|here for|all ears|in)\b",
    re.I)
_EMPTY_OBJECT = re.compile(r"^I (?:\w+ )?(?:love|like|did|do|know|got|made|feel|felt) (?:it|that|this|so|them)\b"
                           r"[^,;]{0,12}[.!]*$", re.I)
# A correction says what was wrong: a cue ("actually", "I meant") with a negation or the right value.
_CORRECTION_CUE = re.compile(r"^(?:actually|correction|sorry,? I meant|I meant|no,? wait|wait,? no|to be clear|"
                             r"let me correct)\b", re.I)
_CORRECTION = re.compile(r"\b(?:I meant|not \w+ but|it was \w+(?: \w+)? only|it's \w+ only|only \w+, not|"
                         r"it was (?:actually )?\w+|, not [\w' -]+[.!]*$|n't|not|no longer)\b", re.I)
MAX_CHARS = 500


@dataclass(frozen=True)
class Rewritten:
    """A sentence as a fact: its third-person text, and whether it corrects what was said before."""

    text: str
    correction: bool = False


def sentence_fact(sentence: str) -> Rewritten | None:
    """The fact a sentence states about its speaker, or None when it states none (question, chit-chat, ...)."""
    s = sentence.strip()
    correction = bool(_CORRECTION_CUE.search(s) and _CORRECTION.search(s))
    body = _LEAD.sub("", s).strip()
    about_user = _SUBJECT.match(body) or (len(body.split()) >= 5 and _OBJECT.search(body))
    if (not body or s.endswith("?") or len(body.split()) < 3 or len(s) > MAX_CHARS or not about_user
            or _ADDRESSEE.search(body) or _CHIT_CHAT.search(body) or _EMPTY_OBJECT.match(body)):
        return None
    body = body[0].upper() + body[1:]
    if correction:
        body = _corrected(body) or body
    text = _quoted(body) if _GROUP.search(body) else third_person(body)
    return Rewritten(text, correction)


def is_correction(text: str) -> bool:
    """Whether a message corrects what was said before ("Actually, it was peanuts only.")."""
    from contextwise.compress import split_sentences

    return any(_CORRECTION_CUE.search(s.strip()) and _CORRECTION.search(s) for s in split_sentences(text))


def third_person(sentence: str) -> str:
    """A first-person sentence in the third person ("I live in Lyon." -> "The user lives in Lyon."), or the
    sentence quoted when a verb after "I" is not one this module can conjugate.

    >>> third_person("The support group has made me feel accepted.")
    'The support group has made the user feel accepted.'
    """
    out = sentence
    for rx, repl in _CONTRACTIONS:
        out = rx.sub(repl, out)
    for match in reversed(list(_I_VERB.finditer(out))):
        verb = _conjugated(match.group(2))
        if verb is None:
            return _quoted(sentence)
        out = f"{out[:match.start()]}the user{match.group(1)} {verb}{out[match.end():]}"
    if re.search(r"\bI\b", out):
        return _quoted(sentence)
    for rx, repl in _POSSESSIVE:
        out = rx.sub(repl, out)
    return _sentence(out)


def _conjugated(word: str) -> str | None:
    """The verb after "I" (and its adverbs) in the third person; None when it cannot be done safely."""
    low = word.lower()
    if low in _INVARIANT or (low.endswith("ed") and len(low) > 3):
        return word
    if low in _IRREGULAR_3SG:
        return _IRREGULAR_3SG[low]
    if low not in _BASE_VERBS:
        return None
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return word + "es"
    return word + "s"


def _quoted(sentence: str) -> str:
    return f'The user said: "{sentence.rstrip()}"'


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:] if text else text
    text = re.sub(r"[!.]+$", "", text)
    return text + "."


_STRIP_CORRECTION = re.compile(r"^(?:actually|correction|sorry,? I meant|I meant|no,? wait|wait,? no|to be clear|"
                               r"let me correct (?:that|myself))\b[,:]?\s*", re.I)
_IT_WAS = re.compile(r",?\s*(?:but |and )?(?:it was|it's|it is|it was only|only) (?:actually )?"
                     r"(?P<value>[\w' -]+?)(?: only| actually)?[.!]*$", re.I)
_NOT_BUT = re.compile(r",?\s*not (?P<old>[\w' -]+?)[.!]*$", re.I)
_NEGATED = re.compile(r"\b(?:not |no longer |n't )|\s+any ?more\b", re.I)


def _corrected(body: str) -> str | None:
    """The corrected statement of a correction: "Actually I'm not allergic to nuts anymore, it was peanuts only."
    -> "I'm allergic to peanuts."; "I live in Marseille, not Lyon." -> "I live in Marseille."."""
    body = _STRIP_CORRECTION.sub("", body).strip()
    body = body[0].upper() + body[1:] if body else body
    m = _IT_WAS.search(body)
    if m and "," in body[:m.start() + 1]:
        head = body[:m.start()].strip()
        value = m.group("value").strip()
        positive = re.sub(r"\s+", " ", _NEGATED.sub(" ", head.replace("'m not", "'m"))).strip()
        positive = re.sub(r"\b(?:do|does) (\w+)", r"\1", positive) if "n't" in head or " not " in head else positive
        obj = re.search(r"\b(?:to|in|at|for|with|of|on|about|by)\s+(?P<obj>[\w' -]+?)\s*$", positive)
        if obj:
            return positive[:obj.start("obj")] + value + "."
        return None
    m = _NOT_BUT.search(body)
    if m:
        return body[:m.start()].strip() + "."
    return body
