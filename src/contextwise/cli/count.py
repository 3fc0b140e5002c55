"""`contextwise count FILE|- --model M`: tokens (exact or estimated) and what they cost as a prompt.

Exit codes: 0 counted; 1 the input was empty; 2 a usage problem (unknown model, unreadable or binary input).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.table import Table

from contextwise.errors import ContextwiseError, UsageError
from contextwise.types import Message, Tool, Usage

EMPTY_EXIT_CODE = 1
USAGE_EXIT_CODE = 2


class CountError(click.ClickException):
    """A problem with the input or options, shown as one line; `exit_code` says which kind."""

    def __init__(self, message: str, exit_code: int = USAGE_EXIT_CODE) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class; ours varies by error

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


@dataclass(frozen=True)
class CountResult:
    """What `count` found for one input."""

    source: str
    model: str
    tokenizer: str
    exact: bool
    kind: str
    chars: int
    tokens: int
    messages: int = 0
    input_usd: float | None = None
    usd_per_mtok: float | None = None
    window_tokens: int | None = None


def read_input(path: str, stdin: BinaryIO) -> str:
    """The text of FILE (or standard input for "-"), refusing binary data with a clear message."""
    name = "standard input" if path == "-" else path
    try:
        if path == "-":
            raw = stdin.read()
        else:
            with open(path, "rb") as handle:
                raw = handle.read()
    except IsADirectoryError:
        raise CountError(f"cannot read {name}: it is a directory") from None
    except OSError as exc:
        raise CountError(f"cannot read {name}: {exc.strerror or exc}") from None
    if b"\x00" in raw[:65536]:
        raise CountError(f"{name} looks binary (it contains NUL bytes); count text files only")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CountError(f"{name} is not UTF-8 text (bad byte at offset {exc.start}); count text files only") \
            from None
    if not text.strip():
        raise CountError(f"{name} is empty: nothing to count", EMPTY_EXIT_CODE)
    return text


def parse_chat(text: str) -> tuple[list[Message], list[Tool]] | None:
    """Messages and tools if `text` is a chat request in OpenAI JSON form (a list of messages, or an object with
    "messages" and optional "tools"); None if it is not."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    raw_messages = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(raw_messages, list) or not all(isinstance(m, dict) and "role" in m for m in raw_messages):
        return None
    tools = data.get("tools") or [] if isinstance(data, dict) else []
    try:
        return [Message.from_openai(m) for m in raw_messages], [Tool.from_openai(t) for t in tools]
    except (KeyError, TypeError, UsageError) as exc:
        raise CountError(f"the chat request is malformed: {exc}") from None


def count_input(text: str, model: str, *, source: str, mode: str) -> CountResult:
    """Count `text` for `model`: as plain text, or as a framed chat request when it is one (mode "auto")."""
    from contextwise.tokens import TokenCounter

    counter = TokenCounter.for_model(model)
    chat = parse_chat(text) if mode in ("auto", "chat") else None
    if mode == "chat" and chat is None:
        raise CountError("--as chat needs a JSON list of messages or an object with \"messages\"")
    if chat is not None:
        tokens, kind, messages = counter.messages(chat[0], tools=chat[1]), "chat", len(chat[0])
    else:
        tokens, kind, messages = counter.count(text), "text", 0
    usd, per_mtok, window = _price(model, tokens)
    return CountResult(source, model, counter.tokenizer.name, counter.exact, kind, len(text), tokens, messages,
                       usd, per_mtok, window)


def _price(model: str, tokens: int) -> tuple[float | None, float | None, int | None]:
    try:
        from contextwise.models import cost, get_model
    except ImportError:  # the catalog is optional to this command
        return None, None, None
    try:
        info = get_model(model)
        return (cost(Usage(input_tokens=tokens), info).total_usd, info.prices.at(tokens).input_usd_per_mtok,
                info.context_window_tokens)
    except ContextwiseError:
        return None, None, None


def render(result: CountResult, console: Console) -> None:
    """Print `result` as a small rich table."""
    approx = "" if result.exact else "~"
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("input", f"{result.source} ({result.chars:,} chars"
                  + (f", {result.messages} messages" if result.kind == "chat" else "") + ")")
    table.add_row("model", f"{result.model} (tokenizer {result.tokenizer})")
    how = "exact" if result.exact else "calibrated estimate: this model's own tokenizer is not available offline"
    table.add_row("tokens", f"{approx}{result.tokens:,} ({how})")
    if result.input_usd is not None:
        table.add_row("cost", f"{approx}${result.input_usd:.6f} as input at ${result.usd_per_mtok:g} per Mtok")
    else:
        table.add_row("cost", "unknown: the model is not in the catalog")
    if result.window_tokens:
        share = result.tokens / result.window_tokens
        style = "red" if share > 1 else ""
        table.add_row("window", f"[{style}]{share:.1%} of {result.window_tokens:,}[/{style}]" if style
                      else f"{share:.1%} of {result.window_tokens:,}")
    console.print(table)


@click.command("count")
@click.argument("file", type=str)
@click.option("--model", "-m", default="gpt-4o", show_default=True, help="Model whose tokenizer and price to use.")
@click.option("--as", "mode", type=click.Choice(["auto", "text", "chat"]), default="auto", show_default=True,
              help="auto: a JSON chat request (OpenAI messages[, tools]) is counted with its framing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def count_command(file: str, model: str, mode: str, as_json: bool) -> None:
    """Count the tokens in FILE ("-" for standard input) for a model, and what they cost as a prompt."""
    stdin: Any = getattr(sys.stdin, "buffer", sys.stdin)
    text = read_input(file, stdin)
    try:
        result = count_input(text, model, source="stdin" if file == "-" else file, mode=mode)
    except ContextwiseError as exc:
        raise CountError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(asdict(result)))
    else:
        render(result, Console(soft_wrap=False))


def register(group: click.Group) -> None:
    """Add `count` to the CLI group."""
    group.add_command(count_command)
