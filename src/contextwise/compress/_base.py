"""What every compressor does first: check the target, count the text, and stop early when nothing must go."""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.types import Compressed


def check_target(target_tokens: int) -> None:
    """Raise UsageError unless `target_tokens` is a non-negative int."""
    if isinstance(target_tokens, bool) or not isinstance(target_tokens, int) or target_tokens < 0:
        raise UsageError(f"target tokens must be a non-negative int, got {target_tokens!r}")


def start(text: str, target_tokens: int, tokenizer: Tokenizer, method: str) -> tuple[int, Compressed | None]:
    """The text's token count, and the finished result when it already fits or the target is zero."""
    check_target(target_tokens)
    original = tokenizer.count(text)
    if original <= target_tokens:
        return original, Compressed(text, original, original, method)
    if target_tokens == 0 or not text.strip():
        return original, Compressed("", original, 0, method)
    return original, None


def backend(spec: Any, kind: str, default: Callable[[], Any]) -> Any:
    """A back-end from an instance, a "provider:name" string (resolved for `kind`), or None (`default()`)."""
    if spec is None:
        return default()
    if isinstance(spec, str):
        from contextwise.registry import resolve

        return resolve(kind, spec)
    return spec


def local_model() -> Any:
    """The embedded local model (loaded once per process by contextwise.llm)."""
    from contextwise.llm import local_model as load

    return load()
