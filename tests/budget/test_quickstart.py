"""The README's quick-start against real parts: a UnifiedMemory on SQLite with the ONNX embedder, documents ranked
by the same embedder with citations, a persisted Conversation and a tool, all in one Context.build()."""

from __future__ import annotations

import warnings

from budget.conftest import anthropic_errors, openai_errors
from support import need

import contextwise as cw
from contextwise.arrange import Bookend
from contextwise.cli.demo import sample_documents
from contextwise.documents import chunk_document, rank
from contextwise.errors import TruncationWarning
from contextwise.types import Message, Tool, ToolCall

QUESTION = "I have the reduced membership. What does a 20-minute e-bike ride cost me?"
STATION = Tool("station_status", "Free docks and bikes at a station",
               {"type": "object", "properties": {"station": {"type": "string"}}, "required": ["station"]})


def _chat(path):
    chat = cw.Conversation(store=path)
    call = ToolCall("call_1", "station_status", '{"station": "Pier 7"}')
    chat.extend([Message.user("Is there a free dock at Pier 7?"), Message.assistant(tool_calls=(call,)),
                 Message.tool('{"free_docks": 4}', tool_call_id="call_1"), Message.assistant("Yes, 4 free docks."),
                 Message.user("Do I need a helmet?"), Message.assistant("Recommended, not required.")])
    return chat


def test_quickstart_composes_memory_documents_history_and_tools_in_one_build(tmp_path):
    need("onnxruntime", "the quick-start uses the embedded ONNX embedder")
    memory = cw.UnifiedMemory(store=f"sqlite:{tmp_path / 'memory.db'}", tenant="alice")
    memory.semantic.learn("I am a student at the harbour campus. I have the reduced membership.")
    memory.working.set_task("help the user plan a ride")
    chat = _chat(str(tmp_path / "chat.db"))
    chunks = [c for name, text in sample_documents()
              for c in chunk_document(text, "tiktoken:o200k_base", max_tokens=90, doc_id=name.removesuffix(".md"),
                                      source=name, title=text.splitlines()[0].lstrip("# "))]

    ctx = cw.Context("gpt-4o-mini", window_tokens=2_000, output_reserve_tokens=300)
    ctx.system("Answer from the documents; cite them as [n].")
    ctx.tools([STATION])
    ctx.memory(memory, query=QUESTION)
    ctx.documents(rank(chunks, QUESTION, embedder="onnx:all-minilm-l6-v2"), order=Bookend())
    ctx.history(chat)
    ctx.user(QUESTION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        built = ctx.build()

    report = built.report
    assert [s.name for s in report.sections] == ["system", "tools", "working", "semantic", "documents", "history",
                                                 "user"]
    assert report.prompt_tokens <= report.available_tokens
    assert report.section("semantic").items_kept >= 1 and report.section("documents").items_kept >= 3
    prompt = built.messages[-1].text
    assert "0.08 euro per minute" in prompt and prompt.count("## Known facts") == 1
    assert "reduced membership" in prompt
    pricing = [m for m, c in built.citations.items() if c.source == "02-pricing.md"]
    assert pricing, "the pricing document is cited"
    source = dict(sample_documents())["02-pricing.md"]
    first = built.citations[pricing[0]]
    assert source[first.start_char:first.end_char].strip()
    check = built.check(f"A ride costs 0.08 euro per minute {pricing[0]}. Helmets are free [99].")
    assert check.citations[0].source == "02-pricing.md" and check.unknown_markers == ("[99]",)
    assert openai_errors(built.to_openai()) == [] and anthropic_errors(built.to_anthropic()) == []
    history = [m for m in built.messages if m.role in ("assistant", "tool")]
    assert all(any(m.tool_call_id == c.id for h in history for c in h.tool_calls) for m in history
               if m.role == "tool")
    chat.close()
