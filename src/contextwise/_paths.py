"""Where contextwise keeps files on this machine: one place, so every part agrees."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Sequence
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


_DIGEST_BYTES = 32


def write_checked(path: Path, parts: Sequence[bytes | bytearray], *, magic: bytes = b"") -> None:
    """Write `magic | sha256(parts) | parts` to a temporary file beside `path`, then rename it into place.

    No fsync: the checksum catches a file the disk did not finish, and what is written this way is a cache that
    may lose its last write.

    Raises:
        OSError: the file could not be written (no temporary file is left behind).
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(magic)
            file.write(digest.digest())
            for part in parts:
                file.write(part)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_checked(path: Path, *, magic: bytes = b"") -> tuple[bytearray, int] | None:
    """The whole file written by `write_checked` and the offset its parts start at, or None when it is missing,
    unreadable, torn, or not of this `magic`. The buffer is returned whole (no copy of a large body)."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            buffer = bytearray(size)
            if file.readinto(buffer) != size:
                return None
    except OSError:
        return None
    start = len(magic) + _DIGEST_BYTES
    with memoryview(buffer) as view:
        if size < start or view[:len(magic)] != magic or \
                hashlib.sha256(view[start:]).digest() != view[len(magic):start]:
            return None
    return buffer, start
