"""Compaction recall on a LoCoMo-shaped conversation: what the managers keep of the early sessions."""

from __future__ import annotations

import pytest

from contextwise.errors import UsageError
from contextwise.evals.compaction import BASELINE, compaction_recall, early_probes, messages_of
from contextwise.evals.locomo import LocomoConversation, Question, Turn
from contextwise.history import RollingSummary, TokenBased
from contextwise.testing import ScriptedChatModel
from contextwise.types import Message


def long_conversation() -> LocomoConversation:
    turns = [Turn("D1:1", 1, "Ana", "My kitten is called Pepper.", "1 May 2023"),
             Turn("D1:2", 1, "Ben", "I am learning the cello.", "1 May 2023")]
    for session in range(2, 8):
        turns += [Turn(f"D{session}:{i}", session, "Ana" if i % 2 else "Ben",
                       f"Session {session} small talk number {i} about the weather and nothing in particular.",
                       f"{session} June 2023") for i in range(1, 41)]
    questions = (Question("What is the name of Ana's kitten?", "Pepper", 4, ("D1:1",)),
                 Question("What instrument is Ben learning?", "the cello", 4, ("D1:2",)),
                 Question("What was said late?", "weather", 4, ("D7:3",)))
    return LocomoConversation("conv-1", ("Ana", "Ben"), tuple(turns), questions)


def keeps_everything(messages: list[Message]) -> str:
    """A summarizer that keeps every fact stated in the text it is given (a perfect one)."""
    return " ".join(line for m in messages for line in m.text.splitlines() if "kitten" in line or "cello" in line)


def test_only_questions_about_early_sessions_are_probed():
    assert [q.answer for q in early_probes(long_conversation(), 2)] == ["Pepper", "the cello"]
    sessions = messages_of(long_conversation())
    assert sessions[0][0] == Message.user("[1 May 2023] Ana: My kitten is called Pepper.")
    assert sessions[0][1].role == "assistant"


def test_truncation_loses_the_early_answers_and_a_summary_keeps_them():
    summarizer = ScriptedChatModel([keeps_everything], repeat_last=True)
    managers = {BASELINE: TokenBased(), "rolling": RollingSummary(keep_recent_tokens=300, step_tokens=300)}
    report = compaction_recall([long_conversation()], budget_tokens=800, managers=managers, summarizer=summarizer)
    assert report.of(BASELINE).present == 0.0 and report.of(BASELINE).probes == 2
    assert report.of("rolling").present == 1.0
    assert all(m.context_tokens <= 800 for m in report.managers)


def test_the_model_check_asks_with_the_managed_context():
    answerer = ScriptedChatModel([lambda ms: "Pepper" if any("Pepper" in m.text for m in ms) else "no idea"],
                                 repeat_last=True)
    report = compaction_recall([long_conversation()], budget_tokens=800, managers={BASELINE: TokenBased()},
                               answerer=answerer)
    assert report.of(BASELINE).model == 0.0 and len(answerer.calls) == 2


def test_nothing_to_probe_is_a_usage_error():
    with pytest.raises(UsageError, match="compact"):
        compaction_recall([long_conversation()], budget_tokens=100_000)


def test_eval_compaction_cli_prints_each_manager_and_writes_the_summary(tmp_path):
    import json

    from click.testing import CliRunner

    from contextwise.cli import cli
    from contextwise.evals.report import read_summary

    conversation = long_conversation()
    sessions = {f"session_{s}": [{"speaker": t.speaker, "dia_id": t.dia_id, "text": t.text}
                                 for t in conversation.turns if t.session == s] for s in range(1, 8)}
    raw = [{"sample_id": "conv-1", "conversation": {"speaker_a": "Ana", "speaker_b": "Ben", **sessions},
            "qa": [{"question": q.text, "answer": q.answer, "evidence": list(q.evidence), "category": 4}
                   for q in conversation.questions]}]
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(raw))
    result = CliRunner().invoke(cli, ["eval", "compaction", str(path), "--budget", "800", "--conversations",
                                      "conv-1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "truncation" in result.output and "rolling-summary" in result.output
    summary = read_summary(tmp_path / "out" / "summary.json")
    assert summary["eval"] == "compaction"
    assert {r["group"] for r in summary["metrics"]} >= {"truncation", "key-moments", "importance"}


def test_summaries_are_asked_greedily_and_an_unusable_answer_is_counted_not_raised():
    from contextwise.evals.compaction import SUMMARY_OPTIONS

    empty = ScriptedChatModel([""], repeat_last=True)
    managers = {BASELINE: TokenBased(), "rolling": RollingSummary(keep_recent_tokens=300, step_tokens=300)}
    report = compaction_recall([long_conversation()], budget_tokens=800, managers=managers, summarizer=empty)
    assert empty.calls and all(options == SUMMARY_OPTIONS for _, _, options in empty.calls)
    rolling = report.of("rolling")
    assert rolling.summaries == len(empty.calls) and rolling.refused == rolling.summaries
    assert rolling.present == report.of(BASELINE).present == 0.0


def test_only_the_first_sessions_are_added_and_the_ceiling_counts_answers_in_them():
    from contextwise.evals.compaction import first_sessions

    cut = first_sessions(long_conversation(), 3)
    assert {t.session for t in cut.turns} == {1, 2, 3} and cut.questions == long_conversation().questions
    managers = {BASELINE: TokenBased()}
    report = compaction_recall([long_conversation()], budget_tokens=400, managers=managers, sessions=3)
    assert report.ceiling == 1.0 and report.of(BASELINE).probes == 2
    assert [(p.manager, p.answer, p.present) for p in report.probes] == [(BASELINE, "Pepper", False),
                                                                          (BASELINE, "the cello", False)]
    with pytest.raises(UsageError, match="early sessions"):
        compaction_recall([long_conversation()], budget_tokens=400, managers=managers, sessions=1)
    with pytest.raises(UsageError, match="at least 1"):
        first_sessions(long_conversation(), 0)


def test_summary_sizes_follow_the_summarizers_window_and_the_budget():
    from contextwise.evals.compaction import SUMMARY_INPUT_TOKENS, SUMMARY_TOKENS, summary_limits, summary_sizes

    class Windowed:
        n_ctx = 2048

    class Wrapper:
        model = Windowed()

    assert summary_limits(Windowed()) == summary_limits(Wrapper()) == (819, 204)  # type: ignore[arg-type]
    assert summary_limits(None) == (SUMMARY_INPUT_TOKENS, SUMMARY_TOKENS)
    assert summary_sizes(None, 1500) == (SUMMARY_INPUT_TOKENS, 300)
    assert summary_sizes(Windowed(), 1500, 500, 100) == (500, 100)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="at least 1"):
        summary_sizes(None, 4)


def test_a_compressor_summarizer_keeps_the_messages_words_without_the_prompts_scaffolding():
    from contextwise.compress import Extractive
    from contextwise.evals.compaction import CompressorSummarizer
    from contextwise.history import RollingSummary as Rolling
    from contextwise.history import Conversation
    from contextwise.tokens import get_tokenizer

    chat = Conversation(Rolling(keep_recent_tokens=100, step_tokens=100), store=None)
    for session in messages_of(long_conversation())[:3]:
        chat.extend(session)
    request = chat.plan()
    assert request is not None
    summarizer = CompressorSummarizer(Extractive())
    reply = summarizer.complete(request.messages, 60)
    assert 0 < get_tokenizer("o200k_base").count(reply.text) <= 60
    assert "New messages" not in reply.text and "Write the updated summary" not in reply.text
    assert "user: " not in reply.text and "assistant: " not in reply.text
    sentences = [line for m in request.messages for line in m.text.splitlines()]
    assert all(any(piece in s for s in sentences) for piece in reply.text.split("\n"))  # verbatim, not rewritten
    chat.apply(request, reply)
    assert chat.notes.level(0)
    with pytest.raises(UsageError, match="max_tokens"):
        summarizer.complete(request.messages)


def test_eval_compaction_cli_caches_model_summaries_and_writes_one_line_per_probe(tmp_path):
    import json

    from click.testing import CliRunner

    from contextwise.cli import cli
    from contextwise.cli.evals import _cached_summarizer

    inner = ScriptedChatModel([keeps_everything], repeat_last=True)
    cached = _cached_summarizer(inner, f"sqlite:{tmp_path / 'summaries.db'}")
    again = _cached_summarizer(ScriptedChatModel(["never asked"]), f"sqlite:{tmp_path / 'summaries.db'}")
    managers = {"rolling": RollingSummary(keep_recent_tokens=300, step_tokens=300)}
    first = compaction_recall([long_conversation()], budget_tokens=800, managers=managers, summarizer=cached)
    second = compaction_recall([long_conversation()], budget_tokens=800, managers=managers, summarizer=again)
    assert inner.calls and again.model.calls == [] and first.of("rolling").present == second.of("rolling").present
    assert _cached_summarizer(inner, "none") is inner

    path = tmp_path / "locomo.json"
    conversation = long_conversation()
    sessions = {f"session_{s}": [{"speaker": t.speaker, "dia_id": t.dia_id, "text": t.text}
                                 for t in conversation.turns if t.session == s] for s in range(1, 8)}
    path.write_text(json.dumps([{"sample_id": "conv-1", "conversation": {"speaker_a": "Ana", "speaker_b": "Ben",
                                                                          **sessions},
                                 "qa": [{"question": q.text, "answer": q.answer, "evidence": list(q.evidence),
                                         "category": 4} for q in conversation.questions]}]))
    result = CliRunner().invoke(cli, ["eval", "compaction", str(path), "--budget", "800", "--conversations",
                                      "conv-1", "--summarizer", "compressor:extractive", "--sessions", "4",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "compressor:extractive" in result.output and "first 4 sessions" in result.output
    lines = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * 8 and {line["answer"] for line in lines} == {"Pepper", "the cello"}
