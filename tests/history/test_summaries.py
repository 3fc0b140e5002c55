"""RollingSummary, SummaryBased and HierarchicalContext: plan/apply, what goes into a context."""

from __future__ import annotations

import asyncio

import pytest
from history.history_helpers import make_counter, text

from contextwise.errors import UsageError
from contextwise.history import (
    Conversation,
    HierarchicalContext,
    RollingSummary,
    ScoreRequest,
    SummaryBased,
    SummaryRequest,
)
from contextwise.testing import AsyncScriptedChatModel, ScriptedChatModel
from contextwise.types import Completion, Message


def chat_with(manager, turns: int, *, words: int = 20) -> Conversation:
    chat = Conversation(manager, counter=make_counter())
    chat.add(Message.system("You are a travel agent."))
    for turn in range(turns):
        chat.add(Message.user(f"turn {turn} " + text(words, turn)))
        chat.add(Message.assistant(f"reply {turn} " + text(words, turn + 3)))
    return chat


def numbered(prefix: str = "S"):
    """A model whose n-th answer is '<prefix><n>', so each summary is identifiable."""
    calls = []

    def answer(messages):
        calls.append(messages)
        return f"{prefix}{len(calls)} facts"
    return answer, calls


def test_rolling_summary_plans_nothing_for_a_short_conversation():
    chat = chat_with(RollingSummary(keep_recent_tokens=500, step_tokens=200), 3)
    assert chat.plan() is None


def test_rolling_summary_request_covers_old_messages_not_recent_ones():
    manager = RollingSummary(keep_recent_tokens=200, step_tokens=100)
    chat = chat_with(manager, 20)
    request = chat.plan()
    assert isinstance(request, SummaryRequest) and request.start == 0
    prompt = request.messages[-1].text
    assert "turn 0 " in prompt and "turn 19 " not in prompt
    assert "You are a travel agent" not in prompt
    recent = chat.messages[request.end:]
    assert chat.counter.messages(recent) - chat.counter.messages([]) <= 200 + 60


def test_rolling_summary_folds_the_previous_summary_into_the_next():
    answer, calls = numbered()
    chat = chat_with(RollingSummary(keep_recent_tokens=150, step_tokens=100, max_input_tokens=200), 30)
    done = chat.run(ScriptedChatModel([answer], repeat_last=True), max_requests=50)
    assert done >= 2 and chat.plan() is None
    assert "S1 facts" in calls[1][-1].text
    (summary,) = chat.notes.summaries
    assert summary.text == f"S{done} facts" and summary.start == 0


def test_rolling_summary_context_has_summary_then_recent_messages():
    chat = chat_with(RollingSummary(keep_recent_tokens=150, step_tokens=100), 30)
    chat.run(ScriptedChatModel(["the user wants Lisbon"], repeat_last=True), max_requests=50)
    context = chat.context(2000)
    assert context[0] is chat.messages[0]
    assert context[1].role == "system" and "the user wants Lisbon" in context[1].text
    assert context[2:] == list(chat.messages[chat.notes.covered_end:])


def test_rolling_summary_drops_the_summary_when_it_does_not_fit():
    chat = chat_with(RollingSummary(keep_recent_tokens=150, step_tokens=100), 30)
    chat.run(ScriptedChatModel([" ".join(["long"] * 400)], repeat_last=True), max_requests=50)
    context = chat.context(300)
    assert not any("long long" in m.text for m in context)
    assert context == chat_with(RollingSummary(), 30).context(300)  # as if there were no summary


def test_apply_rejects_a_stale_request():
    chat = chat_with(RollingSummary(keep_recent_tokens=150, step_tokens=100, max_input_tokens=200), 30)
    first = chat.plan()
    chat.apply(first, Completion("one"))
    with pytest.raises(UsageError, match="stale"):
        chat.apply(first, Completion("again"))
    assert chat.notes.summaries[0].text == "one"


def test_apply_rejects_an_empty_summary():
    chat = chat_with(RollingSummary(keep_recent_tokens=150, step_tokens=100), 30)
    with pytest.raises(UsageError):
        chat.apply(chat.plan(), Completion("   "))
    assert chat.notes.summaries == ()


def test_summary_manager_rejects_a_score_request():
    chat = chat_with(RollingSummary(), 2)
    with pytest.raises(UsageError):
        chat.apply(ScoreRequest((), (0,)), Completion("1: 5"))


def test_summary_based_waits_for_the_trigger_then_keeps_only_the_last_turn():
    manager = SummaryBased(trigger_tokens=400, keep_last_turns=1)
    chat = chat_with(manager, 4)
    assert chat.plan() is None
    chat = chat_with(manager, 20)
    chat.run(ScriptedChatModel(["gist"], repeat_last=True))
    assert chat.notes.covered_end == len(chat) - 2
    assert chat.context(5000)[-2:] == list(chat.messages[-2:])


def test_hierarchical_summarises_sections_then_folds_them_into_the_global_summary():
    manager = HierarchicalContext(section_turns=2, max_sections=3, keep_recent_tokens=100)
    chat = chat_with(manager, 30)
    answer, calls = numbered("H")
    chat.run(ScriptedChatModel([answer], repeat_last=True), max_requests=200)
    assert chat.plan() is None
    notes = chat.notes
    assert len(notes.level(0)) == 1 and 1 <= len(notes.level(1)) <= 3
    sections = notes.level(1)
    assert sections[0].start == notes.level(0)[0].end
    assert all(a.end == b.start for a, b in zip(sections, sections[1:]))
    fold_prompts = [c for c in calls if "Part 1:" in c[-1].text]
    assert fold_prompts


def test_hierarchical_context_orders_global_sections_then_recent():
    manager = HierarchicalContext(section_turns=2, max_sections=3, keep_recent_tokens=100)
    chat = chat_with(manager, 30)
    chat.run(ScriptedChatModel([numbered("H")[0]], repeat_last=True), max_requests=200)
    context = chat.context(5000)
    summaries = [m for m in context if m.text.startswith("Summary of the earlier")]
    assert "overview" in summaries[0].text
    assert len(summaries) == 1 + len(chat.notes.level(1))
    assert context[len(summaries) + 1:] == list(chat.messages[chat.notes.covered_end:])


def test_async_driver_gives_the_same_notes_as_the_sync_driver():
    manager = RollingSummary(keep_recent_tokens=150, step_tokens=100, max_input_tokens=200)
    sync_chat, async_chat = chat_with(manager, 25), chat_with(manager, 25)
    sync_chat.run(ScriptedChatModel([numbered()[0]], repeat_last=True), max_requests=50)
    asyncio.run(async_chat.arun(AsyncScriptedChatModel([numbered()[0]], repeat_last=True), max_requests=50))
    assert async_chat.notes == sync_chat.notes and sync_chat.notes.summaries


def test_plan_is_pure():
    chat = chat_with(RollingSummary(keep_recent_tokens=100, step_tokens=50), 30)
    before = chat.notes
    assert chat.plan() == chat.plan()
    assert chat.notes is before


def test_messages_added_while_a_summary_is_awaited_are_kept():
    chat = chat_with(RollingSummary(keep_recent_tokens=150, step_tokens=100, max_input_tokens=200), 20)

    def answer(messages):
        chat.add(Message.user("arrived during the call"))
        return "gist"

    asyncio.run(chat.arun(AsyncScriptedChatModel([answer], repeat_last=True), max_requests=3))
    assert [m.text for m in chat.messages[-3:]] == ["arrived during the call"] * 3
    assert chat.notes.summaries and chat.context(5000)[-1].text == "arrived during the call"


def test_two_concurrent_summarizers_cannot_apply_the_same_request_twice():
    chat = chat_with(RollingSummary(keep_recent_tokens=150, step_tokens=100, max_input_tokens=200), 20)

    class Slow(AsyncScriptedChatModel):
        async def complete(self, messages, max_tokens=None, options=None):
            await asyncio.sleep(0)
            return await super().complete(messages, max_tokens, options)

    async def both():
        return await asyncio.gather(chat.arun(Slow(["a"], repeat_last=True), max_requests=1),
                                    chat.arun(Slow(["b"], repeat_last=True), max_requests=1),
                                    return_exceptions=True)

    results = asyncio.run(both())
    assert sorted(map(type, results), key=str) == sorted([int, UsageError], key=str)
    assert len(chat.notes.summaries) == 1


@pytest.mark.parametrize("make", [lambda: RollingSummary(summary_share=1.5), lambda: SummaryBased(summary_share=-0.1),
                                  lambda: HierarchicalContext(summary_share=2.0)],
                         ids=["rolling", "summary-based", "hierarchical"])
def test_summary_share_must_be_a_fraction(make):
    with pytest.raises(UsageError):
        make()
