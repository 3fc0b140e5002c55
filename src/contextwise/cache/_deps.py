"""Dependencies of cached answers on memory facts and document chunks, and the version sources that tell whether
they still hold. Built on memory's public API only (`SemanticMemory.get()`): no write hooks into memory."""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Iterable, Mapping, Sequence

from contextwise.cache._entry import Dependency, content_version
from contextwise.types import Chunk

FACT = "fact"
CHUNK = "chunk"


def fact_dependencies(facts: Iterable[Any]) -> tuple[Dependency, ...]:
    """Dependencies on facts (memory Facts or recalled MemoryItems: anything with `id` and `text`).

    A fact's version is its text: an update that changes it, a delete, or an undo of the ADD make the entry
    stale; a re-mention (NOOP) does not, and an undo that brings the same text back makes it valid again.
    """
    return tuple(Dependency(FACT, f.id, content_version(f.text)) for f in facts)


def chunk_dependencies(chunks: Iterable[Chunk]) -> tuple[Dependency, ...]:
    """Dependencies on document chunks, versioned by their text: re-indexing that changes a chunk (or drops
    it, for a source that no longer lists it) makes the entry stale."""
    return tuple(Dependency(CHUNK, c.id, content_version(c.text)) for c in chunks)


class Versions:
    """A VersionSource from a function: `fetch(ids)` returns the current version of each id that still exists.

    >>> live = {"c1": "v1"}
    >>> Versions("chunk", lambda ids: {i: live[i] for i in ids if i in live}).versions(["c1", "c2"])
    {'c1': 'v1'}
    """

    def __init__(self, kind: str, fetch: Callable[[Sequence[str]], Mapping[str, str]]) -> None:
        self.kind = kind
        self._fetch = fetch

    def versions(self, ids: Sequence[str]) -> Mapping[str, str]:
        """The current versions of `ids` (absent ones left out)."""
        return self._fetch(ids)


def fact_versions(memory: Any) -> Versions:
    """The current versions of the live facts of a SemanticMemory that an entry depends on: one `get()` of
    those ids per lookup, never a read of every fact."""
    def fetch(ids: Sequence[str]) -> Mapping[str, str]:
        return {f.id: content_version(f.text) for f in memory.get(list(ids))}

    return Versions(FACT, fetch)


def chunk_versions(chunks: Callable[[], Iterable[Chunk]]) -> Versions:
    """The current versions of the chunks a document index holds now (`chunks()` lists them)."""
    def fetch(ids: Sequence[str]) -> Mapping[str, str]:
        wanted = set(ids)
        return {c.id: content_version(c.text) for c in chunks() if c.id in wanted}

    return Versions(CHUNK, fetch)
