"""An in-process HNSW index (hnswlib) over a tenant's unit vectors, labelled by SQLite rowid, patched in place
and saved beside the database so a new process does not rebuild it.

A saved index is a folder holding `state.json` (the tenant's write counter it reflects, its build parameters
and a token) and `index-<token>.bin` / `labels-<token>.npy`; `state.json` is replaced last, so a crash while
saving leaves the previous, consistent save in force.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from contextwise.errors import MissingDependencyError
from contextwise.stores._core import HnswSearch

# Past this share of deleted-but-present elements, search quality and memory suffer: rebuild instead.
MAX_DELETED_SHARE = 0.2


def hnswlib_available() -> bool:
    """Whether hnswlib can be imported."""
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        return False
    return True


def _hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError as exc:
        raise MissingDependencyError("the HNSW index", "embed") from exc
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
