"""One tokenizer resolver: every API that takes a tokenizer accepts the same four spellings."""

from __future__ import annotations

import pytest

from contextwise.compress import compress
from contextwise.documents import chunk_document, fuse
from contextwise.errors import UnknownBackendError, UsageError
from contextwise.history import Conversation
from contextwise.registry import resolve
from contextwise.testing import FakeTokenizer
from contextwise.tokens import TokenCounter, get_tokenizer, resolve_tokenizer
from contextwise.types import Chunk, Message

O200K_SPECS = ["o200k_base", "o200k", "tiktoken:o200k_base", "auto:o200k_base", "model:gpt-4o", "gpt-4o",
               "openai/gpt-4o-2024-08-06"]
TEXT = "Cats purr softly. Dogs bark at night. Cows moo in the field. Birds sing at dawn."


@pytest.mark.parametrize("spec", O200K_SPECS)
def test_resolve_every_spelling_names_the_same_encoding(spec):
    assert resolve_tokenizer(spec).name == "o200k_base"
    assert resolve("tokenizer", spec).name == "o200k_base"


@pytest.mark.parametrize("spec", O200K_SPECS)
def test_resolve_compress_chunk_and_fuse_agree_on_every_spelling(spec):
    reference = get_tokenizer("o200k_base")
    assert compress(TEXT, target_tokens=8, tokenizer=spec) == compress(TEXT, target_tokens=8, tokenizer=reference)
    assert chunk_document(TEXT, spec, max_tokens=6) == chunk_document(TEXT, reference, max_tokens=6)
    chunks = [Chunk("a", "Cats purr."), Chunk("b", "Dogs bark.")]
    assert fuse(chunks, 8, spec).text == fuse(chunks, 8, reference).text


def test_resolve_passes_tokenizer_objects_through():
    fake = FakeTokenizer()
    assert resolve_tokenizer(fake) is fake


@pytest.mark.parametrize("spec, error", [(None, UsageError), (5, UsageError), ("", UsageError),
                                         ("no-such-model-xyz", UnknownBackendError)],
                         ids=["none", "int", "empty", "unknown"])
def test_resolve_refuses_what_names_no_tokenizer(spec, error):
    with pytest.raises(error):
        resolve_tokenizer(spec)
    with pytest.raises(error):
        TokenCounter(spec)


def test_resolve_a_model_name_brings_its_framing():
    by_model, by_id = TokenCounter("claude-sonnet-4-5"), TokenCounter("claude")
    assert by_model.model == "claude-sonnet-4-5"
    assert by_model.framing == TokenCounter.for_model("claude-sonnet-4-5").framing
    assert TokenCounter("model:gpt-4o").model == "gpt-4o"
    assert by_id.tokenizer is by_model.tokenizer


def test_resolve_conversation_counts_with_its_models_tokenizer_and_framing():
    msgs = [Message.user("Hello there, how is the weather in Paris today? " * 3)]
    claude = Conversation(model="claude-sonnet-4-5", store=None)
    default = Conversation(store=None)
    assert claude.counter.messages(msgs) == TokenCounter.for_model("claude-sonnet-4-5").messages(msgs)
    assert claude.counter.messages(msgs) != default.counter.messages(msgs)
    assert default.counter.messages(msgs) == TokenCounter("o200k_base").messages(msgs)
    with pytest.raises(UsageError, match="not both"):
        Conversation(model="gpt-4o", counter=TokenCounter("o200k_base"))


def test_resolve_count_refuses_non_text():
    counter = TokenCounter("o200k_base")
    with pytest.raises(UsageError, match="takes a string"):
        counter.count(None)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        counter.messages("hello")  # type: ignore[arg-type]
