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


def renamed_keyword(owner: str, old: str, new: str, old_value: Any, new_value: Any, default: Any) -> Any:
    """The value of keyword `new`, taking the deprecated `old` spelling (with a warning) when only it was given.

    `old_value` / `new_value` are what the caller passed (`UNSET` when not passed); `default` is used when neither.

    Raises:
        UsageError: both spellings were given.
    """
    if old_value is _UNSET:
        return default if new_value is _UNSET else new_value
    if new_value is not _UNSET:
        raise UsageError(f"{owner}: give {new}= only ({old}= is its old name)")
    warnings.warn(f"{owner}: {old}= was renamed {new}=", DeprecationWarning, stacklevel=3)
    return old_value


UNSET = _UNSET
