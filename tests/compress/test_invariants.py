"""Every compressor: exact counts, never over the target, never more tokens than it was given."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.compress import Auto, EmbeddingScorer, Extractive, Summarizer, TokenPruning, TruncateTokens
from contextwise.testing import FakeTokenizer, HashEmbedder, ScriptedChatModel


def _echo(messages):
    """A summarizer stand-in that answers with a slice of its prompt: unrelated length, real text."""
    return messages[-1].text[-300:]


COMPRESSORS = {  # each builds its compressor from the surprisal model class
    "truncate-tail": lambda lm: TruncateTokens(),
    "truncate-middle": lambda lm: TruncateTokens(side="middle"),
    "extractive-bm25": lambda lm: Extractive(),
    "extractive-embedding": lambda lm: Extractive(scorer=EmbeddingScorer(HashEmbedder())),
    "pruning": lambda lm: TokenPruning(model=lm()),
    "summarize": lambda lm: Summarizer(ScriptedChatModel([_echo], repeat_last=True), chunk_tokens=64),
    "auto": lambda lm: Auto(pruning=TokenPruning(model=lm()),
                            summarizer=Summarizer(ScriptedChatModel([_echo], repeat_last=True), chunk_tokens=64)),
}
WORDS = st.sampled_from(["the", "Paris", "1901", "naïve", "🎉", "x_y", "\"q\"", "Dr.", "e.g.", "3.5", "a", "Ünïcode",
                         "日本語", "end.", "ok!", "why?", "-", "```", "\n", "\n\n", "  ", "#"])
TEXTS = st.lists(WORDS, max_size=120).map(" ".join)


@pytest.mark.parametrize("make", COMPRESSORS.values(), ids=COMPRESSORS.keys())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, keep=st.floats(0.0, 1.2), query=st.none() | st.sampled_from(["Paris 1901", "what is x_y"]))
def test_compressor_is_exact_and_never_over_target(o200k, surprisal_class, make, text, keep, query):
    for tokenizer in (o200k, FakeTokenizer()):
        original = tokenizer.count(text)
        target = int(original * keep)
        out = make(surprisal_class).compress(text, target, tokenizer, query)
        assert out.tokens == tokenizer.count(out.text)
        assert out.tokens <= target
        assert out.tokens <= original == out.original_tokens
