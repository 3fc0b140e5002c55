"""An in-process HNSW index (hnswlib) over a tenant's unit vectors, labelled by row position."""

from __future__ import annotations

import numpy as np

from contextwise.errors import MissingDependencyError
from contextwise.stores._core import HnswSearch


def hnswlib_available() -> bool:
    """Whether hnswlib can be imported."""
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        return False
    return True


class HnswIndex:
    """HNSW over the rows of `unit_matrix` (inner product on unit vectors is cosine similarity)."""

    def __init__(self, unit_matrix: np.ndarray, params: HnswSearch) -> None:
        try:
            import hnswlib
        except ImportError as exc:
            raise MissingDependencyError("the HNSW index", "embed") from exc
        count, dimensions = unit_matrix.shape
        self._index = hnswlib.Index(space="ip", dim=dimensions)
        self._index.init_index(max_elements=max(count, 1), ef_construction=params.ef_construction, M=params.m)
        self._index.add_items(unit_matrix, np.arange(count))
        self._ef_search = params.ef_search
        self.size = count

    def search(self, unit_query: np.ndarray, k: int) -> np.ndarray:
        """Row positions of (approximately) the `k` nearest rows, best first."""
        k = min(k, self.size)
        self._index.set_ef(max(self._ef_search, k))
        labels, _ = self._index.knn_query(unit_query.reshape(1, -1), k=k, num_threads=1)
        return labels[0].astype(np.int64)
