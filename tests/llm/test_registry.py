"""The chat clients register under "openai", "anthropic", "gemini" and "local" like any plugin would."""

from __future__ import annotations

import pytest
from support import missing, need

from contextwise.errors import MissingDependencyError
from contextwise.llm import AnthropicChat, GeminiChat, OpenAIChat, local_model
from contextwise.protocols import ChatModel
from contextwise.registry import providers, resolve


def test_registry_lists_the_chat_providers():
    assert {"openai", "anthropic", "gemini", "local"} <= set(providers("chat"))


@pytest.mark.parametrize("spec, kind, name", [
    ("openai:gpt-4o-mini", OpenAIChat, "gpt-4o-mini"),
    ("anthropic:claude-sonnet-4-5", AnthropicChat, "claude-sonnet-4-5"),
    ("gemini:gemini-2.5-flash", GeminiChat, "gemini-2.5-flash"),
], ids=["openai", "anthropic", "gemini"])
def test_registry_builds_http_clients(spec, kind, name):
    model = resolve("chat", spec)
    assert type(model) is kind and model.name == name and isinstance(model, ChatModel)


@pytest.mark.parametrize("spec", ["local", "local:smollm2"])
def test_registry_local_is_the_shared_default_model(spec):
    need("llama_cpp", "the local model needs the `local` extra")
    try:
        shared = local_model()
    except MissingDependencyError as exc:
        missing(str(exc))
    assert resolve("chat", spec) is shared and isinstance(shared, ChatModel)
