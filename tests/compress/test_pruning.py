"""Token pruning: coarse (sentences) then fine (words), force-kept spans, offsets mapped back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from contextwise.compress import TokenPruning
from contextwise.compress.pruning import Prefilter, align, score_words
from contextwise.errors import UsageError

TEXT = ("In 1901 the first prize went to Wilhelm Röntgen of the German city of Munich. "
        "It was a very nice and a very good day for all of the people in the city. "
        "The function compute_total() returns \"gross revenue\" for each fiscalYear.")


def test_pruning_keeps_numbers_names_identifiers_and_quotes(fake_tokenizer, surprisal_model):
    out = TokenPruning(model=surprisal_model, coarse_slack=10.0, prefilter=None).compress(TEXT, 30, fake_tokenizer)
    for span in ("1901", "Wilhelm", "Röntgen", "Munich.", "compute_total()", '"gross revenue"', "fiscalYear."):
        assert span in out.text, span
    assert out.tokens == fake_tokenizer.count(out.text) <= 30


def test_pruning_drops_low_surprisal_words_first(fake_tokenizer, surprisal_model):
    out = TokenPruning(model=surprisal_model, keep_patterns=(), coarse_slack=10.0, prefilter=None).compress(
        "a of to extraordinary magnificent", 2, fake_tokenizer)
    assert out.text == "extraordinary magnificent"


def test_pruning_drops_the_least_informative_sentence_first(fake_tokenizer, surprisal_model):
    text = "So it is. Quantum chromodynamics describes gluons. As it is."
    out = TokenPruning(model=surprisal_model, coarse_slack=1.0).compress(text, 5, fake_tokenizer)
    assert out.text == "Quantum chromodynamics describes gluons."


def test_pruning_with_a_query_ranks_relevant_sentences_and_conditions_the_model(fake_tokenizer, surprisal_model):
    text = "Bananas are yellow fruit. Paris hosts the Louvre museum. Trains run on electric power."
    out = TokenPruning(model=surprisal_model, coarse_slack=1.0).compress(text, 5, fake_tokenizer,
                                                                          query="which museum is in Paris")
    assert "Louvre" in out.text
    assert surprisal_model.calls[-1].startswith("which museum is in Paris\n\n")


def test_pruning_is_exact_under_a_real_tokenizer(o200k, surprisal_model):
    text = TEXT * 5
    for target in (1, 9, 40, 120):
        out = TokenPruning(model=surprisal_model).compress(text, target, o200k)
        assert out.tokens == o200k.count(out.text) <= target


def test_pruning_does_not_call_the_model_when_the_text_fits(fake_tokenizer, surprisal_model):
    out = TokenPruning(model=surprisal_model).compress("short text", 5, fake_tokenizer)
    assert out.text == "short text" and surprisal_model.calls == []


@pytest.mark.parametrize("make", [lambda: TokenPruning(coarse_slack=0.5), lambda: Prefilter(slack=0.9),
                                  lambda: Prefilter(slack=float("nan"))], ids=["coarse", "prefilter", "nan"])
def test_pruning_rejects_a_slack_below_one(make):
    with pytest.raises(UsageError):
        make()


@pytest.mark.parametrize("slack", [1.0, 2.0, 3.0])
def test_pruning_prefilter_bounds_what_the_model_scores(fake_tokenizer, surprisal_model, slack):
    text = " ".join(f"Sentence {i} is about topic {i}." for i in range(40))
    out = TokenPruning(model=surprisal_model, prefilter=Prefilter(slack=slack)).compress(
        text, 10, fake_tokenizer, query="topic 7")
    scored = surprisal_model.calls[-1].removeprefix("topic 7\n\n")
    assert fake_tokenizer.count(scored) <= slack * 10
    assert "topic 7." in scored
    assert out.tokens == fake_tokenizer.count(out.text) <= 10
    TokenPruning(model=surprisal_model, prefilter=None).compress(text, 10, fake_tokenizer)
    assert surprisal_model.calls[-1] == text


@pytest.mark.parametrize("model_tokens", [20, 40])
def test_pruning_band_passes_the_best_sentences_verbatim_and_bounds_what_the_model_reads(
        fake_tokenizer, surprisal_model, model_tokens):
    text = " ".join(f"Sentence {i} is about topic {i}." for i in range(60))
    target = 60  # light: 2x the target would be 120 tokens, more than the model may read
    out = TokenPruning(model=surprisal_model, prefilter=Prefilter(slack=2.0, model_tokens=model_tokens)).compress(
        text, target, fake_tokenizer, query="topic 7")
    read = [call.removeprefix("topic 7\n\n") for call in surprisal_model.calls]
    assert read and sum(fake_tokenizer.count(r) for r in read) <= model_tokens
    assert "Sentence 7 is about topic 7." in out.text and not any("topic 7." in r for r in read)  # verbatim
    assert out.tokens == fake_tokenizer.count(out.text) <= target
    assert fake_tokenizer.count(out.text) >= target - model_tokens  # the verbatim part fills its share


def test_pruning_band_keeps_sentences_in_their_original_order(fake_tokenizer, surprisal_model):
    text = " ".join(f"Sentence {i} is about topic {i % 5}." for i in range(60))
    out = Prefilter(slack=2.0, model_tokens=20).plan(text, 60, fake_tokenizer, "topic 3")
    numbers = [int(word) for word in out[0].split() if word.isdigit()]
    assert numbers == sorted(numbers) and out[1]
    assert all(0 <= a < b <= len(out[0]) for a, b in out[1])


def test_pruning_prefilter_without_a_query_keeps_typical_sentences(fake_tokenizer, surprisal_model):
    text = ("Cats purr at home. Cats purr when fed. Stock markets fell sharply. Cats purr near people. "
            "Cats purr in sleep.")
    kept = Prefilter(slack=1.0).select(text, 10, fake_tokenizer)
    assert "Stock" not in kept and fake_tokenizer.count(kept) <= 10
    assert Prefilter().select(text, 40, fake_tokenizer) == text


def test_align_maps_pieces_that_join_to_the_text():
    starts, values = align("ab cd", [("ab", 1.0), (" c", 2.0), ("d", float("inf"))])
    assert starts.tolist() == [0, 2, 4]
    assert values.tolist() == [1.0, 2.0, 2.0]  # inf becomes the largest finite surprisal


def test_align_passes_surprisal_of_unmatched_pieces_on():
    starts, values = align("héllo world", [("<s>", 1.0), ("h", 1.0), ("\ufffd", 2.0), ("\ufffdllo", 3.0),
                                           (" world", 4.0)])
    assert starts.tolist() == [0, 5]
    assert values.tolist() == [2.0, 9.0]


def test_score_words_sums_model_tokens_per_word(surprisal_model):
    words = score_words("extraordinary cat", surprisal_model)
    assert [(w.start, w.end, w.model_tokens) for w in words] == [(0, 13, 4), (13, 17, 1)]
    assert words[0].surprisal == pytest.approx(13.0)
    assert words[1].surprisal == pytest.approx(3.0)


@pytest.mark.slow
def test_pruning_with_the_local_model_keeps_the_facts(o200k):
    from support import need

    need("llama_cpp")
    text = ("The Eiffel Tower was completed in 1889 for the World's Fair in Paris. "
            "It is, as many people will tell you, a really very tall and quite well known tower. "
            "Gustave Eiffel's company designed and built it over about two years.")
    pruning = TokenPruning()
    out = pruning.compress(text, 30, o200k, query="When was the Eiffel Tower completed?")
    assert out.tokens == o200k.count(out.text) <= 30
    assert "1889" in out.text
    words = score_words(text, pruning.model)
    assert len(words) == len(text.split()) and all(np.isfinite(w.surprisal) and w.surprisal > 0 for w in words)
