"""The semantic tier: the guard's anchors, the real ONNX embedder behind the exact tier, partitions by frame and
tenant, the nearest distance on misses, and calibration from a false-hit budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import need

from contextwise.cache import CachedChatModel, ResponseCache, SemanticIndex, anchors, calibrate, prompt_text
from contextwise.errors import UsageError
from contextwise.testing import HashEmbedder, ScriptedChatModel
from contextwise.types import ChatOptions, Message

ZERO = ChatOptions(temperature=0)
PAIRS = [json.loads(line) for line in (Path(__file__).parent / "data" / "pairs.jsonl").read_text().splitlines()]

GUARDED = [
    ("turn on dark mode", "turn off dark mode", "polarity"),
    ("who won the world cup in 2018", "who won the world cup in 2014", "numbers"),
    ("who won the first world cup", "who won the second world cup", "numbers"),
    ("who wrote hamlet", "who did not write hamlet", "negations"),
    ("who wrote hamlet", "who didn't write hamlet", "negations"),
    ("capital of France?", "capital of Germany?", "words"),
    ('translate "good morning"', 'translate "good night"', "quotes"),
    ("call load_config now", "call load_settings now", "identifiers"),
    ("what is the largest planet", "what is the smallest planet", "polarity"),
]


@pytest.mark.parametrize(("cached", "new", "kind"), GUARDED, ids=[g[2] + ":" + g[1] for g in GUARDED])
def test_guard_refuses_a_changed_anchor(cached, new, kind):
    assert anchors(new).mismatch(anchors(cached)) == kind


@pytest.mark.parametrize(("cached", "new"), [
    ("capital of France?", "France's capital city?"), ("what is the capital of france", "What's the capital of France"),
    ("where is the eiffel tower", "can you tell me where the Eiffel Tower is?"),
    ("who won the 1st world cup", "who won the first world cup"),
])
def test_guard_lets_a_paraphrase_through(cached, new):
    assert anchors(new).mismatch(anchors(cached)) is None


@given(st.text(max_size=60))
def test_guard_anchors_ignore_case_and_final_punctuation(text):
    assert anchors(text.lower() + "?").mismatch(anchors(text.lower())) is None
    assert anchors(text).mismatch(anchors(text)) is None


def test_prompt_text_puts_the_last_user_turn_first_and_leaves_system_out():
    messages = [Message.system("S"), Message.user("a"), Message.assistant("b"), Message.user("c")]
    assert prompt_text(messages, 2) == "user: c\nassistant: b"
    assert prompt_text([Message.system("S")]) == ""


@pytest.fixture(scope="module")
def onnx():
    need("onnxruntime", "the semantic tier embeds with the embedded ONNX MiniLM (extra `embed`)")
    from contextwise.embed import default_embedder

    return default_embedder()


def _cached(cache, answer="Paris.", tenant="acme"):
    return CachedChatModel(ScriptedChatModel([answer], repeat_last=True), cache, tenant=tenant, semantic=True)


def _ask(text, system="Be brief."):
    return [Message.system(system), Message.user(text)]


def test_semantic_hit_for_a_paraphrase_with_the_real_embedder(onnx, tmp_path):
    cache = ResponseCache(f"sqlite:{tmp_path / 'c.db'}")
    model = _cached(cache)
    assert model.complete_cached(_ask("capital of France?"), options=ZERO).cached is False
    found = model.complete_cached(_ask("France's capital city?"), options=ZERO)
    assert found.cached and found.lookup.tier == "semantic" and 0.0 <= found.lookup.distance < 0.11
    assert found.completion.text == "Paris."
    assert model.complete_cached(_ask("capital of France?"), options=ZERO).lookup.tier == "exact"
    cache.close()
    with ResponseCache(f"sqlite:{tmp_path / 'c.db'}") as again:  # the vectors live in the same file
        assert _cached(again).lookup(_ask("France's capital city?"), options=ZERO).tier == "semantic"


def test_semantic_miss_reports_the_guard_and_the_nearest_distance(onnx):
    model = _cached(ResponseCache("memory:"), answer="Dark mode is on.")
    model.complete(_ask("turn on dark mode"), options=ZERO)
    miss = model.lookup(_ask("turn off dark mode"), options=ZERO)
    assert miss.hit is False and miss.reason == "guard: polarity differ"
    assert miss.distance is not None and miss.distance < 0.2  # close in meaning space, yet never served


def test_semantic_partitions_by_system_prompt_sampling_and_tenant(onnx):
    cache = ResponseCache("memory:")
    _cached(cache).complete(_ask("capital of France?"), options=ZERO)
    model = _cached(cache)
    assert model.lookup(_ask("France's capital city?", system="Answer in French."), options=ZERO).hit is False
    assert model.lookup(_ask("France's capital city?"), options=ChatOptions(temperature=0, top_p=0.5)).hit is False
    assert _cached(cache, tenant="globex").lookup(_ask("France's capital city?"), options=ZERO).hit is False
    assert cache.clear(tenant="acme") == 1
    assert model.lookup(_ask("France's capital city?"), options=ZERO).reason == "semantic: empty"


def test_semantic_entry_gone_from_the_exact_tier_is_not_served(onnx):
    cache = ResponseCache("memory:")
    model = _cached(cache)
    model.complete(_ask("capital of France?"), options=ZERO)
    key = model.lookup(_ask("capital of France?"), options=ZERO).key
    cache.delete(key, tenant="acme")
    assert model.lookup(_ask("France's capital city?"), options=ZERO).hit is False


def test_semantic_calibration_keeps_the_false_hit_budget_on_the_test_pairs(onnx):
    pairs = [(p["prompt"], p["cached"], p["same"]) for p in PAIRS]
    found = calibrate(pairs, embedder=onnx, max_false_hit_rate=0.0)
    assert found.false_hit_rate == 0.0 and found.negatives == 14 and found.positives == 10
    assert found.hit_rate >= 0.5
    blind = calibrate(pairs, embedder=onnx, max_false_hit_rate=0.0, guard=False)
    assert blind.hit_rate <= found.hit_rate


def test_semantic_index_checks_its_settings_and_redis_needs_a_vector_store():
    with pytest.raises(UsageError):
        SemanticIndex(None, embedder=HashEmbedder(384), threshold=2.0)
    with pytest.raises(UsageError, match="vector store"):
        SemanticIndex.beside(object())


def test_a_semantic_tier_refuses_vectors_another_embedder_made(tmp_path):
    from contextwise.stores import EmbedderMismatchError, SQLiteStore

    path = tmp_path / "c.db"
    cache = ResponseCache(f"sqlite:{path}", semantic=SemanticIndex(SQLiteStore(path, 384), embedder=HashEmbedder(384)))
    _cached(cache).complete(_ask("capital of France?"), options=ZERO)
    cache.close()
    other = HashEmbedder(384)
    other.name = "onnx:all-minilm-l6-v2-int8"  # same dimensions, another model: its neighbours would be wrong
    with SQLiteStore(path, 384) as store:
        with pytest.raises(EmbedderMismatchError, match="hash-384"):
            SemanticIndex(store, embedder=other)
        again = SemanticIndex(store, embedder=HashEmbedder(384))
        assert again.vectors.count(tenant=store.tenants()[0]) == 1
