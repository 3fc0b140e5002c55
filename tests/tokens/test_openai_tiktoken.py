"""The OpenAI encodings are built offline from the shipped rank files and match tiktoken's own."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys

import pytest

from contextwise.testing import block_network
from contextwise.tokens import RANK_FILES
from contextwise.tokens._openai import (
    encoding_kwargs,
    harmony_encoding_kwargs,
    parse_ranks,
    read_rank_bytes,
)

ENCODINGS = sorted(RANK_FILES)


@pytest.mark.parametrize("name", ENCODINGS)
def test_rank_file_hashes_to_tiktokens_pinned_sha256(name: str) -> None:
    import inspect

    import tiktoken_ext.openai_public as public

    # tiktoken's own constructor source names the hash it expects; ours must be the same value.
    assert f'expected_hash="{RANK_FILES[name].sha256}"' in inspect.getsource(getattr(public, name))
    assert hashlib.sha256(read_rank_bytes(name)).hexdigest() == RANK_FILES[name].sha256


@pytest.mark.parametrize("name", ENCODINGS)
def test_encoding_equals_tiktokens_own_constructor_fed_from_its_cache(name, tmp_path, monkeypatch) -> None:
    # Fill a tiktoken cache under tiktoken's own file name (sha1 of the URL) so its constructor runs offline.
    info = RANK_FILES[name]
    (tmp_path / hashlib.sha1(info.url.encode()).hexdigest()).write_bytes(read_rank_bytes(name))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    public = importlib.import_module("tiktoken_ext.openai_public")
    with block_network():
        theirs = getattr(public, name)()
    ours = encoding_kwargs(name)
    assert ours["pat_str"] == theirs["pat_str"]
    assert ours["special_tokens"] == theirs["special_tokens"]
    assert ours["mergeable_ranks"] == theirs["mergeable_ranks"]


def test_harmony_encoding_equals_tiktokens_own_constructor(tmp_path, monkeypatch) -> None:
    info = RANK_FILES["o200k_base"]
    (tmp_path / hashlib.sha1(info.url.encode()).hexdigest()).write_bytes(read_rank_bytes("o200k_base"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    public = importlib.import_module("tiktoken_ext.openai_public")
    with block_network():
        theirs = public.o200k_harmony()
    ours = harmony_encoding_kwargs()
    assert (ours["name"], ours["pat_str"], ours["special_tokens"]) == \
        (theirs["name"], theirs["pat_str"], theirs["special_tokens"])
    assert ours["mergeable_ranks"] == theirs["mergeable_ranks"]


@pytest.mark.parametrize("name", [*ENCODINGS, "o200k_harmony"])
def test_plain_tiktoken_get_encoding_works_offline_in_a_fresh_process(name: str, tmp_path) -> None:
    code = (
        "import contextwise.tokens, tiktoken\n"
        "from contextwise.testing import block_network\n"
        "with block_network():\n"
        f"    enc = tiktoken.get_encoding({name!r})\n"
        "    print(enc.decode(enc.encode('offline, as promised')))\n"
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path)}  # an empty cache: tiktoken alone would download
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "offline, as promised"
    assert not any(tmp_path.iterdir())  # nothing was written to tiktoken's cache either


def test_parse_ranks_reads_base64_rank_lines() -> None:
    assert parse_ranks(b"YQ== 0\nYmM= 1\n\n") == {b"a": 0, b"bc": 1}


@pytest.mark.parametrize("name", ENCODINGS)
def test_ranks_are_a_dense_permutation(name: str) -> None:
    ranks = encoding_kwargs(name)["mergeable_ranks"]
    assert sorted(ranks.values()) == list(range(len(ranks)))
    assert all(bytes([b]) in ranks for b in range(256))
