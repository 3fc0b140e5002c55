"""Helpers shared by the tests: skip for a missing part locally, fail for it in CI (CONTEXTWISE_REQUIRE_ALL=1)."""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

REQUIRE_ALL = os.environ.get("CONTEXTWISE_REQUIRE_ALL") == "1"


def need(module: str, reason: str = "") -> Any:
    """Import `module` or skip the test (fail in CI, where everything the README names is installed)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(f"{module} is not installed{': ' + reason if reason else ''} ({exc})")


def missing(reason: str) -> None:
    """Skip for a missing part; in CI, fail instead, since CI installs everything."""
    if REQUIRE_ALL:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
