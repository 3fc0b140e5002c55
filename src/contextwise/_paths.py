"""Where contextwise keeps files on this machine: one place, so every part agrees."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_dir() -> Path:
    """Where contextwise keeps machine-local state it can rebuild: `$CONTEXTWISE_CACHE_DIR`, else
    `$XDG_CACHE_HOME/contextwise`, else `~/.cache/contextwise`."""
    if os.environ.get("CONTEXTWISE_CACHE_DIR"):
        return Path(os.environ["CONTEXTWISE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "contextwise"


def data_dir() -> Path:
    """Where contextwise keeps per-user data it cannot rebuild (memory, calibration): `$CONTEXTWISE_DATA_DIR`,
    else the platform's user data folder: `$XDG_DATA_HOME/contextwise` or `~/.local/share/contextwise`,
    `~/Library/Application Support/contextwise` on macOS, `%LOCALAPPDATA%\\contextwise` on Windows."""
    if os.environ.get("CONTEXTWISE_DATA_DIR"):
        return Path(os.environ["CONTEXTWISE_DATA_DIR"])
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "contextwise"
