"""TokenBased, TurnBased and SlidingWindow behaviour beyond the shared invariants."""

from __future__ import annotations

import pytest
from history.history_helpers import make_counter, text, tool_group

from contextwise.errors import BudgetExceededError, UsageError
from contextwise.history import Conversation, SlidingWindow, TokenBased, TurnBased
from contextwise.types import Message


def build(manager, turns: int, *, words: int = 20, system: bool = True) -> Conversation:
    chat = Conversation(manager, counter=make_counter())
    if system:
        chat.add(Message.system("You are terse."))
    for turn in range(turns):
        chat.add(Message.user(text(words, turn)))
        chat.add(Message.assistant(text(words, turn + 1)))
    return chat


def test_token_based_raises_when_system_messages_alone_do_not_fit():
    chat = build(TokenBased(), 3)
    with pytest.raises(BudgetExceededError) as info:
        chat.context(5)
    assert info.value.needed_tokens > 5


def test_token_based_returns_everything_when_it_fits():
    chat = build(TokenBased(), 5)
    assert chat.context(100_000) == list(chat.messages)


def test_turn_based_keeps_the_last_whole_turns():
    chat = build(TurnBased(max_turns=2), 6)
    context = chat.context(100_000)
    assert context == [chat.messages[0], *chat.messages[-4:]]


def test_turn_based_drops_whole_turns_to_fit():
    chat = build(TurnBased(max_turns=4), 6)
    last_two = chat.counter.messages([chat.messages[0], *chat.messages[-4:]])
    context = chat.context(last_two + 5)
    assert context == [chat.messages[0], *chat.messages[-4:]]


def test_turn_based_rejects_zero_turns():
    with pytest.raises(UsageError):
        TurnBased(max_turns=0)


def test_sliding_window_keeps_last_turns_or_raises():
    chat = build(SlidingWindow(keep_last_turns=1), 3)
    chat.add(Message.user(text(500)))
    with pytest.raises(BudgetExceededError):
        chat.context(200)


def test_sliding_window_keeps_the_tool_group_of_the_last_turn():
    chat = build(SlidingWindow(keep_last_turns=1), 4)
    chat.add(Message.user("look it up"))
    chat.extend(tool_group("t", 3, 10))
    chat.add(Message.assistant("found"))
    context = chat.context(chat.counter.messages([chat.messages[0], *chat.messages[-6:]]))
    assert context[-6:] == list(chat.messages[-6:])


def starts(manager, *, turns: int, max_tokens: int) -> list[Message]:
    chat = Conversation(manager, counter=make_counter())
    firsts = []
    for turn in range(turns):
        chat.add(Message.user(text(15, turn)))
        chat.add(Message.assistant(text(25, turn)))
        firsts.append(chat.context(max_tokens)[0])
    return firsts


def test_sliding_window_with_overlap_moves_its_start_less_often():
    plain = starts(SlidingWindow(), turns=120, max_tokens=800)
    stepped = starts(SlidingWindow(overlap_tokens=200), turns=120, max_tokens=800)

    def moves(firsts):
        return sum(a is not b for a, b in zip(firsts, firsts[1:]))
    assert moves(stepped) * 4 < moves(plain)


def test_sliding_window_jump_keeps_about_the_overlap():
    counter = make_counter()
    chat = Conversation(SlidingWindow(overlap_tokens=300, keep_last_turns=0), counter=counter)
    previous = None
    for turn in range(150):
        chat.add(Message.user(text(15, turn)))
        context = chat.context(1000)
        if previous is not None and context[0] is not previous[0]:
            kept_from_before = [m for m in context if any(m is p for p in previous)]
            assert 300 - 40 <= counter.messages(kept_from_before) - counter.messages([]) <= 300 + 40
        previous = context


def test_sliding_window_rejects_negative_overlap():
    with pytest.raises(UsageError):
        SlidingWindow(overlap_tokens=-1)


@pytest.mark.parametrize("manager", [TokenBased(budget_tokens=300), SlidingWindow(budget_tokens=300)],
                         ids=["token-based", "sliding"])
def test_window_cap_applies_below_the_requested_budget(manager):
    chat = build(manager, 40)
    context = chat.context(5000)
    assert chat.counter.messages(context) <= 300 and context[-1] is chat.messages[-1]
    uncapped = build(TokenBased(), 40)
    assert uncapped.counter.messages(uncapped.context(5000)) > 300


@pytest.mark.parametrize("make", [lambda: TokenBased(budget_tokens=0), lambda: SlidingWindow(budget_tokens=-5)],
                         ids=["token-based", "sliding"])
def test_window_cap_must_be_positive(make):
    with pytest.raises(UsageError):
        make()


def test_window_caps_take_budget_tokens_and_the_old_max_tokens_with_a_warning():
    with pytest.warns(DeprecationWarning, match="budget_tokens"):
        old = TokenBased(max_tokens=300)
    assert old == TokenBased(budget_tokens=300) and old.budget_tokens == 300
    with pytest.raises(UsageError):
        SlidingWindow(budget_tokens=300, max_tokens=200)
    for bad in ("300", 2.5, True):
        with pytest.raises(UsageError):
            TokenBased(budget_tokens=bad)
