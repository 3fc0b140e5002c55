"""Old names kept working for a while: renamed classes (module `__getattr__`) and renamed keywords, each with a
DeprecationWarning that names the new spelling."""

from __future__ import annotations

import sys
import warnings
from typing import Any
from collections.abc import Callable, Mapping

from contextwise.errors import UsageError

_UNSET: Any = object()


def renamed_names(module: str, renames: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that serves each old name in `renames` as its new one, with a DeprecationWarning."""

    def __getattr__(name: str) -> Any:
        new = renames.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{module}.{name} was renamed {new}; the old name will be removed", DeprecationWarning,
                      stacklevel=2)
        return getattr(sys.modules[module], new)

    return __getattr__


def renamed_keyword(owner: str, old: str, new: str, old_value: Any, new_value: Any, default: Any, *,
                    stacklevel: int = 3) -> Any:
    """The value of keyword `new`, taking the deprecated `old` spelling (with a warning) when only it was given.

    `old_value` / `new_value` are what the caller passed (`UNSET` when not passed); `default` is used when neither.
    `stacklevel` points the warning at the user's call (3: the caller of the function that calls this).

    Raises:
        UsageError: both spellings were given.
    """
    if old_value is _UNSET:
        return default if new_value is _UNSET else new_value
    if new_value is not _UNSET:
        raise UsageError(f"{owner}: give {new}= only ({old}= is its old name)")
    warnings.warn(f"{owner}: {old}= was renamed {new}=", DeprecationWarning, stacklevel=stacklevel)
    return old_value


UNSET = _UNSET


def output_cap(owner: str, max_output_tokens: int | None, max_tokens: Any = _UNSET, *, depth: int = 2) -> int | None:
    """The answer's cap from `max_output_tokens`, or from its deprecated spelling `max_tokens` (a warning pointed
    at the user's call, `depth` frames above this one).

    Raises:
        UsageError: both spellings were given, or the cap is not a positive int.
    """
    cap = renamed_keyword(f"{owner}.complete", "max_tokens", "max_output_tokens", max_tokens,
                          _UNSET if max_output_tokens is None else max_output_tokens, None, stacklevel=depth + 2)
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise UsageError(f"max_output_tokens must be a positive int, got {cap!r}")
    return cap


class RenamedMaxTokens:
    """For request classes whose `max_tokens` field became `max_output_tokens`: the old name, with a warning."""

    max_output_tokens: int | None

    @property
    def max_tokens(self) -> int | None:
        """Deprecated: `max_output_tokens`."""
        warnings.warn(f"{type(self).__name__}.max_tokens was renamed max_output_tokens", DeprecationWarning,
                      stacklevel=2)
        return self.max_output_tokens
