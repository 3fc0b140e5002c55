"""Public fakes for testing code built on contextwise: deterministic, offline, fast.

They implement the same protocols as the real back-ends, so code above a back-end can be tested without it.
The real back-ends are tested against the real thing, never against these.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
from typing import Any
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from contextwise._deprecated import UNSET, output_cap
from contextwise.errors import UsageError
from contextwise.types import ChatOptions, Completion, Message, Usage

_WORD = re.compile(r"\s*\S+|\s+$")


class FakeTokenizer:
    """One token per whitespace-led word; `decode(encode(t)) == t` for every string.

    Ids index an internal vocabulary that grows as new pieces are seen, so it is exact about itself.
    """

    name = "fake"
    exact = True

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pieces: list[str] = []

    def encode(self, text: str) -> list[int]:
        out = []
        for piece in _WORD.findall(text):
            if piece not in self._ids:
                self._ids[piece] = len(self._pieces)
                self._pieces.append(piece)
            out.append(self._ids[piece])
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._pieces[i] for i in ids)

    def count(self, text: str) -> int:
        return len(_WORD.findall(text))


class HashEmbedder:
    """Bag-of-words vectors from hashed tokens: texts sharing words are similar; unit length; deterministic."""

    def __init__(self, dimensions: int = 64) -> None:
        self.name = f"hash-{dimensions}"
        self.dimensions = dimensions

    def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dimensions] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


Script = Sequence[str | Completion | Callable[[Sequence[Message]], str | Completion]]


class ScriptedChatModel:
    """Answers from a script, in order; an entry may be a string, a Completion or a function of the messages.

    Records every call in `calls`. Usage counts words, so costs are deterministic.
    """

    def __init__(self, script: Script, *, name: str = "scripted", repeat_last: bool = False) -> None:
        if not script:
            raise UsageError("ScriptedChatModel needs at least one scripted answer")
        self.name = name
        self._script = list(script)
        self._repeat_last = repeat_last
        self.calls: list[tuple[tuple[Message, ...], int | None, ChatOptions | None]] = []

    def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                 options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        index = len(self.calls)
        self.calls.append((tuple(messages), cap, options))
        if index >= len(self._script):
            if not self._repeat_last:
                raise UsageError(f"ScriptedChatModel ran out of answers after {len(self._script)} calls")
            index = len(self._script) - 1
        entry = self._script[index]
        answer = entry(messages) if callable(entry) else entry
        if isinstance(answer, Completion):
            return answer
        prompt_words = sum(len(m.text.split()) + 4 for m in messages)
        return Completion(answer, Usage(prompt_words, len(answer.split())), model=self.name, finish_reason="stop")


class AsyncScriptedChatModel(ScriptedChatModel):
    """The async twin of ScriptedChatModel."""

    async def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,  # type: ignore[override]
                       options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return ScriptedChatModel.complete(self, messages, cap, options)


@contextlib.contextmanager
def block_network() -> Iterator[None]:
    """Inside the block, any connection to a non-loopback address raises ConnectionRefusedError."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")) \
                and self.family in (socket.AF_INET, socket.AF_INET6):
            raise ConnectionRefusedError(f"network blocked by contextwise.testing: {address!r}")
        return original(self, address)

    socket.socket.connect = guarded  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
