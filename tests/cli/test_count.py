"""`contextwise count`: tokens and cost for a file or stdin, clear one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import tiktoken
from click.testing import CliRunner

from contextwise.cli import cli
from contextwise.cli.count import EMPTY_EXIT_CODE, USAGE_EXIT_CODE

TEXT = "The quick brown fox jumps over the lazy dog.\nZwölf Boxkämpfer jagen Viktor quer über den Sylter Deich.\n"


def run(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(cli, ["count", *args], input=stdin)


def test_count_file_prints_exact_tokens_and_cost(tmp_path) -> None:
    path = tmp_path / "note.txt"
    path.write_text(TEXT, encoding="utf-8")
    result = run(str(path), "--model", "gpt-4o")
    assert result.exit_code == 0, result.output
    expected = len(tiktoken.get_encoding("o200k_base").encode(TEXT))
    assert f"{expected} (exact)" in result.output
    assert "$" in result.output and "per Mtok" in result.output


def test_count_json_output_for_stdin() -> None:
    result = run("-", "--model", "gpt-4", "--json", stdin=TEXT.encode())
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tokens"] == len(tiktoken.get_encoding("cl100k_base").encode(TEXT))
    assert data["exact"] is True and data["tokenizer"] == "cl100k_base" and data["kind"] == "text"
    assert data["input_usd"] > 0


def test_estimated_models_say_so() -> None:
    result = run("-", "--model", "claude-sonnet-4-5", stdin=TEXT.encode())
    assert result.exit_code == 0, result.output
    assert "~" in result.output and "estimate" in result.output


def test_chat_json_is_counted_with_framing() -> None:
    request = {"messages": [{"role": "user", "content": "hello there"}]}
    result = run("-", "--model", "gpt-4o", "--json", stdin=json.dumps(request).encode())
    data = json.loads(result.output)
    enc = tiktoken.get_encoding("o200k_base")
    assert data["kind"] == "chat" and data["messages"] == 1
    assert data["tokens"] == 3 + len(enc.encode("user")) + len(enc.encode("hello there")) + 3
    as_text = json.loads(run("-", "--as", "text", "--json", stdin=json.dumps(request).encode()).output)
    assert as_text["kind"] == "text"


@pytest.mark.parametrize(("args", "stdin", "message", "code"), [
    (["-", "--model", "no-such-model-xyz"], b"hi", "unknown model", USAGE_EXIT_CODE),
    (["-"], b"  \n\t", "empty", EMPTY_EXIT_CODE),
    (["-"], b"", "empty", EMPTY_EXIT_CODE),
    (["-"], b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary", USAGE_EXIT_CODE),
    (["-"], b"caf\xe9 latin-1", "not UTF-8", USAGE_EXIT_CODE),
    (["-", "--as", "chat"], b"plain words", "--as chat", USAGE_EXIT_CODE),
], ids=["unknown-model", "blank", "empty", "binary", "not-utf8", "not-chat"])
def test_bad_input_gives_one_clear_line_and_nonzero_exit(args, stdin, message, code) -> None:
    result = run(*args, stdin=stdin)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_file_and_directory(tmp_path) -> None:
    missing = run(str(tmp_path / "nope.txt"))
    assert missing.exit_code == USAGE_EXIT_CODE and "cannot read" in missing.output
    directory = run(str(tmp_path))
    assert directory.exit_code == USAGE_EXIT_CODE and "directory" in directory.output


def test_entry_point_runs_in_a_subprocess(tmp_path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello world", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "contextwise.cli", "count", str(path), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tokens"] == 2
    bad = subprocess.run([sys.executable, "-m", "contextwise.cli", "count", str(tmp_path / "missing")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == USAGE_EXIT_CODE and "Traceback" not in bad.stderr
