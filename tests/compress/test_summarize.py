"""The summarizer: sans-I/O plan/apply, single pass and map-reduce, sync and async drivers, exact fit."""

from __future__ import annotations

import asyncio

import pytest

from contextwise.compress import Summarizer, SummaryStep, TruncateTokens
from contextwise.compress.summarize import chunk_text, fit_sentences, summary_prompt
from contextwise.errors import UsageError
from contextwise.testing import AsyncScriptedChatModel, FakeTokenizer, ScriptedChatModel

LONG = " ".join(f"Fact number {i} is that item {i} weighs {i * 3} grams." for i in range(60))  # 540 words


def test_plan_of_a_short_text_is_one_request_with_the_query(fake_tokenizer):
    text = "Alpha beta gamma. " * 10
    step = Summarizer(chunk_tokens=100, read_ratio=None).plan(text, 12, fake_tokenizer, query="what is gamma")
    assert not step.done and len(step.requests) == 1
    prompt = step.requests[0].messages[-1].text
    assert "what is gamma" in prompt and text.strip()[:40] in prompt
    assert step.requests[0].max_output_tokens >= 12


def test_apply_finishes_and_fits_the_answer_to_the_target(fake_tokenizer):
    s, text = Summarizer(chunk_tokens=100, read_ratio=None), "Alpha beta gamma. " * 10
    step = s.plan(text, 6, fake_tokenizer)
    done = s.apply(step, ["Gamma is a letter. Beta too. And alpha as well, of course."])
    assert done.done and done.requests == ()
    assert done.result.text == "Gamma is a letter. Beta too."  # whole sentences that fit
    assert done.result.tokens == 6 and done.result.original_tokens == fake_tokenizer.count(text)


def test_map_reduce_summarizes_chunks_then_reduces(fake_tokenizer):
    s = Summarizer(chunk_tokens=100, read_ratio=None)
    step = s.plan(LONG, 40, fake_tokenizer)
    assert len(step.requests) == len(chunk_text(LONG, 100, fake_tokenizer)) > 1
    assert all(r.messages[-1].text.count("Fact number") <= 12 for r in step.requests)
    step = s.apply(step, ["Items weigh three grams per number, said the chunk summary here today."] *
                   len(step.requests))
    assert not step.done and len(step.requests) == 1  # the joined summaries still exceed 40: one reduce
    final = s.apply(step, ["All items weigh three grams per index."])
    assert final.done and final.result.text == "All items weigh three grams per index."


def test_map_reduce_stops_early_when_the_joined_summaries_fit(fake_tokenizer):
    s = Summarizer(chunk_tokens=100, read_ratio=None)
    step = s.plan(LONG, 60, fake_tokenizer)
    done = s.apply(step, ["Short."] * len(step.requests))
    assert done.done and done.result.tokens <= 60


def test_map_reduce_depth_is_bounded(fake_tokenizer):
    s = Summarizer(chunk_tokens=40, max_levels=1, read_ratio=None)
    step = s.plan(LONG, 5, fake_tokenizer)
    step = s.apply(step, [LONG[:400]] * len(step.requests))  # the model does not shorten anything
    assert len(step.requests) == 1 and step.level == 1
    final = s.apply(step, [LONG])
    assert final.done and final.result.tokens <= 5


def test_apply_checks_the_answers(fake_tokenizer):
    s = Summarizer()
    step = s.plan("One two three. Four five.", 2, fake_tokenizer)
    with pytest.raises(UsageError, match="answers"):
        s.apply(step, [])
    done = s.apply(step, ["One."])
    with pytest.raises(UsageError, match="finished"):
        s.apply(done, ["again"])


def test_compress_drives_the_model_and_never_exceeds_the_target(fake_tokenizer):
    model = ScriptedChatModel(["A long winded answer that goes on and on and on and on."], repeat_last=True)
    out = Summarizer(model, chunk_tokens=100).compress(LONG, 7, fake_tokenizer, query="weights")
    assert out.tokens == fake_tokenizer.count(out.text) <= 7
    assert "weights" in model.calls[0][0][-1].text


def test_async_driver_matches_the_sync_driver(fake_tokenizer):
    answers = ["Items weigh three grams each, by index."]
    sync = Summarizer(ScriptedChatModel(answers, repeat_last=True), chunk_tokens=100)
    expected = sync.compress(LONG, 30, FakeTokenizer())
    model = AsyncScriptedChatModel(answers, repeat_last=True)
    got = asyncio.run(Summarizer(chunk_tokens=100).acompress(LONG, 30, FakeTokenizer(), model=model))
    assert got == expected
    assert len(model.calls) == len(sync._model.calls)


def test_plan_of_a_text_that_fits_is_already_done(fake_tokenizer):
    step = Summarizer().plan("tiny", 3, fake_tokenizer)
    assert isinstance(step, SummaryStep) and step.done and step.result.text == "tiny"


def test_fit_sentences_cuts_on_tokens_when_no_sentence_fits(fake_tokenizer):
    assert fit_sentences("One two three four. Five.", 2, fake_tokenizer) == "One two"


def test_chunk_text_splits_a_sentence_longer_than_a_chunk(fake_tokenizer):
    chunks = chunk_text(" ".join(["word"] * 50) + ".", 10, fake_tokenizer)
    assert len(chunks) >= 5 and all(fake_tokenizer.count(c) <= 10 for c in chunks)


NEEDLE = "The lighthouse keeper Ada Brandt lit the lamp in 1887."
HAY = " ".join(f"Farmers in valley {i} grow barley and rye every spring." for i in range(40))


def _prompt_text(model: ScriptedChatModel) -> str:
    """The text part of the first prompt the model got."""
    prompt = model.calls[0][0][-1].text
    return prompt.split("Text:\n", 1)[1].split("\n\n", 1)[0]  # these texts have no blank line


def test_summarizer_reads_only_the_sentences_relevant_to_the_query(fake_tokenizer):
    model = ScriptedChatModel(["Ada Brandt lit it in 1887."])
    text = f"{HAY} {NEEDLE} {HAY}"
    out = Summarizer(model, read_ratio=2.0).compress(text, 12, fake_tokenizer,
                                                     query="when did the keeper light the lamp")
    read = _prompt_text(model)
    assert len(model.calls) == 1 and NEEDLE in read
    assert fake_tokenizer.count(read) <= 24 < fake_tokenizer.count(text)
    assert out.text == "Ada Brandt lit it in 1887."


def test_summarizer_with_read_ratio_none_reads_everything(fake_tokenizer):
    model = ScriptedChatModel(["Short."], repeat_last=True)
    text = f"{HAY} {NEEDLE}"
    Summarizer(model, read_ratio=None, chunk_tokens=10_000).compress(text, 12, fake_tokenizer, query="lamp")
    assert _prompt_text(model) == text


def test_summarizer_reads_all_of_a_text_within_read_ratio_of_the_target(fake_tokenizer):
    model = ScriptedChatModel(["Short."])
    text = f"{NEEDLE} {HAY}"
    Summarizer(model, read_ratio=3.0, chunk_tokens=10_000).compress(text, fake_tokenizer.count(text) // 2,
                                                                   fake_tokenizer)
    assert _prompt_text(model) == text


def test_summarizer_selects_with_the_given_selector(fake_tokenizer):
    model = ScriptedChatModel(["Short."])
    text = f"{HAY} {NEEDLE}"
    Summarizer(model, selector=TruncateTokens(side="head")).compress(text, 10, fake_tokenizer)
    read = _prompt_text(model)
    assert read.endswith(NEEDLE[-12:]) and fake_tokenizer.count(read) <= 20


def test_summarizer_rejects_a_read_ratio_below_one():
    with pytest.raises(UsageError, match="read_ratio"):
        Summarizer(read_ratio=0.5)


@pytest.mark.parametrize("query", [None, "who lit the lamp"], ids=["no-query", "query"])
def test_summary_prompt_puts_the_text_first_and_asks_to_copy_facts(query):
    prompt = summary_prompt(NEEDLE, 40, query)
    assert prompt.index(NEEDLE) < (prompt.index(query) if query else len(prompt))
    assert "numbers" in prompt and "exactly" in prompt


@pytest.mark.slow
def test_summarizer_with_the_local_model(o200k):
    from support import need

    need("llama_cpp")
    text = ("The Eiffel Tower was completed in 1889 for the World's Fair in Paris. "
            "It was designed by the company of Gustave Eiffel. It is 330 metres tall. ") * 3
    out = Summarizer(chunk_tokens=400).compress(text, 25, o200k, query="When was the tower completed?")
    assert out.tokens == o200k.count(out.text) <= 25
    assert out.text.strip()


def test_summarize_chunks_split_long_sentences_without_splitting_characters():
    from contextwise.compress.summarize import chunk_text
    from contextwise.tokens import get_tokenizer

    tok = get_tokenizer("o200k_base")
    text = "東京の天気は晴れで気温は二十度です🌞🌞🌞" * 40  # one sentence, far over a chunk
    chunks = chunk_text(text, 32, tok)
    assert len(chunks) > 1
    assert all("\ufffd" not in c and c in text for c in chunks)
    assert "".join(chunks) == text
