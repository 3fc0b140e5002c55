"""Preflight: count a prompt before it is sent and check it against the model's input limit; after the answer,
compare the provider's count with ours (silent truncation) and teach the calibration (estimated tokenizers)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contextwise.errors import ContextLengthError, TruncationWarning, UnknownBackendError, UsageError
from contextwise.observe import _bus
from contextwise.observe._calibration import calibration
from contextwise.observe._events import ContextOverflow, PromptTruncated
from contextwise.types import Usage

# How far off an estimated tokenizer may be before calibration has learned its model.
UNCALIBRATED_TOLERANCE = 0.15
#: The margin added to counts from an estimated tokenizer (`exact=False`), by preflight and by Context alike.
DEFAULT_ESTIMATE_MARGIN = 0.05
# Rounding in preflight's calibrated count and margin (each rounds up) that a budget leaves room for.
_ROUNDING_TOKENS = 2


@dataclass(frozen=True)
class Preflight:
    """How a client checks prompts: the limit, the tokenizer, the margins.

    Clients check by default for models in the catalog; for a model the catalog does not know (a local server)
    give the tokenizer, and the input limit if it has one (Ollama's `num_ctx`).

    >>> Preflight(input_limit_tokens=8192, tokenizer="o200k_base").estimate_margin
    0.05

    Args:
        input_limit_tokens: the most prompt tokens the model accepts; default the catalog's, less the answer's
            max_tokens where the answer shares the window.
        tokenizer: a Tokenizer or tokenizer id to count with; default the model's.
        estimate_margin: added to counts from an estimated tokenizer (`exact=False`) before the limit check.
        truncation_tolerance: how much smaller than our count the provider's may be, as a fraction, before the
            prompt is reported truncated (exact tokenizers; estimates get their calibration error on top).
        truncation_slack_tokens: the same, in tokens, added to the fraction (framing differences).
        calibrate: teach the process's calibration from each answer (estimated tokenizers only).
    """

    input_limit_tokens: int | None = None
    tokenizer: Any = None
    estimate_margin: float = DEFAULT_ESTIMATE_MARGIN
    truncation_tolerance: float = 0.02
    truncation_slack_tokens: int = 16
    calibrate: bool = True

    def __post_init__(self) -> None:
        if self.input_limit_tokens is not None and self.input_limit_tokens < 1:
            raise UsageError(f"input_limit_tokens must be at least 1, got {self.input_limit_tokens}")
        if not 0 <= self.estimate_margin < 1 or not 0 <= self.truncation_tolerance < 1:
            raise UsageError("estimate_margin and truncation_tolerance are fractions in [0, 1)")
        if self.truncation_slack_tokens < 0:
            raise UsageError("truncation_slack_tokens cannot be negative")

    def bind(self, model: str, provider: str) -> PreflightCheck | None:
        """The check for one client's model, or None when neither the catalog nor this Preflight can count."""
        from contextwise.tokens import TokenCounter, framing_for, get_tokenizer

        info = _catalog_entry(model)
        if self.tokenizer is not None:
            tok = get_tokenizer(self.tokenizer) if isinstance(self.tokenizer, str) else self.tokenizer
            counter = TokenCounter(tok, framing_for(info.provider if info is not None else provider))
        elif info is not None:
            from contextwise.tokens.counter import shared_counter

            counter = shared_counter(info.name)  # the Context's own: counts cached there are hits here
        else:
            return None
        return PreflightCheck(self, model, provider, counter, info)


def check_estimate_margin(margin: object) -> None:
    """UsageError unless `margin` is None or a fraction in [0, 1)."""
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))
                               or not 0 <= margin < 1):
        raise UsageError(f"estimate_margin is a fraction in [0, 1) or None (no margin), got {margin!r}")


def estimate_allowance(model: str, limit_tokens: int, margin: float | None) -> tuple[int, str]:
    """A budget for a model whose count is an estimate: `limit_tokens` of the provider's tokens, as estimated
    tokens (divided by the calibrated factor, when calibration knows the model and it is above 1, and by 1 +
    `margin`), so a prompt built within it passes preflight's check of the same limit; and the Report's note.

    >>> estimate_allowance("no-such-model", 10_000, 0.05)[0]
    9521

    Raises:
        UsageError: `margin` is not None or a fraction in [0, 1).
    """
    check_estimate_margin(margin)
    correction = calibration().correction(model)
    ratio = max(correction.ratio, 1.0) if correction is not None else 1.0
    factor = ratio * (1 + (margin or 0.0))
    if factor == 1.0:
        return limit_tokens, (f"token count is an estimate, budgeted with no margin: available {limit_tokens} "
                              f"tokens")
    limit = max(0, int((limit_tokens - _ROUNDING_TOKENS) / factor))
    how = f"a {margin:.0%} margin" if margin else "no margin"
    calibrated = (f" and calibration x{ratio:.3f}" if correction is not None and ratio > 1
                  else " (not calibrated yet)" if correction is None else "")
    return limit, (f"token count is an estimate, budgeted with {how}{calibrated}: available {limit} of "
                   f"{limit_tokens} tokens")


@dataclass(frozen=True)
class Counted:
    """A prompt's count before sending: `raw` by the tokenizer, `tokens` after calibration."""

    raw: int
    tokens: int
    estimate: bool


class PreflightCheck:
    """A Preflight bound to one model: `before` a call, `after` its answer."""

    def __init__(self, settings: Preflight, model: str, provider: str, counter: Any, info: Any) -> None:
        self.settings, self.model, self.provider = settings, model, provider
        self.counter, self.info = counter, info

    def limit_tokens(self, reserve_output_tokens: int) -> int | None:
        """The input limit for a call that may answer with `reserve_output_tokens`."""
        if self.settings.input_limit_tokens is not None:
            return self.settings.input_limit_tokens
        if self.info is None:
            return None
        return int(self.info.prompt_limit_tokens(reserve_output_tokens=reserve_output_tokens))

    def count(self, messages: Sequence[Any], tools: Sequence[Any] = (), *, raw_tokens: int | None = None) -> Counted:
        """The prompt's count, calibrated when the tokenizer is an estimate and a correction is known;
        `raw_tokens` is the tokenizer's count when already known (a build counted these messages)."""
        raw = self.counter.messages(messages, tools=tools) if raw_tokens is None else raw_tokens
        if self.counter.exact:
            return Counted(raw, raw, False)
        correction = calibration().correction(self.model)
        return Counted(raw, correction.apply(raw) if correction else raw, True)

    def before(self, messages: Sequence[Any], tools: Sequence[Any], reserve_output_tokens: int, *,
               raw_tokens: int | None = None) -> Counted:
        """Count the prompt (or take `raw_tokens`); ContextLengthError (and a ContextOverflow event) when it is
        over the limit."""
        counted = self.count(messages, tools, raw_tokens=raw_tokens)
        limit = self.limit_tokens(reserve_output_tokens)
        needed = counted.tokens
        if counted.estimate:
            needed = int(needed * (1 + self.settings.estimate_margin) + 0.999)
        if limit is not None and needed > limit:
            if _bus.subscribers:
                _bus.emit(ContextOverflow(provider=self.provider, model=self.model, counted_tokens=needed,
                                          limit_tokens=limit, estimate=counted.estimate))
            how = " (an estimate, with its margin)" if counted.estimate else ""
            raise ContextLengthError(
                f"the prompt has {needed} tokens{how}; {self.model} accepts {limit} here (with "
                f"{reserve_output_tokens} kept for the answer); nothing was sent: build the context with a "
                f"smaller budget", backend=self.provider, needed_tokens=needed, available_tokens=limit)
        return counted

    def after(self, counted: Counted, usage: Usage) -> bool:
        """Check the billed prompt against the count; True (with a warning and an event) when it was truncated."""
        billed = usage.input_tokens
        if billed <= 0:
            return False  # the server reported no usage
        tolerance = self.settings.truncation_tolerance
        if counted.estimate:
            correction = calibration().correction(self.model)
            tolerance += correction.error if correction else UNCALIBRATED_TOLERANCE
        floor = counted.tokens * (1 - tolerance) - self.settings.truncation_slack_tokens
        if billed < floor:
            self._truncated(counted.tokens, billed)
            return True
        if counted.estimate and self.settings.calibrate:
            calibration().learn(self.model, counted_tokens=counted.raw, billed_tokens=billed)
        return False

    def _truncated(self, counted_tokens: int, billed: int) -> None:
        warnings.warn(f"{self.model} was sent {counted_tokens} prompt tokens but billed {billed}: the prompt was "
                      f"cut on the way (Ollama's num_ctx, a proxy?); raise the server's context size or build a "
                      f"smaller context", TruncationWarning, stacklevel=4)
        if _bus.subscribers:
            _bus.emit(PromptTruncated(provider=self.provider, model=self.model, counted_tokens=counted_tokens,
                                      returned_tokens=billed))


def _catalog_entry(model: str) -> Any:
    from contextwise.models import get_model

    try:
        return get_model(model)
    except UnknownBackendError:
        return None
