"""Registry factories for the "compressor" kind: "extractive:<scorer>", "truncate:<side>", "pruning[:<chat spec>]",
"summarize[:<chat spec>]", "auto". Each takes the part after the first colon; contextwise.registry.BUILTINS
names them, so they load on the first lookup."""

from __future__ import annotations

from contextwise.compress.auto import Auto
from contextwise.compress.extractive import Extractive
from contextwise.compress.pruning import TokenPruning
from contextwise.compress.summarize import Summarizer
from contextwise.compress.truncate import TruncateTokens
from contextwise.errors import UsageError


def extractive(name: str) -> Extractive:
    """"extractive", "extractive:bm25", "extractive:embedding", "extractive:hybrid"."""
    return Extractive(scorer=name or None)


def truncate(name: str) -> TruncateTokens:
    """"truncate" (the tail is cut), "truncate:head", "truncate:tail", "truncate:middle"."""
    return TruncateTokens(side=name or "tail")  # type: ignore[arg-type]


def pruning(name: str) -> TokenPruning:
    """"pruning" (the embedded local model) or "pruning:<chat spec>" of a model with token_surprisal."""
    return TokenPruning(model=name if name not in ("", "local", "smollm2") else None)


def summarize(name: str) -> Summarizer:
    """"summarize" (the embedded local model) or "summarize:<chat spec>", e.g. "summarize:openai:gpt-4o-mini"."""
    return Summarizer(name or None)


def auto(name: str) -> Auto:
    """"auto"."""
    if name:
        raise UsageError(f"'auto' takes no name, got {name!r}")
    return Auto()
