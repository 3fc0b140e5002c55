"""Where contextwise keeps files on this machine: one place, so every part agrees."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where contextwise keeps machine-local state it can rebuild: `$CONTEXTWISE_CACHE_DIR`, else
    `$XDG_CACHE_HOME/contextwise`, else `~/.cache/contextwise`."""
    if os.environ.get("CONTEXTWISE_CACHE_DIR"):
        return Path(os.environ["CONTEXTWISE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "contextwise"
