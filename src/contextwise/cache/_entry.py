"""What a cache entry holds (the answer, its stream deltas, what it depended on) and its serialised form."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable
from collections.abc import Mapping, Sequence

from contextwise.errors import StoreError, UsageError
from contextwise.types import Completion, TokenLogprob, ToolCall, Usage

Tier = Literal["exact", "semantic", "none"]
ENTRY_VERSION = 1


@dataclass(frozen=True)
class Dependency:
    """Something an answer was built from: a memory fact, a document chunk, a system prompt.

    `version` is the state it had (a content hash, a revision); an entry whose dependency no longer has that
    version is stale and never served.

    >>> Dependency("fact", "semantic:42", "v3").token
    'fact\\x1fsemantic:42'
    """

    kind: str
    id: str
    version: str = ""

    def __post_init__(self) -> None:
        if not self.kind or "\x1f" in self.kind or "\x1f" in self.id:
            raise UsageError(f"a dependency needs a kind, and neither kind nor id may hold \\x1f: {self!r}")

    @property
    def token(self) -> str:
        """The name an entry is indexed under for `invalidate` (kind and id, not the version)."""
        return f"{self.kind}\x1f{self.id}"

    @classmethod
    def of_text(cls, kind: str, id: str, text: str) -> Dependency:  # noqa: A002 - the field's name
        """A dependency whose version is the hash of `text` (e.g. a system prompt or a chunk)."""
        return cls(kind, id, content_version(text))


def content_version(*parts: str) -> str:
    """A short stable version string of some text."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:24]


@runtime_checkable
class VersionSource(Protocol):
    """Tells the current version of dependencies of one `kind`; an id it leaves out no longer exists.

    Memory, documents or anything else can satisfy it without knowing about the cache.
    """

    kind: str

    def versions(self, ids: Sequence[str]) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Entry:
    """A cached answer: the Completion, the stream deltas it was given in (None if not streamed), what it
    depended on, and, for the semantic tier, the text whose meaning was matched."""

    tenant: str
    namespace: str
    key: str
    completion: Completion
    created_at: float
    expires_at: float | None = None
    deltas: tuple[str, ...] | None = None
    dependencies: tuple[Dependency, ...] = ()
    prompt: str = ""
    frame: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """The entry as compact JSON."""
        c = self.completion
        data = {
            "v": ENTRY_VERSION, "tenant": self.tenant, "namespace": self.namespace, "key": self.key,
            "created_at": self.created_at, "expires_at": self.expires_at, "prompt": self.prompt,
            "frame": self.frame, "meta": dict(self.meta),
            "deltas": list(self.deltas) if self.deltas is not None else None,
            "deps": [[d.kind, d.id, d.version] for d in self.dependencies],
            "completion": {
                "text": c.text, "model": c.model, "finish_reason": c.finish_reason,
                "usage": [c.usage.input_tokens, c.usage.output_tokens, c.usage.cached_input_tokens,
                          c.usage.cache_write_tokens, c.usage.cache_write_1h_tokens],
                "tool_calls": [[t.id, t.name, t.arguments] for t in c.tool_calls],
                "logprobs": None if c.logprobs is None else [[t.token, t.logprob] for t in c.logprobs],
            },
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Entry:
        """Read an entry written by `to_bytes`; StoreError for anything else."""
        try:
            d = json.loads(raw)
            c = d["completion"]
            completion = Completion(
                c["text"], Usage(*c["usage"]), tuple(ToolCall(*t) for t in c["tool_calls"]), c["model"],
                c["finish_reason"],
                None if c["logprobs"] is None else tuple(TokenLogprob(t, float(p)) for t, p in c["logprobs"]))
            return cls(d["tenant"], d["namespace"], d["key"], completion, float(d["created_at"]),
                       d["expires_at"], None if d["deltas"] is None else tuple(d["deltas"]),
                       tuple(Dependency(*x) for x in d["deps"]), d["prompt"], d["frame"], d["meta"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"a cache entry could not be read ({exc}); clear the cache", backend="cache") from exc
