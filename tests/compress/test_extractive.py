"""Extractive compression: query-aware, redundancy-aware, order-keeping, exact to the token."""

from __future__ import annotations

import numpy as np
import pytest

from contextwise.compress import Bm25Scorer, EmbeddingScorer, Extractive, HybridScorer, SentenceScores
from contextwise.errors import UsageError
from contextwise.testing import HashEmbedder

DOC = (
    "The museum opened in 1902 on the river bank. "
    "Its roof was rebuilt after a storm. "
    "The first director of the museum was Anna Berg. "
    "Visitors can buy tickets at the door. "
    "The café serves coffee and cake."
)


def test_extractive_keeps_the_sentence_that_answers_the_query(fake_tokenizer):
    out = Extractive(query="who was the first director").compress(DOC, 10, fake_tokenizer)
    assert "Anna Berg" in out.text
    assert out.tokens == fake_tokenizer.count(out.text) <= 10


def test_extractive_query_argument_overrides_the_default(fake_tokenizer):
    out = Extractive(query="coffee and cake").compress(DOC, 10, fake_tokenizer, query="first director")
    assert "Anna Berg" in out.text


def test_extractive_keeps_the_original_order(fake_tokenizer):
    out = Extractive(query="museum director tickets").compress(DOC, 28, fake_tokenizer)
    kept = [s for s in DOC.split(". ") if s.rstrip(".") in out.text]
    assert len(kept) >= 2
    positions = [out.text.index(s.rstrip(".")) for s in kept]
    assert positions == sorted(positions)


def test_extractive_drops_a_near_duplicate_with_mmr(fake_tokenizer):
    text = ("The bridge is 300 metres long. The bridge is 300 metres long indeed. "
            "It was painted red in 1990. Cars pay a toll.")
    query = "bridge long painted"
    with_mmr = Extractive(query=query, diversity=0.7).compress(text, 14, fake_tokenizer).text
    without = Extractive(query=query, diversity=0.0).compress(text, 14, fake_tokenizer).text
    assert with_mmr.count("300 metres") == 1 and "painted" in with_mmr
    assert without.count("300 metres") == 2


def test_extractive_fills_the_remaining_budget_greedily(fake_tokenizer):
    text = "Alpha beta gamma delta epsilon zeta eta. Apples. Pears. Plums."
    out = Extractive(query="alpha beta", diversity=0.0).compress(text, 9, fake_tokenizer)
    assert out.text.startswith("Alpha beta") and out.tokens == 9  # 7-word sentence + two 1-word ones


def test_extractive_cuts_the_best_sentence_when_none_fits(fake_tokenizer):
    text = "A very long sentence about the treaty of Paris and its many clauses. Short one."
    out = Extractive(query="treaty of Paris").compress(text, 4, fake_tokenizer)
    assert out.text == "A very long sentence"
    assert out.tokens == 4


def test_extractive_preserves_separators_between_kept_sentences(fake_tokenizer):
    text = "- apples are red\n- pears are green\n- plums are purple"
    out = Extractive(query="apples plums", diversity=0.0).compress(text, 8, fake_tokenizer)
    assert out.text == "- apples are red\n- plums are purple"


def test_extractive_without_a_query_prefers_central_sentences(fake_tokenizer):
    text = ("Solar panels convert sunlight into power. Solar power grows each year. "
            "Solar panels on roofs save power costs. My cat likes tuna.")
    out = Extractive().compress(text, 20, fake_tokenizer)
    assert "tuna" not in out.text


def test_extractive_is_exact_under_a_real_tokenizer(o200k):
    text = DOC * 8
    for target in (1, 7, 30, 100):
        out = Extractive(query="director").compress(text, target, o200k)
        assert out.tokens == o200k.count(out.text) <= target
        assert out.original_tokens == o200k.count(text)


def test_extractive_rejects_diversity_out_of_range():
    with pytest.raises(UsageError):
        Extractive(diversity=1.5)


def test_extractive_rejects_an_unknown_scorer_name():
    with pytest.raises(UsageError, match="scorer"):
        Extractive(scorer="tfidf")


def test_extractive_name_says_the_scorer():
    assert Extractive().name == "extractive-bm25"
    assert Extractive(scorer=EmbeddingScorer(HashEmbedder())).name == "extractive-embedding"


def test_bm25_scorer_relevance_is_in_unit_range_and_ranks_overlap_first():
    scores = Bm25Scorer().score(["cats purr loudly", "dogs bark", "cats and dogs"], "cats purr")
    assert isinstance(scores, SentenceScores)
    assert 0.0 <= scores.relevance.min() and scores.relevance.max() <= 1.0
    assert int(np.argmax(scores.relevance)) == 0
    assert np.allclose(np.linalg.norm(scores.vectors, axis=1), 1.0, atol=1e-5)


def test_embedding_scorer_uses_the_given_embedder():
    scores = EmbeddingScorer(HashEmbedder()).score(["red apples", "blue sky", "green apples"], "apples")
    assert scores.vectors.shape == (3, 64)
    assert scores.relevance[1] < min(scores.relevance[0], scores.relevance[2])


def test_hybrid_scorer_mixes_lexical_and_semantic():
    hybrid = HybridScorer(HashEmbedder(), semantic_weight=0.5)
    scores = hybrid.score(["red apples", "blue sky"], "apples")
    assert scores.relevance[0] > scores.relevance[1]
    with pytest.raises(UsageError):
        HybridScorer(HashEmbedder(), semantic_weight=2.0)


@pytest.mark.slow
def test_extractive_with_the_onnx_embedder_matches_meaning_without_shared_words(o200k):
    from support import need

    need("onnxruntime")
    text = ("The stock market fell sharply on Monday. "
            "My grandmother grows tomatoes in her garden. "
            "A feline was sleeping on the warm windowsill. "
            "The train to Berlin was delayed by an hour.")
    out = Extractive(query="where is the cat napping?", scorer="embedding").compress(text, 12, o200k)
    assert "feline" in out.text
    assert out.tokens == o200k.count(out.text) <= 12
