"""The cache subpackage is reachable from the top-level namespace (its names are pinned in tests/public_api)."""

from __future__ import annotations

import contextwise as cw
from contextwise import cache


def test_cache_is_the_subpackage():
    assert cw.cache is cache
