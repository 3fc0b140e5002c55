"""The cache subpackage's public names are pinned and documented."""

from __future__ import annotations

import contextwise as cw
from contextwise import cache


def test_cache_all_is_pinned_and_documented():
    assert sorted(cache.__all__) == sorted([
        "Anchors", "AsyncCachedChatModel", "Calibration", "SemanticIndex", "anchors", "calibrate", "prompt_text",
        "wilson", "CacheControl", "CacheRequest", "CacheStats", "CachedChatModel",
        "CachedCompletion", "CachedCompressed", "CachedCompressor", "Dependency", "Entry", "EntryStore", "Lookup",
        "MemoryEntries", "Param", "RedisEntries", "ResponseCache", "SQLiteEntries", "Schema", "VersionSource",
        "Versions", "canonical_bytes", "canonical_request", "chunk_dependencies", "chunk_versions",
        "content_version", "fact_dependencies", "fact_versions", "from_call", "get_schema", "open_entries",
        "request_key", "schema_names", "settings_of",
        # the KV-state cache of the local model and its precomputed scenarios
        "KVCacheStats", "KVCachedModel", "KVFound", "KVState", "KVStateCache", "KVStateEntry",
        "PrecomputedScenario", "Scenario",
    ])
    assert [n for n in cache.__all__ if not (getattr(cache, n).__doc__ or "").strip()] == []
    assert cw.cache is cache
