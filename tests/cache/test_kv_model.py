"""The KV-state cache with the real local model (SmolLM2-135M through llama.cpp): states saved, restored, refused;
answers after a restore the same bits as without one; tenants apart; a scenario precomputed in one process
serving another."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import missing

import contextwise
from contextwise.cache import KVCachedModel, KVStateCache
from contextwise.errors import ContextLengthError, MissingDependencyError, UsageError
from contextwise.llm import LlamaCppModel, local_model
from contextwise.observe import CacheLookup, subscribe
from contextwise.types import ChatOptions, Completion, Message

GREEDY = ChatOptions(temperature=0.0, logprobs=True)
SYSTEM = "You answer from the notes in one short sentence."
NOTES = " ".join(f"Box {i} holds a {colour} ball." for i, colour in enumerate(["red", "blue", "green"] * 4))
ASK = [Message.user("What colour is the ball in box 4?")]
OUT = 8
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> LlamaCppModel:
    try:
        return local_model()
    except MissingDependencyError as exc:
        missing(str(exc))
        raise


@pytest.fixture(scope="module")
def fresh(model) -> LlamaCppModel:
    """The same loaded model, evaluating every prompt whole: the answer without reuse."""
    plain = LlamaCppModel(model.path, n_ctx=model.n_ctx, name=model.name)
    plain.reuse_prefix = False
    return plain


def _evict(model: LlamaCppModel) -> None:
    """Empty the model's own KV cache, which keeps a prompt's prefix between calls: a prefix can then only come
    from a saved state."""
    engine = model._engine  # noqa: SLF001
    with engine.hold():
        engine.forget()


@pytest.fixture
def kv(model, tmp_path) -> KVCachedModel:
    _evict(model)
    return KVCachedModel(model, KVStateCache(tmp_path / "kv"), tenant="acme")


def _precompute(kv: KVCachedModel):
    """The scenario precomputed and saved, and the model's own cache emptied."""
    done = kv.precompute("boxes", SYSTEM, NOTES)
    _evict(kv.model)
    return done


@pytest.fixture(scope="module")
def reference(fresh) -> Completion:
    """The scenario's answer evaluated whole, once for the module."""
    return fresh.complete([Message.system(f"{SYSTEM}\n\n{NOTES}"), *ASK], max_output_tokens=OUT, options=GREEDY)


def _same(got: Completion, want: Completion) -> None:
    assert got.text == want.text
    assert got.logprobs is not None and want.logprobs is not None
    assert [t.logprob for t in got.logprobs] == [t.logprob for t in want.logprobs]  # the same bits


def test_kv_state_round_trips_through_the_file_bit_for_bit(kv, model):
    done = kv.precompute("boxes", SYSTEM, NOTES)
    (entry,) = kv.states.entries("acme")
    assert not done.reused and entry.n_tokens == done.tokens and entry.bytes == done.state_bytes
    assert entry.bytes == entry.path.stat().st_size
    assert 1_000 < entry.bytes_per_token < 200_000  # measured, ~23 kB for SmolLM2-135M (not 2.6 MB)
    state = kv.states.load(entry)
    assert state is not None and len(state.tokens) == done.tokens
    engine = model._engine  # noqa: SLF001 (the engine's state API is the unit under test)
    with engine.hold():
        assert engine.restore_state(state.tokens, bytearray(state.data), len(state.tokens),
                                    prompt_tokens=len(state.tokens))
        assert engine.save_state(len(state.tokens)) == state.data


def _logits_after(engine, tokens, kept):
    kept = engine.evaluate(tokens[:-1], kept)
    engine.llama.eval(tokens[-1:])
    return np.array(engine.last_logits()[0], copy=True), kept


@pytest.mark.parametrize("split", ["remainder-1", "remainder-2", "remainder-many", "prefix-batch+1"])
def test_kv_restored_prefix_gives_the_same_logits_as_a_fresh_evaluation(model, split):
    engine = model._engine  # noqa: SLF001 (the engine's evaluation schedule is the unit under test)
    batch = int(engine.llama.n_batch)
    length = batch + 8 if split == "prefix-batch+1" else 40
    tokens = (model.tokenize(NOTES * 40))[:length]
    cut = {"remainder-1": length - 2, "remainder-2": length - 3, "remainder-many": 17,
           "prefix-batch+1": batch + 1}[split]
    with engine.hold():
        engine.forget()
        want, _ = _logits_after(engine, tokens, 0)
        engine.forget()
        engine.evaluate(tokens[:cut], 0)  # a prefix computed on its own, as precompute() does
        data = engine.save_state(cut)
        assert engine.restore_state(tokens[:cut], data, cut, prompt_tokens=len(tokens))
        got, kept = _logits_after(engine, tokens, cut)
        engine.forget()
    assert kept == (cut - 1 if split == "remainder-1" else cut)
    assert np.array_equal(got, want)


def test_kv_scenario_answer_equals_the_answer_without_reuse(kv, reference):
    done = _precompute(kv)
    got = kv.complete_scenario("boxes", ASK, max_output_tokens=OUT, options=GREEDY)
    assert got.usage.cached_input_tokens == done.tokens and kv.states.stats().hits == 1
    _same(got, reference)
    again = kv.precompute("boxes", SYSTEM, NOTES)
    assert again.reused and len(kv.states.entries()) == 1


def test_kv_torn_file_is_refused_removed_and_the_answer_unchanged(kv, reference):
    _precompute(kv)
    (entry,) = kv.states.entries()
    entry.path.write_bytes(entry.path.read_bytes()[: entry.bytes // 3])
    got = kv.complete_scenario("boxes", ASK, max_output_tokens=OUT, options=GREEDY)
    assert got.usage.cached_input_tokens < 16 and kv.states.stats().refused == 1
    assert not entry.path.exists() and kv.states.entries() == []
    _same(got, reference)


def test_kv_state_llama_cpp_refuses_is_a_miss_and_removed(kv, model, reference):
    _precompute(kv)
    (entry,) = kv.states.entries()
    state = kv.states.load(entry)
    assert state is not None
    kv.states.save("acme", kv.fingerprint, state.tokens, state.data[: len(state.data) // 2])  # checksummed anew
    got = kv.complete_scenario("boxes", ASK, max_output_tokens=OUT, options=GREEDY)
    assert got.usage.cached_input_tokens < 16 and kv.states.entries() == []
    _same(got, reference)


def test_kv_fingerprint_changes_with_the_window_and_a_mismatch_is_not_restored(kv, model):
    kv.precompute("boxes", SYSTEM, NOTES)
    small = KVCachedModel(LlamaCppModel(model.path, n_ctx=512, name=model.name), kv.states, tenant="acme")
    assert small.fingerprint != kv.fingerprint and len(kv.fingerprint) == 64
    got = small.complete_scenario("boxes", ASK, max_output_tokens=4, options=GREEDY)
    assert got.usage.cached_input_tokens == 0
    assert {e.fingerprint for e in kv.states.entries()} == {kv.fingerprint}  # the other state is left alone


def test_kv_tenants_never_share_states_nor_the_models_own_cache(kv, reference):
    done = kv.precompute("boxes", SYSTEM, NOTES)
    rival = KVCachedModel(kv.model, kv.states, tenant="rival")
    with pytest.raises(UsageError, match="no scenario"):
        rival.scenario_messages("boxes", ASK)
    messages = kv.scenario_messages("boxes", ASK)
    theirs = rival.complete(messages, max_output_tokens=OUT, options=GREEDY)
    assert theirs.usage.cached_input_tokens == 0  # neither acme's saved state nor acme's prompt in the model
    again = rival.complete(messages, max_output_tokens=OUT, options=GREEDY)  # its own prompt, in the model: reused
    mine = kv.complete(messages, max_output_tokens=OUT, options=GREEDY)  # acme's state, from disk
    assert mine.usage.cached_input_tokens == done.tokens
    for answer in (theirs, again, mine):
        _same(answer, reference)
    assert {e.tenant for e in kv.states.entries()} == {"acme"}


def test_kv_conversation_turns_resume_from_the_saved_previous_turn(model, tmp_path):
    chat = KVCachedModel(model, KVStateCache(tmp_path), tenant="acme", save_min_new_tokens=16)
    first = [Message.system(f"{SYSTEM}\n\n{NOTES}"), *ASK]
    answer = chat.complete(first, max_output_tokens=OUT, options=GREEDY)
    (saved,) = chat.states.entries()
    assert saved.n_tokens == answer.usage.input_tokens - 1
    KVCachedModel(model, chat.states, tenant="other").complete([Message.user("hi")], max_output_tokens=2)
    second = chat.complete([*first, Message.assistant(answer.text), Message.user("And box 5?")], max_output_tokens=4,
                           options=GREEDY)
    assert second.usage.cached_input_tokens >= saved.n_tokens - 1


def test_kv_lookup_is_observed(kv):
    done = _precompute(kv)
    seen: list[CacheLookup] = []
    with subscribe(seen.append, kinds=CacheLookup):
        kv.complete_scenario("boxes", ASK, max_output_tokens=2, options=GREEDY)
    assert [(e.cache, e.hit, e.tier, e.saved_tokens) for e in seen] == [("kv", True, "prefix", done.tokens)]


def test_kv_precompute_survives_a_new_process(kv, reference, tmp_path):
    done = kv.precompute("boxes", SYSTEM, NOTES)
    kv.states.close()
    code = (
        "import json, sys\n"
        "from contextwise.cache import KVCachedModel, KVStateCache\n"
        "from contextwise.types import ChatOptions, Message\n"
        "kv = KVCachedModel(states=KVStateCache(sys.argv[1]), tenant='acme')\n"
        f"got = kv.complete_scenario('boxes', [Message.user({ASK[0].text!r})], max_output_tokens={OUT},"
        " options=ChatOptions(temperature=0.0, logprobs=True))\n"
        "print(json.dumps({'text': got.text, 'cached': got.usage.cached_input_tokens,"
        " 'logprobs': [t.logprob for t in got.logprobs]}))\n"
    )
    src = str(Path(contextwise.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "kv")], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    child = json.loads(run.stdout.strip().splitlines()[-1])
    assert child["cached"] == done.tokens
    assert child["text"] == reference.text
    assert child["logprobs"] == [t.logprob for t in reference.logprobs or ()]


def test_kv_precompute_refuses_bad_input_before_any_work(kv):
    with pytest.raises(UsageError):
        kv.precompute("", SYSTEM, NOTES)
    with pytest.raises(UsageError):
        kv.precompute("tiny", "Hi", "")
    with pytest.raises(ContextLengthError):
        kv.precompute("huge", SYSTEM, NOTES * 200)
    with pytest.raises(UsageError):
        KVCachedModel(kv.model, kv.states, tenant="acme", save_min_new_tokens=0)
    assert kv.states.entries() == [] and kv.states.scenario("acme", "huge") is None


def test_kv_an_unreadable_index_warns_and_answers_as_without_a_cache(kv, reference):
    kv.states.close()
    with pytest.warns(RuntimeWarning, match="not consulted"):
        got = kv.complete([Message.system(f"{SYSTEM}\n\n{NOTES}"), *ASK], max_output_tokens=OUT, options=GREEDY)
    assert got.usage.cached_input_tokens < 16
    _same(got, reference)


def test_kv_async_twin_resumes_the_same_way(kv, reference):
    from contextwise.llm import AsyncLlamaCppModel

    done = _precompute(kv)
    messages = kv.scenario_messages("boxes", ASK)
    got = asyncio.run(AsyncLlamaCppModel(kv).complete(messages, OUT, GREEDY))
    assert got.usage.cached_input_tokens == done.tokens
    _same(got, reference)
