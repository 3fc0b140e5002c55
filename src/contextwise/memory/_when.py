"""Relative times in a fact ("yesterday", "last month", "3 days ago") resolved against the message's timestamp.

`resolve_times("The user went to Rome last week.", t)` rewrites the phrase to an absolute one ("in the week of
1 May 2023") and returns when the event began, so a fact keeps meaning the same thing long after it was said.
Pure: the timestamp is always given; nothing reads the clock.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "a couple of": 2}
_COUNT = r"(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|a couple of)"
_PHRASE = re.compile(
    r"\b(?:(?P<ago>" + _COUNT + r" (?P<unit>day|week|month|year)s? ago)"
    r"|(?P<dby>the day before yesterday)|(?P<yesterday>yesterday)|(?P<lastnight>last night)"
    r"|(?P<today>today|this morning|this afternoon|this evening|tonight)|(?P<tomorrow>tomorrow)"
    r"|(?P<rel>last|this|next|past) (?P<span>week(?:end)?|month|year|" + "|".join(_WEEKDAYS) + r")"
    r"|(?:on )?(?P<bare>" + "|".join(_WEEKDAYS) + r"))\b", re.I)


@dataclass(frozen=True)
class Resolved:
    """A text with its relative times made absolute, and the start of the earliest time it names (or None)."""

    text: str
    start: float | None


def resolve_times(text: str, timestamp: float) -> Resolved:
    """Rewrite relative time phrases in `text` against `timestamp` (seconds since the epoch, UTC).

    >>> resolve_times("The user went to a support group yesterday.", 1683554160.0).text
    'The user went to a support group on 7 May 2023.'
    """
    today = datetime.fromtimestamp(timestamp, tz=timezone.utc).date()
    starts: list[date] = []

    def replace(m: re.Match[str]) -> str:
        phrase, start = _absolute(m, today)
        starts.append(start)
        return phrase

    out = _PHRASE.sub(replace, text)
    first = min(starts, default=None)
    return Resolved(out, _epoch(first) if first is not None else None)


def _absolute(m: re.Match[str], today: date) -> tuple[str, date]:
    if m.group("ago"):
        return _ago(m, today)
    for name, days in (("dby", 2), ("yesterday", 1), ("today", 0), ("tomorrow", -1)):
        if m.group(name):
            return f"on {_day(today - timedelta(days=days))}", today - timedelta(days=days)
    if m.group("lastnight"):
        night = today - timedelta(days=1)
        return f"on the night of {_day(night)}", night
    if m.group("bare"):
        return _weekday("last", m.group("bare"), today)
    return _span(m.group("rel").lower(), m.group("span").lower(), today)


def _ago(m: re.Match[str], today: date) -> tuple[str, date]:
    raw = m.group(2).lower()
    n = int(raw) if raw.isdigit() else _NUMBERS[raw]
    unit = m.group("unit").lower()
    if unit == "day":
        when = today - timedelta(days=n)
        return f"on {_day(when)}", when
    if unit == "week":
        when = today - timedelta(weeks=n)
        return f"in the week of {_day(_monday(when))}", _monday(when)
    if unit == "month":
        when = _add_months(today.replace(day=1), -n)
        return f"in {_month(when)}", when
    return f"in {today.year - n}", date(today.year - n, 1, 1)


def _span(rel: str, span: str, today: date) -> tuple[str, date]:
    shift = {"last": -1, "past": -1, "this": 0, "next": 1}[rel]
    if span in _WEEKDAYS:
        return _weekday(rel, span, today)
    if span == "week":
        monday = _monday(today) + timedelta(weeks=shift)
        return f"in the week of {_day(monday)}", monday
    if span == "weekend":
        saturday = _monday(today) + timedelta(days=5 + 7 * shift)
        return f"on the weekend of {_day(saturday)}", saturday
    if span == "month":
        first = _add_months(today.replace(day=1), shift)
        return f"in {_month(first)}", first
    return f"in {today.year + shift}", date(today.year + shift, 1, 1)


def _weekday(rel: str, name: str, today: date) -> tuple[str, date]:
    target = _WEEKDAYS.index(name.lower())
    if rel == "next":
        delta = (target - today.weekday()) % 7 or 7
        when = today + timedelta(days=delta)
    elif rel == "this":
        when = _monday(today) + timedelta(days=target)
    else:  # "last Friday" and a bare "Friday" in a statement of fact: the most recent one before today
        when = today - timedelta(days=(today.weekday() - target) % 7 or 7)
    return f"on {_day(when)}", when


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _day(d: date) -> str:
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


def _month(d: date) -> str:
    return f"{calendar.month_name[d.month]} {d.year}"


def _epoch(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


def year_span(year: int) -> tuple[float, float]:
    """The start and end of a calendar year, seconds since the epoch (UTC)."""
    return _epoch(date(year, 1, 1)), _epoch(date(year + 1, 1, 1))
