"""Calibration: a per-model correction for estimated token counts, learned from the usage providers bill.

For a model whose tokenizer is an estimate (`exact=False`: Claude, Gemini...), every answered call gives one
ratio, billed input / counted input. The correction is the median of the last `window` ratios, each clamped to
[min_ratio, max_ratio] first, so one odd answer (a proxy, a truncated prompt) cannot move it far.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from contextwise.errors import UsageError
from contextwise.observe._sqlite import connect, user_data_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calibration (model TEXT NOT NULL, at_s REAL NOT NULL, ratio REAL NOT NULL);
CREATE INDEX IF NOT EXISTS calibration_model ON calibration (model);
"""
# Prompts this small are mostly framing, where estimate and provider differ by a constant, not a ratio.
MIN_LEARN_TOKENS = 32


@dataclass(frozen=True)
class Correction:
    """A model's learned correction: multiply an estimated count by `ratio`; `calls` answers taught it, and
    `error` is the 90th-percentile relative deviation of a single call from it (0.02: within 2%)."""

    model: str
    ratio: float
    calls: int
    error: float

    def apply(self, counted_tokens: int) -> int:
        """The calibrated count."""
        return math.ceil(counted_tokens * self.ratio)

    def describe(self) -> str:
        """One line for a Report."""
        return (f"token count is an estimate, calibrated on {self.calls} call(s) of {self.model}: provider "
                f"counts x{self.ratio:.3f}, observed error {self.error:.1%}")


class Calibration:
    """Learned corrections per model, in memory or persisted in SQLite.

    >>> cal = Calibration()
    >>> for _ in range(3):
    ...     cal.learn("claude-sonnet-4-5", counted_tokens=1000, billed_tokens=1100)
    >>> cal.correction("claude-sonnet-4-5").apply(2000)
    2200

    Args:
        path: a SQLite file to keep the ratios in across processes; None keeps them in memory.
        window: how many recent calls per model the median is taken over.
        min_ratio, max_ratio: bounds each call's ratio is clamped to.
        min_calls: calls needed before `correction()` returns one.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, window: int = 64, min_ratio: float = 0.5,
                 max_ratio: float = 2.0, min_calls: int = 3) -> None:
        if window < 1 or min_calls < 1 or not 0 < min_ratio <= 1 <= max_ratio:
            raise UsageError("Calibration needs window >= 1, min_calls >= 1 and 0 < min_ratio <= 1 <= max_ratio")
        self.path = Path(path) if path is not None else None
        self.window, self.min_ratio, self.max_ratio, self.min_calls = window, min_ratio, max_ratio, min_calls
        self._ratios: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._db = connect(self.path, _SCHEMA, backend="calibration") if self.path is not None else None
        if self._db is not None:
            rows = self._db.execute("SELECT model, ratio FROM calibration ORDER BY rowid").fetchall()
            for model, ratio in rows:
                self._series(model).append(float(ratio))

    @classmethod
    def user(cls, **options: int | float) -> Calibration:
        """The calibration kept in the user's data folder (`user_data_dir()/calibration.sqlite3`)."""
        return cls(user_data_dir() / "calibration.sqlite3", **options)  # type: ignore[arg-type]

    def _series(self, model: str) -> deque[float]:
        return self._ratios.setdefault(model, deque(maxlen=self.window))

    def learn(self, model: str, *, counted_tokens: int, billed_tokens: int) -> None:
        """Take one answered call: `counted_tokens` estimated before sending, `billed_tokens` the provider's."""
        if counted_tokens < MIN_LEARN_TOKENS or billed_tokens <= 0:
            return
        ratio = min(max(billed_tokens / counted_tokens, self.min_ratio), self.max_ratio)
        with self._lock:
            self._series(model).append(ratio)
            if self._db is not None:
                self._db.execute("INSERT INTO calibration VALUES (?, ?, ?)", (model, time.time(), ratio))
                self._db.execute("DELETE FROM calibration WHERE model = ? AND rowid NOT IN (SELECT rowid FROM "
                                 "calibration WHERE model = ? ORDER BY rowid DESC LIMIT ?)",
                                 (model, model, self.window))

    def correction(self, model: str) -> Correction | None:
        """The model's correction, or None before `min_calls` calls taught one."""
        with self._lock:
            ratios = list(self._ratios.get(model, ()))
        if len(ratios) < self.min_calls:
            return None
        ratio = statistics.median(ratios)
        deviations = sorted(abs(r / ratio - 1) for r in ratios)
        error = deviations[min(len(deviations) - 1, math.ceil(0.9 * len(deviations)) - 1)]
        return Correction(model, ratio, len(ratios), error)

    def forget(self, model: str | None = None) -> None:
        """Drop what was learned for `model` (every model when None)."""
        with self._lock:
            for name in [model] if model is not None else list(self._ratios):
                self._ratios.pop(name, None)
                if self._db is not None:
                    self._db.execute("DELETE FROM calibration WHERE model = ?", (name,))
            if model is None and self._db is not None:
                self._db.execute("DELETE FROM calibration")

    def close(self) -> None:
        """Close the file (a persisted calibration)."""
        if self._db is not None:
            self._db.close()
            self._db = None


_current = Calibration()


def calibration() -> Calibration:
    """The calibration preflight learns into and Reports are annotated from (in memory unless replaced)."""
    return _current


def use_calibration(value: Calibration) -> Calibration:
    """Make `value` the process's calibration (e.g. `Calibration.user()` to persist); returns the previous one."""
    global _current
    if not isinstance(value, Calibration):
        raise UsageError(f"use_calibration() needs a Calibration, got {type(value).__name__}")
    previous, _current = _current, value
    return previous
