"""Metadata filters (`where`): parsed once, then matched in Python or compiled to SQLite or PostgreSQL SQL.

A filter is a mapping of top-level metadata field to a value (equality) or to one operator:
`{"kind": "fact", "year": {"$gte": 2020, "$lt": 2024}, "topic": {"$in": ["a", "b"]}}`; all fields must match.
Comparison is type-strict on every back-end: a string never equals a number, `True` never equals `1`, and
ranges apply to numbers only. `$ne` / `$nin` also match records that lack the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

from contextwise.stores._errors import InvalidFilterError

Scalar = str | int | float | bool
_FIELD = re.compile(r"\A[A-Za-z_][A-Za-z0-9_\-]{0,63}\Z")  # \Z: "$" would let "field\n" through
_INT64 = (-(2**63), 2**63 - 1)  # what SQLite and PostgreSQL compare exactly
_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPS = frozenset({"$eq", "$ne", "$in", "$nin", *_RANGE})


@dataclass(frozen=True)
class Condition:
    """One field test: `op` is one of $eq $ne $in $nin $gt $gte $lt $lte; `values` has one value except for $in/$nin."""

    field: str
    op: str
    values: tuple[Scalar, ...]


def parse_where(where: Mapping[str, Any] | None) -> tuple[Condition, ...]:
    """Validate `where` and return its conditions (all must hold); raise InvalidFilterError on a bad filter."""
    if where is None:
        return ()
    if not isinstance(where, Mapping):
        raise InvalidFilterError(f"where must be a mapping of field to value, got {type(where).__name__}")
    out: list[Condition] = []
    for field, spec in where.items():
        if not isinstance(field, str) or not _FIELD.match(field):
            raise InvalidFilterError(f"bad filter field {field!r}: use a top-level name of letters, digits, _ or -")
        ops = spec if isinstance(spec, Mapping) else {"$eq": spec}
        if not ops:
            raise InvalidFilterError(f"empty operator mapping for field {field!r}")
        out.extend(_condition(field, op, value) for op, value in ops.items())
    return tuple(out)


def _condition(field: str, op: str, value: Any) -> Condition:
    if op not in _OPS:
        raise InvalidFilterError(f"unknown operator {op!r} for {field!r}; use one of {', '.join(sorted(_OPS))}")
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise InvalidFilterError(f"{op} on {field!r} needs a list of values")
        return Condition(field, op, tuple(_scalar(field, v) for v in value))
    scalar = _scalar(field, value)
    if op in _RANGE and not _is_number(scalar):
        raise InvalidFilterError(f"{op} on {field!r} needs a number, got {value!r}")
    return Condition(field, op, (scalar,))


def _scalar(field: str, value: Any) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidFilterError(f"filter value for {field!r} must be finite, got {value!r}")
    if not isinstance(value, (str, int, float, bool)):
        raise InvalidFilterError(f"filter value for {field!r} must be a string, number or bool, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        raise InvalidFilterError(f"filter value for {field!r} is an integer beyond 64 bits; the stores compare "
                                 "integers of at most 64 bits (use a float or a string)")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(stored: Any, value: Scalar) -> bool:
    if isinstance(value, bool) or isinstance(stored, bool):
        return isinstance(stored, bool) and isinstance(value, bool) and stored is value
    if _is_number(value):
        return _is_number(stored) and stored == value
    return isinstance(stored, str) and stored == value


_COMPARE = {
    "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
}


def _holds(cond: Condition, metadata: Mapping[str, Any]) -> bool:
    present = cond.field in metadata
    stored = metadata.get(cond.field)
    if cond.op in ("$eq", "$in"):
        return present and any(_same(stored, v) for v in cond.values)
    if cond.op in ("$ne", "$nin"):
        return not (present and any(_same(stored, v) for v in cond.values))
    return present and _is_number(stored) and _COMPARE[cond.op](stored, cond.values[0])


def matches(conditions: tuple[Condition, ...], metadata: Mapping[str, Any]) -> bool:
    """Whether `metadata` satisfies every condition."""
    return all(_holds(c, metadata) for c in conditions)


# --- SQLite: JSON1 functions over the `metadata` text column -------------------------------------------------

def _sqlite_same(path: str, value: Scalar) -> tuple[str, list[Any]]:
    if isinstance(value, bool):
        return "json_type(metadata, ?) = ?", [path, "true" if value else "false"]
    if _is_number(value):
        return "(json_type(metadata, ?) IN ('integer', 'real') AND json_extract(metadata, ?) = ?)", [path, path, value]
    return "(json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) = ?)", [path, path, value]


def _sqlite_condition(cond: Condition) -> tuple[str, list[Any]]:
    path = f'$."{cond.field}"'
    if cond.op in _RANGE:
        sql = f"(json_type(metadata, ?) IN ('integer', 'real') AND json_extract(metadata, ?) {_RANGE[cond.op]} ?)"
        return f"COALESCE({sql}, 0)", [path, path, cond.values[0]]
    parts = [_sqlite_same(path, v) for v in cond.values]
    any_sql = " OR ".join(p[0] for p in parts) or "0"
    params = [x for p in parts for x in p[1]]
    sql = f"COALESCE(({any_sql}), 0)"
    return (f"NOT {sql}" if cond.op in ("$ne", "$nin") else sql), params


def to_sqlite(conditions: tuple[Condition, ...]) -> tuple[str, list[Any]]:
    """An SQLite boolean expression over column `metadata` and its parameters ("1" for no conditions)."""
    return _join([_sqlite_condition(c) for c in conditions], "1")


# --- PostgreSQL: SQL/JSON path predicates over the `metadata` jsonb column -------------------------------------

def _pg_atom(field: str, op: str, value: Scalar) -> tuple[str, list[Any]]:
    path = f'strict $."{field}" {op} $v'
    sql = "COALESCE(jsonb_path_match(metadata, %s::jsonpath, %s::jsonb, true), false)"
    return sql, [path, json.dumps({"v": value})]


def _pg_condition(cond: Condition) -> tuple[str, list[Any]]:
    if cond.op in _RANGE:
        return _pg_atom(cond.field, _RANGE[cond.op], cond.values[0])
    parts = [_pg_atom(cond.field, "==", v) for v in cond.values]
    sql, params = _join(parts, "false", " OR ")
    return (f"NOT ({sql})" if cond.op in ("$ne", "$nin") else f"({sql})"), params


def to_postgres(conditions: tuple[Condition, ...]) -> tuple[str, list[Any]]:
    """A PostgreSQL boolean expression over column `metadata` (jsonb) and its %s parameters ("true" for none)."""
    return _join([_pg_condition(c) for c in conditions], "true")


def _join(parts: list[tuple[str, list[Any]]], empty: str, glue: str = " AND ") -> tuple[str, list[Any]]:
    if not parts:
        return empty, []
    return glue.join(p[0] for p in parts), [x for p in parts for x in p[1]]
