"""Rule-based facts: grammar that is right or left alone, chit-chat left out, corrections, single-valued
attributes superseded with their validity in time, and relative times resolved against the message's date."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.errors import UsageError
from contextwise.memory import MemoryBackend, SemanticMemory, UnifiedMemory, rule_extract
from contextwise.memory._rules import third_person
from contextwise.memory._when import resolve_times
from contextwise.memory.facts import Candidate, Neighbour, rule_decide, slot_of
from contextwise.testing import HashEmbedder
from contextwise.types import Message

MAY_8_2023 = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc).timestamp()  # a Monday


def _day(y, m, d):
    return datetime(y, m, d, tzinfo=timezone.utc).timestamp()


def _texts(text, timestamp=None):
    return [c.text for c in rule_extract(text, timestamp=timestamp)]


@pytest.mark.parametrize("said, fact", [
    ("I went to a LGBTQ support group last Friday.", "The user went to a LGBTQ support group on 5 May 2023."),
    ("I felt super powerful giving my talk.", "The user felt super powerful giving the user's talk."),
    ("The support group has made me feel accepted.", "The support group has made the user feel accepted."),
    ("My kids love camping and I really love painting.",
     "The user's kids love camping and the user really loves painting."),
    ("I no longer eat meat.", "The user no longer eats meat."),
    ("I don't like coffee.", "The user does not like coffee."),
    ("Yeah, I study at MIT.", "The user studies at MIT."),
    ("I carry my bag.", "The user carries the user's bag."),
    ("I'm carving out some me-time each day.", "The user is carving out some me-time each day."),
], ids=["irregular-past", "felt", "object-pronoun", "adverb", "no-longer", "negation", "lead-marker", "y-ies",
        "me-time"])
def test_rule_extract_grammar_is_right(said, fact):
    assert _texts(said, MAY_8_2023) == [fact]


def test_rule_extract_leaves_alone_what_it_cannot_conjugate():
    assert third_person("I zorb the widget.") == 'The user said: "I zorb the widget."'
    assert third_person("I zorbled the widget.") == "The user zorbled the widget."
    assert _texts("We bought a house in Nice.") == ['The user said: "We bought a house in Nice."']


@pytest.mark.parametrize("said", [
    "I totally agree, Melanie.", "I'm really proud of you!", "Thanks, I appreciate it!", "I know, right.",
    "I'm so happy for you!", "Hey Mel! Good to see you!", "I think so too.", "Do you live in Lyon?",
    "I hope you have a great day.", "I love that idea so much.", "I 100% agree, Mel.",
])
def test_chit_chat_is_not_a_fact(said):
    assert rule_extract(said) == []


@pytest.mark.parametrize("phrase, absolute, start", [
    ("yesterday", "on 7 May 2023", (2023, 5, 7)), ("today", "on 8 May 2023", (2023, 5, 8)),
    ("last week", "in the week of 1 May 2023", (2023, 5, 1)), ("last month", "in April 2023", (2023, 4, 1)),
    ("last year", "in 2022", (2022, 1, 1)), ("3 days ago", "on 5 May 2023", (2023, 5, 5)),
    ("two weeks ago", "in the week of 24 April 2023", (2023, 4, 24)), ("next month", "in June 2023", (2023, 6, 1)),
    ("tomorrow", "on 9 May 2023", (2023, 5, 9)), ("last Saturday", "on 6 May 2023", (2023, 5, 6)),
    ("next Friday", "on 12 May 2023", (2023, 5, 12)), ("last weekend", "on the weekend of 6 May 2023",
                                                         (2023, 5, 6)),
])
def test_relative_times_are_resolved_against_the_message_date(phrase, absolute, start):
    resolved = resolve_times(f"The user went hiking {phrase}.", MAY_8_2023)
    assert resolved.text == f"The user went hiking {absolute}."
    assert resolved.start == _day(*start)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0, max_value=4e9), st.sampled_from(["yesterday", "last month", "3 weeks ago",
                                                              "next year", "last Sunday", "this weekend"]))
def test_a_resolved_time_names_no_relative_phrase_and_starts_near_the_message(timestamp, phrase):
    resolved = resolve_times(f"The user moved {phrase}.", timestamp)
    assert phrase not in resolved.text and resolved.start is not None
    assert abs(resolved.start - timestamp) < 400 * 86_400


def test_slots_name_the_attribute_and_its_value():
    assert slot_of("The user lives in Lyon.") == ("the user|home", "lyon")
    assert slot_of("The user moved to Paris in April 2023.") == ("the user|home", "paris")
    assert slot_of("The user works at Acme as a welder.") == ("the user|employer", "acme")
    assert slot_of("The user's wife is Ann.") == ("the user|partner", "ann")
    assert slot_of("The user's sister lives in Oslo.") == ("the user's sister|home", "oslo")
    assert slot_of("The user likes tea.") is None


def test_rule_decide_corrects_supersedes_and_ends():
    lyon, nuts = Neighbour("f1", "The user lives in Lyon.", 0.3), Neighbour("f2", "The user is allergic to nuts.", 0.8)
    move = rule_decide(Candidate("The user moved to Paris in April 2023."), [lyon])
    assert (move.op, move.target_id) == ("SUPERSEDE", "f1")
    fix = rule_decide(Candidate("The user is allergic to peanuts.", correction=True), [nuts])
    assert (fix.op, fix.target_id, fix.text) == ("UPDATE", "f2", "The user is allergic to peanuts.")
    same = rule_decide(Candidate("The user lives in Lyon, France."), [lyon])
    assert same.op == "ADD" or same.target_id == "f1"
    assert rule_decide(Candidate("The user likes tea."), [nuts]).op == "ADD"


def _memory():
    return SemanticMemory(MemoryBackend("memory:", HashEmbedder(384), tenant="alice"))


def test_a_correction_updates_the_fact_with_the_corrected_value():
    mem = _memory()
    mem.learn("I'm allergic to nuts.")
    learned = mem.learn("Actually I'm not allergic to nuts anymore, it was peanuts only.")
    assert [(d.op, d.text) for d in learned.decisions] == [("UPDATE", "The user is allergic to peanuts.")]
    assert [f.text for f in mem.facts()] == ["The user is allergic to peanuts."]
    assert [(c.op, c.before) for c in mem.history()][-1] == ("UPDATE", "The user is allergic to nuts.")


def test_a_move_supersedes_the_old_home_and_both_times_answer_right():
    mem = _memory()
    mem.learn("I live in Lyon.", timestamp=_day(2021, 6, 1))
    learned = mem.learn("I moved to Paris last month.", timestamp=_day(2024, 3, 15))
    assert [d.op for d in learned.decisions] == ["SUPERSEDE"]
    now = [i.text for i in mem.recall("Where does Alice live?", 5)]
    assert now == ["The user moved to Paris in February 2024."]
    then = [i.text for i in mem.recall("Where did Alice live in 2022?", 5)]
    assert then[0] == "The user lives in Lyon." and "Paris" not in " ".join(then)
    lyon, paris = sorted(mem.facts(at=_day(2021, 7, 1)) + mem.facts(), key=lambda f: f.learned_at or 0)
    assert lyon.valid_to == _day(2024, 2, 1) == paris.valid_from and paris.current and not lyon.current
    assert paris.learned_at == _day(2024, 3, 15)


def test_undo_of_a_supersede_brings_the_old_value_back():
    mem = _memory()
    mem.learn("I work at Acme.")
    change = mem.learn("I work at Globex.").changes[0]
    assert change.op == "SUPERSEDE"
    mem.undo(change.id)
    assert [f.text for f in mem.facts()] == ["The user works at Acme."]


def test_an_ended_fact_is_history_not_a_deletion():
    mem = _memory()
    mem.learn("I eat meat every day.", timestamp=_day(2020, 1, 1))
    mem.learn("I no longer eat meat every day.", timestamp=_day(2023, 1, 1))
    assert mem.facts() == []
    assert [f.text for f in mem.facts(at=_day(2021, 1, 1))] == ["The user eats meat every day."]


def test_observe_resolves_times_against_the_message_timestamp():
    mem = UnifiedMemory(store="memory:", embedder=HashEmbedder(384), tenant="caroline")
    observed = mem.observe(Message.user("I went to a LGBTQ support group yesterday."), timestamp=MAY_8_2023)
    assert observed.learned is not None
    assert [d.text for d in observed.learned.decisions] == ["The user went to a LGBTQ support group on 7 May 2023."]
    assert mem.semantic.facts()[0].valid_from == _day(2023, 5, 7)


@pytest.mark.parametrize("bad", [float("nan"), -1, "yesterday", True, 1e20])
def test_a_bad_timestamp_is_refused_before_anything_is_written(bad):
    mem = _memory()
    with pytest.raises(UsageError):
        mem.learn("I live in Lyon.", timestamp=bad)
    assert mem.facts() == []
