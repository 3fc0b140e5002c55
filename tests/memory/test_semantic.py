"""Semantic memory: extraction (model and rules), ADD/UPDATE/DELETE/NOOP, history and undo, retries."""

from __future__ import annotations

import asyncio
import json

import pytest

from contextwise.errors import UsageError
from contextwise.memory import MemoryBackend, SemanticMemory, rule_extract
from contextwise.testing import AsyncScriptedChatModel, HashEmbedder, ScriptedChatModel


def _semantic(model=None, store="memory:"):
    return SemanticMemory(MemoryBackend(store, HashEmbedder(384), tenant="u1"), model=model)


def _facts(*texts):
    return json.dumps({"facts": [{"text": t, "category": "personal", "confidence": 0.9} for t in texts]})


def test_rule_extract_rewrites_first_person_and_skips_questions():
    found = rule_extract("Hello! I work at Acme as a welder. Do you know Lyon? My sister lives in Oslo.")
    assert [c.text for c in found] == ["The user works at Acme as a welder.", "The user's sister lives in Oslo."]
    assert [c.category for c in found] == ["work", "personal"]


def test_learn_supersedes_a_single_valued_fact_and_keeps_it_as_history():
    mem = _semantic()
    mem.learn("I live in Lyon.", source="chat-1", timestamp=1_600_000_000)
    learned = mem.learn("I live in Berlin.", source="chat-2", timestamp=1_700_000_000)
    assert [d.op for d in learned.decisions] == ["SUPERSEDE"]
    assert [f.text for f in mem.facts()] == ["The user lives in Berlin."]
    assert [f.text for f in mem.facts(at=1_650_000_000)] == ["The user lives in Lyon."]
    history = mem.history()
    assert [(c.op, c.before, c.after) for c in history] == [
        ("ADD", None, "The user lives in Lyon."),
        ("SUPERSEDE", "The user lives in Lyon.", "The user lives in Berlin.")]
    assert history[1].source == "chat-2" and history[1].replaces == history[0].fact_id


def test_learn_deletes_a_fact_the_user_retracts_and_undo_restores_it():
    mem = _semantic()
    mem.learn("I eat meat every day.")
    learned = mem.learn("I no longer eat meat every day.")
    assert [d.op for d in learned.decisions] == ["DELETE"]
    assert mem.facts() == []
    restored = mem.undo(learned.changes[0].id)
    assert [c.op for c in restored.changes] == ["UNDO_DELETE"] and restored.decisions == ()
    assert restored.stats.operation == "semantic.undo" and restored.stats.tokens > 0
    assert [f.text for f in mem.facts()] == ["The user eats meat every day."]


def test_undo_of_an_update_brings_the_old_text_back():
    mem = _semantic()
    mem.learn("I work at Acme.")
    update = mem.learn("I work at Globex.").changes[0]
    mem.undo(update.id)
    assert [f.text for f in mem.facts()] == ["The user works at Acme."]
    with pytest.raises(UsageError):
        mem.undo("change:does-not-exist")


def test_near_duplicates_are_merged_not_stored_again():
    mem = _semantic()
    for _ in range(100):
        mem.learn("I'm allergic to peanuts.")
    facts = mem.facts()
    assert len(facts) == 1 and facts[0].mentions == 100
    assert len(mem.history()) == 1


def test_model_extraction_is_validated_and_retried_without_dropping_facts():
    model = ScriptedChatModel(["Sure! Here are the facts: user likes tea",  # not JSON
                               json.dumps({"facts": [{"text": "", "category": "x"}]}),  # invalid fields
                               _facts("The user likes green tea.", "The user lives in Kyoto.")])
    learned = _semantic(model).learn("I like green tea and I live in Kyoto.")
    assert [d.op for d in learned.decisions] == ["ADD", "ADD"]
    assert learned.stats.model_calls == 3 and learned.stats.warnings == ()
    retry_prompt = model.calls[1][0][-1].text
    assert "not valid" in retry_prompt and "JSON" in retry_prompt


def test_model_that_never_answers_validly_falls_back_to_rules_with_a_warning():
    model = ScriptedChatModel(["no json here"], repeat_last=True)
    learned = _semantic(model).learn("I live in Kyoto.")
    assert [d.text for d in learned.decisions] == ["The user lives in Kyoto."]
    assert learned.stats.model_calls == 3 and "rule-based extract" in learned.stats.warnings[0]


def test_model_decides_against_similar_stored_facts():
    mem = _semantic()
    mem.learn("I live in Lyon.")
    stored = mem.facts()[0]

    def decide(messages):
        assert stored.id in messages[-1].text  # the similar stored fact is shown to the model
        return json.dumps({"decisions": [{"candidate": 0, "op": "UPDATE", "target": stored.id,
                                          "text": "The user lives in Lyon, in the Croix-Rousse district."}]})

    mem.model = ScriptedChatModel([_facts("The user lives in Lyon's Croix-Rousse district."), decide])
    learned = mem.learn("I live in the Croix-Rousse district of Lyon.")
    assert learned.decisions[0].op == "UPDATE" and learned.stats.model_calls == 2
    assert [f.text for f in mem.facts()] == ["The user lives in Lyon, in the Croix-Rousse district."]


def test_model_decision_with_an_unknown_target_is_rejected_and_retried():
    mem = _semantic()
    mem.learn("I live in Lyon.")
    mem.model = ScriptedChatModel([
        _facts("The user lives in Lyon."),
        json.dumps({"decisions": [{"candidate": 0, "op": "DELETE", "target": "made-up-id", "text": ""}]}),
        json.dumps({"decisions": [{"candidate": 0, "op": "NOOP", "target": mem.facts()[0].id, "text": ""}]}),
    ])
    learned = mem.learn("I live in Lyon.")
    assert learned.decisions[0].op == "NOOP" and learned.stats.model_calls == 3
    assert "made-up-id" not in json.dumps([c.fact_id for c in mem.history()])


def test_async_driver_gives_the_same_result_as_the_sync_one():
    answers = [_facts("The user likes green tea.")]
    sync = _semantic(ScriptedChatModel(answers)).learn("I like green tea.")
    asynchronous = asyncio.run(_semantic(AsyncScriptedChatModel(answers)).alearn("I like green tea."))
    assert [(d.op, d.text) for d in sync.decisions] == [(d.op, d.text) for d in asynchronous.decisions]


def test_bad_input_writes_nothing(tmp_path):
    mem = _semantic(store=f"sqlite:{tmp_path / 'm.db'}")
    with pytest.raises(UsageError):
        mem.learn("   ")
    with pytest.raises(UsageError):
        mem.learn("x" * 50_000)
    assert mem.facts() == [] and mem.history() == []


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_eight_threads_updating_one_fact_leave_an_exact_history(backend, tmp_path, request):
    import threading

    from contextwise.stores import InMemoryStore, SQLiteStore

    if backend == "memory":
        store = InMemoryStore(384)
    elif backend == "sqlite":
        store = SQLiteStore(tmp_path / "m.db", 384)
    else:
        from contextwise.stores import PostgresStore

        store = PostgresStore(request.getfixturevalue("pg_dsn"), 384, request.getfixturevalue("pg_table"))
    mem = SemanticMemory(MemoryBackend(store, HashEmbedder(384), tenant="u1"))
    mem.learn("I live in Lyon.")
    cities = ["Berlin", "Oslo", "Paris", "Rome", "Madrid", "Vienna", "Prague", "Lisbon"]
    errors: list[BaseException] = []

    def move(city):
        try:
            for district in ("North", "South", "East"):  # every text distinct, so the chain is unambiguous
                mem.learn(f"I live in {district} {city}.")
        except BaseException as exc:  # noqa: BLE001 - any failure is what this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(c,)) for c in cities]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (fact,) = mem.facts()
    history = mem.history(fact.id)
    (add,) = [c for c in history if c.op == "ADD"]
    updates = [c for c in history if c.op == "UPDATE"]
    assert updates
    assert len({u.before for u in updates}) == len(updates)  # no two UPDATEs replaced the same text
    # Follow the chain from the ADD: every UPDATE replaces exactly the text the one before it wrote.
    by_before: dict[str | None, list] = {}
    for u in updates:
        by_before.setdefault(u.before, []).append(u)
    text, seen = add.after, 0
    while by_before.get(text):
        step = by_before[text].pop()
        text, seen = step.after, seen + 1
    assert seen == len(updates) and text == fact.text
    store.close()
