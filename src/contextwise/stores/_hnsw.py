"""An in-process HNSW index (hnswlib) over a tenant's unit vectors, labelled by SQLite rowid and patched in place."""

from __future__ import annotations

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


class HnswIndex:
    """HNSW over unit vectors (inner product on unit vectors is cosine similarity), one label per row id."""

    def __init__(self, unit_matrix: np.ndarray, labels: np.ndarray, params: HnswSearch) -> None:
        try:
            import hnswlib
        except ImportError as exc:
            raise MissingDependencyError("the HNSW index", "embed") from exc
        self._index = hnswlib.Index(space="ip", dim=unit_matrix.shape[1])
        self._index.init_index(max_elements=max(len(labels), 16), ef_construction=params.ef_construction,
                               M=params.m)
        self._index.add_items(unit_matrix, labels)
        self._ef_search = params.ef_search
        self.live = len(labels)
        self.deleted = 0

    def add(self, unit_matrix: np.ndarray, labels: np.ndarray, *, fresh: int) -> None:
        """Insert rows, or replace the vectors of labels already present; `fresh` of them are new labels."""
        needed = self._index.get_current_count() + fresh
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, 2 * self._index.get_max_elements()))
        if len(labels):
            self._index.add_items(unit_matrix, labels)
        self.live += fresh

    def remove(self, labels: np.ndarray) -> None:
        """Mark labels (all present) deleted: searches skip them."""
        for label in labels:
            self._index.mark_deleted(int(label))
        self.live -= len(labels)
        self.deleted += len(labels)

    @property
    def worn(self) -> bool:
        """Whether so many elements are deleted that a rebuild is due."""
        return self.deleted > MAX_DELETED_SHARE * max(self.live, 1)

    def search(self, unit_query: np.ndarray, k: int) -> np.ndarray:
        """Labels of (approximately) the `k` nearest rows, best first."""
        k = min(k, self.live)
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        self._index.set_ef(max(self._ef_search, k))
        labels, _ = self._index.knn_query(unit_query.reshape(1, -1), k=k, num_threads=1)
        return labels[0].astype(np.int64)
