"""History as a source of Context: whole turns, no orphan tool results, a Conversation's manager as the fit."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.budget import Context
from contextwise.errors import BudgetExceededError, TruncationWarning
from contextwise.history import Conversation, RollingSummary, TokenBased, TurnBased
from contextwise.testing import ScriptedChatModel
from contextwise.tokens import TokenCounter
from contextwise.types import Message, ToolCall


def _ctx(window=4000):
    return Context("gpt-4o-mini", window_tokens=window, output_reserve_tokens=16)


def _build(ctx):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        return ctx.build()


def _chat(turns=12):
    msgs = []
    for n in range(turns):
        msgs += [Message.user(f"question {n} " + "about bikes " * 20), Message.assistant(f"answer {n} " + "yes " * 20)]
    return msgs


def test_history_accepts_openai_dicts_and_keeps_tool_calls_with_results():
    wire = [{"role": "user", "content": "Free docks at Pier 7?"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "docks", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "4"},
            {"role": "assistant", "content": "4 free docks."}]
    built = _ctx().history(wire).user("Thanks").build()
    assert [m.role for m in built.messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert built.report.section("history").items_total == 1  # one turn: the question and all its replies


def test_history_drops_an_orphan_tool_result_and_a_leading_answer():
    msgs = [Message.tool("stale result", tool_call_id="gone"), Message.assistant("Hello! How can I help?"),
            Message.user("hi"), Message.assistant("hello")]
    with pytest.warns(TruncationWarning, match="2 item"):  # what was dropped is said, not only in the Report
        built = _ctx().history(msgs).user("q").build()
    assert [m.text for m in built.messages] == ["hi", "hello", "q"]
    reasons = [d.reason for d in built.report.dropped]
    assert any("no tool call" in r for r in reasons) and any("starts on a user message" in r for r in reasons)
    with pytest.warns(TruncationWarning, match="1 item"):
        kept = _ctx().history(msgs, start_on_user=False).user("q").build()
    assert [m.text for m in kept.messages] == ["Hello! How can I help?", "hi", "hello", "q"]


def test_history_drops_whole_turns_never_an_answer_without_its_question():
    built = _build(_ctx(400).history(_chat()).user("now?"))
    history = built.messages[:-1]
    assert history and history[0].role == "user"
    assert [m.role for m in history] == ["user", "assistant"] * (len(history) // 2)
    assert built.report.section("history").items_kept < 12


@st.composite
def histories(draw):
    msgs = []
    for turn in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            msgs.append(Message.user(f"u{turn} " + "w " * draw(st.integers(0, 40))))
        if draw(st.booleans()):
            call = ToolCall(f"c{turn}", "f")
            msgs += [Message.assistant(tool_calls=(call,)), Message.tool("r " * draw(st.integers(0, 30)),
                                                                         tool_call_id=call.id)]
        if draw(st.booleans()):
            msgs.append(Message.tool("orphan", tool_call_id=f"x{turn}"))
        msgs.append(Message.assistant(f"a{turn} " + "w " * draw(st.integers(0, 40))))
    return msgs


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(60, 600))
def test_kept_history_starts_on_a_user_message_with_no_orphan_and_ends_at_the_newest(msgs, window):
    try:
        built = _build(_ctx(window).history(msgs).user("q"))
    except BudgetExceededError:
        return
    history = list(built.messages[:-1])
    assert not history or history[0].role == "user"
    calls = {c.id for m in history for c in m.tool_calls}
    assert all(m.tool_call_id in calls for m in history if m.role == "tool")
    if history:  # a contiguous tail of the original
        start = next(i for i, m in enumerate(msgs) if m is history[0])
        assert [m for m in msgs[start:] if not (m.role == "tool" and m.tool_call_id.startswith("x"))] == history


def _summarised_chat():
    chat = Conversation(RollingSummary(keep_recent_tokens=120, step_tokens=50, max_input_tokens=4000),
                        counter=TokenCounter.for_model("gpt-4o-mini"))
    chat.extend(_chat(10))
    chat.run(ScriptedChatModel(["The user asked ten questions about bikes; all answered yes."],
                                     repeat_last=True))
    assert chat.notes.summaries
    return chat


def test_conversation_manager_fits_the_section_and_its_summary_stays_pinned():
    chat = _summarised_chat()
    built = _build(_ctx(260).system("Be brief.").history(chat).user("And now?"))
    texts = [m.text for m in built.messages]
    assert any(t.startswith("Summary of the earlier conversation") for t in texts)
    report = built.report
    assert report.prompt_tokens <= report.available_tokens
    summarised = [d for d in report.decisions if d.action == "summarised"]
    assert summarised and summarised[0].tokens_before > summarised[0].tokens_after
    assert report.section("history").strategy == "manager-RollingSummary"


def test_conversation_history_in_a_wide_window_is_the_managers_context():
    chat = Conversation(counter=TokenCounter.for_model("gpt-4o-mini"))
    chat.extend(_chat(3))
    built = _ctx().history(chat).user("q").build()
    assert list(built.messages[:-1]) == chat.context(3000)


@pytest.mark.parametrize("manager", [TokenBased(), TurnBased(max_turns=2)], ids=["token", "turn"])
def test_windows_raise_when_the_newest_message_does_not_fit(manager):
    chat = Conversation(manager)
    chat.extend([Message.user("short"), Message.assistant("long " * 300)])
    with pytest.raises(BudgetExceededError) as info:
        chat.context(100)
    assert info.value.needed_tokens > info.value.available_tokens
    built = _build(_ctx(200).history(chat).user("q"))  # unpinned in a Context: dropped, reported
    assert built.report.section("history").items_kept == 0 and built.report.dropped


def test_history_accepts_the_openai_sdks_message_objects():
    types = pytest.importorskip("openai.types.chat")
    reply = types.ChatCompletionMessage(role="assistant", content="Pier 7 has 4 free docks.")
    built = _ctx().history([{"role": "user", "content": "Docks at Pier 7?"}, reply]).user("Thanks").build()
    assert [m.text for m in built.messages] == ["Docks at Pier 7?", "Pier 7 has 4 free docks.", "Thanks"]


def test_a_managers_output_passed_as_messages_keeps_its_summary_first_in_a_tight_window():
    chat = _summarised_chat()
    messages = chat.context(600)
    assert messages[0].text.startswith("Summary of the earlier conversation")
    built = _build(_ctx(200).history(messages).user("And now?"))
    assert built.messages[0].text.startswith("Summary of the earlier conversation")
    assert built.report.section("history").items_kept < built.report.section("history").items_total
