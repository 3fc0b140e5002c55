"""An in-process HNSW index (hnswlib) over a tenant's unit vectors, labelled by SQLite rowid, patched in place
and saved beside the database so a new process does not rebuild it.

A saved index is a folder holding `state.json` (the tenant's write counter it reflects, its build parameters
and a token) and `index-<token>.bin` / `labels-<token>.npy`; `state.json` is replaced last, so a crash while
saving leaves the previous, consistent save in force.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from contextwise import _native
from contextwise._paths import cache_dir
from contextwise.errors import BackendError, MissingDependencyError, UsageError
from contextwise.stores._core import HnswSearch

# Past this share of deleted-but-present elements, search quality and memory suffer: rebuild instead.
MAX_DELETED_SHARE = 0.2


#: The command every message about a broken hnswlib names (`rebuild_hnswlib`): a build for this CPU.
REBUILD_COMMAND = "contextwise install-hnsw"
#: How it reinstalls hnswlib: from source on this machine, bypassing pip's cache of wheels built elsewhere.
_PIP_ARGS = ("install", "--force-reinstall", "--no-deps", "--no-cache-dir", "hnswlib")
#: Set to 0 to skip the child-process check of hnswlib (you accept that a build for another CPU kills your process).
CHECK_ENV = "CONTEXTWISE_HNSW_CHECK"
#: The check's child gets this long (importing numpy and hnswlib on a loaded 2-core machine takes a second or two).
CHECK_TIMEOUT_S = 120.0

# What the stores do with hnswlib, on a small index: build (threads), patch, delete, search, save and load.
_CHILD = """
import os, sys, tempfile
import numpy as np
import hnswlib
rows = np.random.default_rng(0).standard_normal((300, 384)).astype(np.float32)
rows /= np.linalg.norm(rows, axis=1, keepdims=True)
index = hnswlib.Index(space="ip", dim=384)
index.init_index(max_elements=256, ef_construction=64, M=16)
index.add_items(rows[:256], np.arange(256))
index.resize_index(512)
index.add_items(rows[256:], np.arange(256, 300))
index.mark_deleted(0)
index.set_ef(64)
labels, _ = index.knn_query(rows[1:9], k=3, num_threads=1)
assert (labels[:, 0] == np.arange(1, 9)).all(), labels
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "index.bin")
    index.save_index(path)
    loaded = hnswlib.Index(space="ip", dim=384)
    loaded.load_index(path, max_elements=512)
    assert loaded.knn_query(rows[299:], k=1, num_threads=1)[0][0, 0] == 299
print("contextwise-hnswlib-ok", hnswlib.__file__)
"""


#: What `hnswlib_problem(wait=False)` returns while the machine's first check runs on its thread.
CHECKING = BackendError("hnswlib's check is still running in a child process", backend="hnswlib")
_checker: threading.Thread | None = None
_checker_lock = threading.Lock()


def hnswlib_problem(*, wait: bool = True) -> MissingDependencyError | BackendError | None:
    """The error to raise where hnswlib is needed and cannot be used in this process, or None if it can: it is not
    installed (MissingDependencyError), or its build does not run on this CPU (BackendError naming the fix).

    hnswlib has no wheels on PyPI: pip compiles it with `-march=native` and caches that wheel under its version
    alone, so a pip cache, virtualenv or image from a machine with other CPU features holds a build that dies of
    SIGILL here, even in `import hnswlib` (built on an AVX-512 CPU, the code its module setup runs holds AVX-512
    instructions: pybind11's signature builder, per objdump). So the stores' work runs once in a child process
    first (contextwise/_native.py; remembered per library file, CPU and interpreter), and only a build that
    passed is imported here.

    `wait=False` (a caller holding a lock, such as a store's query): when the verdict is not remembered yet,
    start the check on a thread of its own and return CHECKING at once instead of waiting for the child (~0.2 s,
    up to CHECK_TIMEOUT_S)."""
    if "hnswlib" in sys.modules:
        return None  # imported already (and this process still runs)
    spec = importlib.util.find_spec("hnswlib")
    if spec is None or spec.origin is None:
        return MissingDependencyError("the HNSW index", "embed")
    if os.environ.get(CHECK_ENV, "1") == "0":
        return None
    argv, key = [_native.python(), "-c", _CHILD], [_native.fingerprint(Path(spec.origin))]
    verdict = _native.known("hnswlib", argv, key=key)
    if verdict is None and not wait:
        _check_in_background()
        return CHECKING
    if verdict is None:
        verdict = _native.check("hnswlib", argv, ok_line="contextwise-hnswlib-ok", key=key, timeout_s=CHECK_TIMEOUT_S)
    if verdict.ok:
        return None
    return BackendError(f"this hnswlib build does not run on this machine ({verdict.detail}); rebuild it for this "
                        f"CPU with: {REBUILD_COMMAND}  (or set {CHECK_ENV}=0 to skip this check)", backend="hnswlib")


def _check_in_background() -> None:
    """Run hnswlib's check on a thread of its own, unless one is running."""
    global _checker
    with _checker_lock:
        if _checker is None or not _checker.is_alive():
            _checker = threading.Thread(target=hnswlib_problem, daemon=True, name="contextwise-hnswlib-check")
            _checker.start()


def rebuild_hnswlib(*, force: bool = False) -> bool:
    """Make the hnswlib of this interpreter one that runs on this CPU: if it is missing or fails its check (or
    `force`), build it from source here with pip, bypassing pip's cache, and check it again. A build that failed
    its check is removed from pip's cache of wheels as well (`pip cache remove hnswlib`), so the next virtualenv
    on this machine builds its own.
    Returns whether it rebuilt. CLI: `contextwise install-hnsw`.

    Raises:
        BackendError: pip failed (the message names its log), or the new build fails its check too.
    """
    problem = hnswlib_problem()
    if not force and problem is None:
        return False
    if "hnswlib" in sys.modules:
        raise UsageError(f"hnswlib is imported in this process already; rebuild it from a new one ({REBUILD_COMMAND})")
    log = cache_dir() / "hnswlib-rebuild.log"
    if isinstance(problem, BackendError):  # the bad wheel is likely in pip's cache, for the next virtualenv too
        with contextlib.suppress(BackendError):  # pip's cache is off: nothing to remove
            _native.pip(("cache", "remove", "hnswlib"), log, backend="hnswlib")
    _native.pip(_PIP_ARGS, log, backend="hnswlib")
    importlib.invalidate_caches()
    problem = hnswlib_problem()
    if problem is not None:
        raise problem
    return True


def _hnswlib() -> Any:
    problem = hnswlib_problem()
    if problem is not None:
        raise problem
    import hnswlib
    return hnswlib


class HnswIndex:
    """HNSW over unit vectors (inner product on unit vectors is cosine similarity), one label per row id."""

    def __init__(self, index: Any, params: HnswSearch, live: int) -> None:
        self._index = index
        self._params = params
        self.live = live
        self.deleted = index.get_current_count() - live
        self.dirty = False

    @classmethod
    def build(cls, unit_matrix: np.ndarray, labels: np.ndarray, params: HnswSearch) -> HnswIndex:
        """A new index over these rows."""
        index = _hnswlib().Index(space="ip", dim=unit_matrix.shape[1])
        index.init_index(max_elements=max(len(labels), 16), ef_construction=params.ef_construction, M=params.m)
        index.add_items(unit_matrix, labels)
        built = cls(index, params, len(labels))
        built.dirty = True
        return built

    @classmethod
    def load(cls, folder: Path, params: HnswSearch, dimensions: int) -> tuple[HnswIndex, int, np.ndarray] | None:
        """A saved index with the write counter it reflects and its live labels; None if there is no usable
        save (missing, other build parameters, unreadable)."""
        try:
            state = json.loads((folder / "state.json").read_text())
            if (state["m"], state["ef_construction"], state["dimensions"]) != (
                    params.m, params.ef_construction, dimensions):
                return None
            labels = np.load(folder / f"labels-{state['token']}.npy")
            index = _hnswlib().Index(space="ip", dim=dimensions)
            index.load_index(str(folder / f"index-{state['token']}.bin"), max_elements=int(state["capacity"]))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        return cls(index, params, len(labels)), int(state["version"]), labels

    def save(self, folder: Path, version: int, labels: np.ndarray) -> None:
        """Save the index as of write counter `version`, whose live labels are `labels`."""
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        self._index.save_index(str(folder / f"index-{token}.bin"))
        np.save(folder / f"labels-{token}.npy", labels)
        state = {"version": version, "token": token, "m": self._params.m, "dimensions": self._index.dim,
                 "ef_construction": self._params.ef_construction, "capacity": self._index.get_max_elements()}
        (folder / "state.tmp").write_text(json.dumps(state))
        os.replace(folder / "state.tmp", folder / "state.json")
        for old in folder.iterdir():
            if old.suffix in (".bin", ".npy") and token not in old.name:
                old.unlink(missing_ok=True)
        self.dirty = False

    def add(self, unit_matrix: np.ndarray, labels: np.ndarray, *, fresh: int) -> None:
        """Insert rows, or replace the vectors of labels already present; `fresh` of them are new labels."""
        needed = self._index.get_current_count() + fresh
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))
        if len(labels):
            self._index.add_items(unit_matrix, labels)
            self.dirty = True
        self.live += fresh

    def remove(self, labels: np.ndarray) -> None:
        """Mark labels (all present) deleted: searches skip them."""
        for label in labels:
            self._index.mark_deleted(int(label))
        self.live -= len(labels)
        self.deleted += len(labels)
        self.dirty = self.dirty or bool(len(labels))

    @property
    def worn(self) -> bool:
        """Whether so many elements are deleted that a rebuild is due."""
        return bool(self.deleted > MAX_DELETED_SHARE * max(self.live, 1))

    def search(self, unit_query: np.ndarray, k: int, ef_search: int | None = None) -> np.ndarray:
        """Labels of (approximately) the `k` nearest rows, best first (`ef_search`: this search's, None: the
        index's own)."""
        k = min(k, self.live)
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        self._index.set_ef(max(ef_search or self._params.ef_search, k))
        labels, _ = self._index.knn_query(unit_query.reshape(1, -1), k=k, num_threads=1)
        nearest: np.ndarray = labels[0].astype(np.int64)
        return nearest
