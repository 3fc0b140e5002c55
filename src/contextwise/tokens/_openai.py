"""OpenAI's o200k_base and cl100k_base as tiktoken encodings, built offline from rank files installed with us.

The rank files come from the `bpe-openai` wheel (MIT), a declared dependency, and are checked against the
sha256 values tiktoken itself pins for the files it would otherwise download. `install_into_tiktoken()` puts
constructors for both encodings into tiktoken's own registry, so plain `tiktoken.get_encoding("o200k_base")`
works offline for any code in the process.
"""

from __future__ import annotations

import binascii
import marshal
import gzip
import hashlib
import importlib.util
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contextwise._paths import cache_dir, read_checked, write_checked
from contextwise.errors import BackendError

ENDOFTEXT = "<|endoftext|>"
ENDOFPROMPT = "<|endofprompt|>"

# The pre-tokenisation patterns and special tokens are tiktoken's (tiktoken_ext/openai_public.py, MIT);
# tests/tokens/test_openai_tiktoken.py checks they equal what tiktoken's own constructors build.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"""
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"""
    r"""\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


@dataclass(frozen=True)
class RankFile:
    """Where one encoding's merge ranks come from and what they must hash to.

    Attributes:
        encoding: the tiktoken encoding name.
        filename: the gzipped rank file inside the `bpe_openai` package's data folder.
        sha256: tiktoken's pinned sha256 of the uncompressed file.
        url: the address tiktoken would download it from (its cache is keyed on the sha1 of this).
        pattern: the pre-tokenisation regex.
        special_tokens: special token text to id.
    """

    encoding: str
    filename: str
    sha256: str
    url: str
    pattern: str
    special_tokens: dict[str, int]


_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
RANK_FILES: dict[str, RankFile] = {
    "o200k_base": RankFile(
        "o200k_base", "o200k_base.tiktoken.gz",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _BLOB + "o200k_base.tiktoken", _O200K_PATTERN, {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
    "cl100k_base": RankFile(
        "cl100k_base", "cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _BLOB + "cl100k_base.tiktoken", _CL100K_PATTERN,
        {ENDOFTEXT: 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
         ENDOFPROMPT: 100276},
    ),
}

_install_lock = threading.Lock()


def rank_file_path(encoding: str) -> Path:
    """The installed gzipped rank file for `encoding` (found without importing `bpe_openai` itself)."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("the package bpe-openai, which ships the OpenAI rank files, is not installed; "
                           "reinstall contextwise", backend="tiktoken")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / RANK_FILES[encoding].filename


def read_rank_bytes(encoding: str) -> bytes:
    """The uncompressed rank file for `encoding`, verified against tiktoken's pinned sha256.

    Raises:
        BackendError: the file is missing, unreadable or does not hash to the pinned value.
    """
    info = RANK_FILES[encoding]
    path = rank_file_path(encoding)
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BackendError(f"cannot read the rank file {path}: {exc}; reinstall bpe-openai",
                           backend="tiktoken") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != info.sha256:
        raise BackendError(f"{path} hashes to {actual}, not tiktoken's {info.sha256}; reinstall bpe-openai",
                           backend="tiktoken")
    return data


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """Parse tiktoken's rank format: one `base64(token) rank` pair per line.

    The whole file is split once and decoded with C-level maps (5x faster than a Python loop per line, which
    was most of a cold first count).

    Raises:
        BackendError: a line is not a `token rank` pair.
    """
    fields = data.split()
    try:
        if len(fields) % 2:
            raise ValueError("an odd number of fields")
        return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))
    except (ValueError, binascii.Error) as exc:
        raise BackendError(f"the rank file is malformed ({exc}): every line must be `base64(token) rank`; "
                           "reinstall bpe-openai", backend="tiktoken") from exc


def load_ranks(encoding: str) -> dict[bytes, int]:
    """The ranks of `encoding`: from this machine's parsed copy when it is intact, else parsed and saved.

    The copy (`cache_dir()/tokens/<encoding>-<pinned sha256>.marshal`, its own sha256 first) loads in about a
    third of the time parsing takes; a missing, torn or foreign copy is parsed again, never trusted. Writing
    is best-effort (a read-only home still counts).
    """
    path = cache_dir() / "tokens" / f"{encoding}-{RANK_FILES[encoding].sha256[:16]}.marshal"
    found = read_checked(path)
    if found is not None:
        try:
            ranks = marshal.loads(memoryview(found[0])[found[1]:])
            if isinstance(ranks, dict):
                return ranks
        except (ValueError, EOFError, TypeError):
            pass
    ranks = parse_ranks(read_rank_bytes(encoding))
    try:
        write_checked(path, (marshal.dumps(ranks),))
    except OSError:
        pass
    return ranks


def encoding_kwargs(encoding: str) -> dict[str, Any]:
    """The keyword arguments for `tiktoken.Encoding` (what a tiktoken plugin constructor returns)."""
    info = RANK_FILES[encoding]
    return {
        "name": encoding,
        "pat_str": info.pattern,
        "mergeable_ranks": load_ranks(encoding),
        "special_tokens": dict(info.special_tokens),
    }


def _harmony_special_tokens() -> dict[str, int]:
    # gpt-oss's o200k_harmony: o200k_base's ranks with the harmony chat-format tokens and a reserved range.
    named = {"<|startoftext|>": 199998, ENDOFTEXT: 199999, "<|return|>": 200002, "<|constrain|>": 200003,
             "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008,
             "<|call|>": 200012}
    reserved = {f"<|reserved_{i}|>": i for i in (200000, 200001, 200004, 200009, 200010, 200011)}
    reserved |= {f"<|reserved_{i}|>": i for i in range(200013, 201088)}
    return {**RANK_FILES["o200k_base"].special_tokens, **named, **reserved}


def harmony_encoding_kwargs() -> dict[str, Any]:
    """The keyword arguments for tiktoken's `o200k_harmony` (gpt-oss), from the o200k_base rank file."""
    kwargs = encoding_kwargs("o200k_base")
    return {**kwargs, "name": "o200k_harmony", "special_tokens": _harmony_special_tokens()}


def install_into_tiktoken() -> bool:
    """Make `tiktoken.get_encoding("o200k_base" | "cl100k_base" | "o200k_harmony")` build from our files, offline.

    Replaces tiktoken's downloading constructors for these two names in its registry; encodings tiktoken
    has already built are left alone. Idempotent and thread-safe; builds nothing until asked.

    Returns:
        False (with a RuntimeWarning) when tiktoken's registry cannot be extended, e.g. a broken tiktoken
        plugin; contextwise's own tokenizers then build their encodings privately.
    """
    from tiktoken import registry

    with _install_lock:
        try:
            if registry.ENCODING_CONSTRUCTORS is None:
                registry._find_constructors()  # first, so tiktoken's own plugins cannot overwrite ours later
            constructors = registry.ENCODING_CONSTRUCTORS
            for name in RANK_FILES:
                constructors[name] = _constructor(name)  # type: ignore[index]
            constructors["o200k_harmony"] = harmony_encoding_kwargs  # type: ignore[index]
        except Exception as exc:  # noqa: BLE001 - third-party plugins may raise anything; we must not
            warnings.warn(f"could not register offline encodings with tiktoken ({exc!r}); plain "
                          f"tiktoken.get_encoding() may try to download", RuntimeWarning, stacklevel=2)
            return False
        return True


def _constructor(encoding: str) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        return encoding_kwargs(encoding)

    build.__name__ = f"contextwise_{encoding}"
    return build


_private: dict[str, Any] = {}


def tiktoken_encoding(encoding: str) -> Any:
    """The tiktoken `Encoding` for `encoding`, shared with tiktoken's registry (built once per process)."""
    import tiktoken

    if install_into_tiktoken():
        return tiktoken.get_encoding(encoding)
    with _install_lock:
        if encoding not in _private:
            _private[encoding] = tiktoken.Encoding(**encoding_kwargs(encoding))
        return _private[encoding]
