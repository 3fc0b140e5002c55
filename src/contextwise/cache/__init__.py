"""Caching: a response cache that is never wrong (exact, then semantic with guards), and cached compressions.

The exact key hashes the whole canonical request, every field but a reviewed list of output-irrelevant ones,
with the provider's defaults filled in, and the tenant, which is mandatory and a hard partition of every store.
Answers record what they depended on (memory facts, document chunks, the system prompt) and are not served
once that changed.

For the local model, `KVCachedModel` resumes generation from llama.cpp KV states saved on disk (checksummed,
fingerprinted, partitioned by tenant, evicted by their real bytes), and `precompute()` saves a scenario's
system prompt and common context once for every later call and process.

>>> from contextwise.cache import CachedChatModel, ResponseCache
>>> from contextwise.testing import ScriptedChatModel
>>> from contextwise.types import ChatOptions, Message
>>> model = CachedChatModel(ScriptedChatModel(["4"]), ResponseCache("memory:"), tenant="acme")
>>> found = model.complete_cached([Message.user("2+2?")], options=ChatOptions(temperature=0))
>>> found.cached, model.complete_cached([Message.user("2+2?")], options=ChatOptions(temperature=0)).cached
(False, True)
"""

from __future__ import annotations

from contextwise.cache._compressed import CachedCompressed, CachedCompressor, settings_of
from contextwise.cache._anchors import Anchors, anchors
from contextwise.cache._semantic import Calibration, SemanticIndex, calibrate, prompt_text, wilson
from contextwise.cache._chat import AsyncCachedChatModel, CachedChatModel, CachedCompletion
from contextwise.cache._deps import chunk_dependencies, chunk_versions, fact_dependencies, fact_versions, Versions
from contextwise.cache._entry import Dependency, Entry, VersionSource, content_version
from contextwise.cache._kv import KVCacheStats, KVFound, KVState, KVStateCache, KVStateEntry, Scenario
from contextwise.cache._kvmodel import KVCachedModel, PrecomputedScenario
from contextwise.cache._keys import canonical_bytes, canonical_request, request_key
from contextwise.cache._request import CacheRequest, from_call
from contextwise.cache._response import CacheControl, CacheStats, Lookup, ResponseCache
from contextwise.cache._schemas import Param, Schema, get_schema, schema_names
from contextwise.cache._prompt import CacheMarker, MarkerPolicy, PromptBlock, PromptLayout, count_markers, \
    mark_request, prompt_layout
from contextwise.cache._simulate import AutomaticCache, CachedContents, CacheSimulation, PromptCachePlan, \
    SimulatedCall, TraceCall, candidate_strategies, fixed_heuristics, plan_prompt_cache, read_trace, \
    simulate_prompt_cache, trace_call, write_trace
from contextwise.cache._whymiss import MissReport, why_miss
from contextwise.cache._stores import EntryStore, MemoryEntries, RedisEntries, SQLiteEntries, open_entries

__all__ = [
    "Anchors", "AsyncCachedChatModel", "AutomaticCache", "CacheControl", "CacheMarker", "CacheRequest",
    "CacheSimulation", "CacheStats", "CachedChatModel", "CachedCompletion", "CachedCompressed", "CachedCompressor",
    "CachedContents", "Calibration", "Dependency", "Entry", "EntryStore", "KVCacheStats", "KVCachedModel", "KVFound",
    "KVState", "KVStateCache", "KVStateEntry", "Lookup", "MarkerPolicy", "MemoryEntries", "MissReport", "Param",
    "PrecomputedScenario", "PromptBlock", "PromptCachePlan", "PromptLayout", "RedisEntries", "ResponseCache",
    "SQLiteEntries", "Scenario", "Schema", "SemanticIndex", "SimulatedCall", "TraceCall", "VersionSource", "Versions",
    "anchors", "calibrate", "candidate_strategies", "canonical_bytes", "canonical_request", "chunk_dependencies",
    "chunk_versions", "content_version", "count_markers", "fact_dependencies", "fact_versions", "fixed_heuristics",
    "from_call", "get_schema", "mark_request", "open_entries", "plan_prompt_cache", "prompt_layout", "prompt_text",
    "read_trace", "request_key", "schema_names", "settings_of", "simulate_prompt_cache", "trace_call", "why_miss",
    "wilson", "write_trace",
]
