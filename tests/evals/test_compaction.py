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
    assert {r["group"] for r in summary["metrics"]} >= {"truncation", "hybrid", "importance"}
