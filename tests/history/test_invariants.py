"""Property tests of the invariants every manager keeps: budget never exceeded (framed, as billed), system
messages kept, a tool call and its results kept or dropped together, original order kept."""

from __future__ import annotations

import pytest
from history.history_helpers import conversations, make_counter, units_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.errors import BudgetExceededError
from contextwise.history import (
    Conversation,
    HierarchicalContext,
    KeyMoments,
    ImportanceWeighted,
    ModelScorer,
    RollingSummary,
    SlidingWindow,
    SummaryBased,
    TokenBased,
    TurnBased,
)
from contextwise.testing import ScriptedChatModel

MANAGERS = {
    "token-based": (TokenBased(), "unit"),
    "turn-based": (TurnBased(max_turns=3), "unit"),
    "sliding": (SlidingWindow(), 1),
    "sliding-overlap": (SlidingWindow(overlap_tokens=40, keep_last_turns=2), 2),
    "sliding-unpinned": (SlidingWindow(overlap_tokens=0, keep_last_turns=0), 0),
    "rolling": (RollingSummary(keep_recent_tokens=100, step_tokens=40, max_input_tokens=150), 0),
    "summary-based": (SummaryBased(trigger_tokens=120, max_input_tokens=300), 0),
    "hierarchical": (HierarchicalContext(section_turns=2, max_sections=2, keep_recent_tokens=80), 0),
    "importance": (ImportanceWeighted(), 1),
    "importance-model": (ImportanceWeighted(ModelScorer(batch_units=4)), 1),
    "hybrid": (KeyMoments(keep_recent_tokens=100, step_tokens=40), 0),
    "hybrid-model": (KeyMoments(keep_recent_tokens=100, step_tokens=40, scorer=ModelScorer(batch_units=3)), 0),
}


def answer(messages) -> str:
    """Ratings for a rating prompt, else a summary whose length depends on the prompt."""
    if messages[0].text.startswith("Rate"):
        return "\n".join(f"{i}: {(i * 3) % 11}" for i in range(1, 30))
    return "summary " + " ".join(["fact"] * (len(messages[1].text) % 40))


def pinned_tokens(counter, messages, keep_last_turns: int | str) -> int:
    if keep_last_turns == "unit":  # the newest unit must fit, or the window raises
        units = units_of(messages)
        newest = sum(counter.message(messages[i]) for i in units[-1]) if units else 0
        return pinned_tokens(counter, messages, 0) + newest
    systems = sum(counter.message(m) for m in messages if m.role == "system")
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    start = users[-keep_last_turns] if keep_last_turns and len(users) >= keep_last_turns else 0
    turns = 0 if keep_last_turns == 0 else sum(
        counter.message(m) for m in messages[start:] if m.role != "system")
    return counter.messages([]) + systems + turns


@pytest.mark.parametrize("name", list(MANAGERS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=conversations(), max_tokens=st.integers(1, 700))
def test_manager_context_keeps_invariants(name, messages, max_tokens):
    manager, keep_last_turns = MANAGERS[name]
    counter = make_counter()
    chat = Conversation(manager, counter=counter)
    chat.extend(messages)
    chat.run(ScriptedChatModel([answer], repeat_last=True), max_requests=100)
    try:
        context = chat.context(max_tokens)
    except BudgetExceededError:
        assert pinned_tokens(counter, messages, keep_last_turns) > max_tokens
        return
    assert counter.messages(context) <= max_tokens
    kept_ids = {id(m) for m in context}
    assert all(id(m) in kept_ids for m in messages if m.role == "system")
    originals = [m for m in context if any(m is o for o in messages)]
    positions = [next(i for i, o in enumerate(messages) if o is m) for m in originals]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    added = [m for m in context if not any(m is o for o in messages)]
    assert all(m.role == "system" and m.text.startswith("Summary of the earlier conversation") for m in added)
    for unit in units_of(messages):
        kept = [id(messages[i]) in kept_ids for i in unit]
        assert all(kept) or not any(kept), f"unit {unit} split"


@settings(max_examples=80, deadline=None)
@given(messages=conversations(), max_tokens=st.integers(1, 700))
def test_token_based_keeps_the_longest_fitting_suffix(messages, max_tokens):
    counter = make_counter()
    chat = Conversation(TokenBased(), counter=counter)
    chat.extend(messages)
    systems = [m for m in messages if m.role == "system"]
    left = max_tokens - counter.messages(systems)
    units = units_of(messages)
    if left < 0 or units and sum(counter.message(messages[i]) for i in units[-1]) > left:
        with pytest.raises(BudgetExceededError):
            chat.context(max_tokens)
        return
    expected: list[int] = []
    for unit in reversed(units_of(messages)):
        cost = sum(counter.message(messages[i]) for i in unit)
        if cost > left:
            break
        left -= cost
        expected = unit + expected
    kept = [i for i, m in enumerate(messages) if any(m is c for c in chat.context(max_tokens))]
    assert [i for i in kept if messages[i].role != "system"] == expected


@settings(max_examples=40, deadline=None)
@given(messages=conversations(max_turns=40), overlap=st.integers(0, 150), max_tokens=st.integers(200, 600))
def test_sliding_window_with_overlap_fits_every_prefix(messages, overlap, max_tokens):
    counter = make_counter()
    chat = Conversation(SlidingWindow(overlap_tokens=overlap, keep_last_turns=0), counter=counter)
    for message in messages:
        chat.add(message)
        try:
            context = chat.context(max_tokens)
        except BudgetExceededError:
            continue
        assert counter.messages(context) <= max_tokens


@pytest.mark.parametrize("framing", ["openai", "anthropic", "google"])
@settings(max_examples=25, deadline=None)
@given(messages=conversations(), max_tokens=st.integers(1, 900))
def test_real_tokenizer_budget_holds_under_each_provider_framing(framing, messages, max_tokens):
    from contextwise.tokens import TokenCounter

    counter = TokenCounter("o200k_base", framing)
    for manager in (TokenBased(), SlidingWindow(overlap_tokens=100, keep_last_turns=0)):
        chat = Conversation(manager, counter=counter)
        chat.extend(messages)
        try:
            context = chat.context(max_tokens)
        except BudgetExceededError:
            pinned = 0 if isinstance(manager, SlidingWindow) else "unit"
            assert pinned_tokens(counter, messages, pinned) > max_tokens
            continue
        assert counter.messages(context) <= max_tokens
