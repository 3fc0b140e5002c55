"""Chat framing follows OpenAI's token-counting cookbook.

Numbers matched (OpenAI cookbook "How to count tokens with tiktoken", sections 6 and 7, where each figure is
printed next to the `usage.prompt_tokens` the API returned for the same request):
  * its six-message jargon example: 124 prompt tokens for gpt-4o / gpt-4o-mini, 129 for gpt-4-0613 / gpt-4 /
    gpt-3.5-turbo;
  * its weather-tool example (two messages + one function with an enum): 101 for gpt-4o / gpt-4o-mini, 105 for
    gpt-4 / gpt-3.5-turbo.
Our own example messages are checked against the documented rule re-implemented here on raw tiktoken dicts
(3 tokens per message + its values' tokens, +1 per name, +3 reply priming), independently of contextwise's code.
"""

from __future__ import annotations

import pytest
import tiktoken
from support import need

from contextwise.tokens import ANTHROPIC, GOOGLE, OPENAI, TokenCounter, framing_for
from contextwise.types import ImagePart, Message, TextPart, Tool, ToolCall

COOKBOOK_MESSAGES = [
    Message("system", "You are a helpful, pattern-following assistant that translates corporate jargon into plain "
                      "English."),
    Message("system", "New synergies will help drive top-line growth.", name="example_user"),
    Message("system", "Things working well together will increase revenue.", name="example_assistant"),
    Message("system", "Let's circle back when we have more bandwidth to touch base on opportunities for increased "
                      "leverage.", name="example_user"),
    Message("system", "Let's talk later when we're less busy about how to do better.", name="example_assistant"),
    Message("user", "This late pivot means we don't have time to boil the ocean for the client deliverable."),
]
COOKBOOK_TOOLS = [{"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return",
                 "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]}}}]
COOKBOOK_TOOL_MESSAGES = [
    Message.system("You are a helpful assistant that can answer to questions about the weather."),
    Message.user("What's the weather like in San Francisco?"),
]


@pytest.mark.parametrize(("model", "api_prompt_tokens"), [
    ("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-3.5-turbo", 129)])
def test_cookbook_messages_match_the_api_figures_it_published(model: str, api_prompt_tokens: int) -> None:
    assert TokenCounter.for_model(model).messages(COOKBOOK_MESSAGES) == api_prompt_tokens


@pytest.mark.parametrize(("model", "api_prompt_tokens"), [
    ("gpt-4o", 101), ("gpt-4o-mini", 101), ("gpt-4", 105), ("gpt-3.5-turbo", 105)])
def test_cookbook_tools_match_the_api_figures_it_published(model: str, api_prompt_tokens: int) -> None:
    counter = TokenCounter.for_model(model)
    assert counter.messages(COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS) == api_prompt_tokens
    tools = [Tool.from_openai(t) for t in COOKBOOK_TOOLS]
    assert counter.messages(COOKBOOK_TOOL_MESSAGES, tools=tools) == api_prompt_tokens


def documented_rule(messages: list[dict[str, str]], encoding: str) -> int:
    """The cookbook's num_tokens_from_messages rule, on plain dicts and raw tiktoken."""
    enc = tiktoken.get_encoding(encoding)
    total = 0
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(enc.encode(value)) + (1 if key == "name" else 0)
    return total + 3


OWN_EXAMPLES = [
    [{"role": "user", "content": "Bonjour ! Combien de jetons compte cette phrase, accents compris ?"}],
    [{"role": "system", "content": "Answer in one word."},
     {"role": "user", "name": "ada", "content": "Colour of the sky at noon?"},
     {"role": "assistant", "content": "Blue."},
     {"role": "user", "name": "grace_h", "content": "And at 9 p.m. in Oslo in June — 日没?"}],
    [{"role": "developer", "content": "def f(x):\n    return x ** 2  # squares\n"},
     {"role": "user", "content": ""}],
    [],
]


@pytest.mark.parametrize("messages", OWN_EXAMPLES, ids=["one-user", "named-dialogue", "code-and-empty", "none"])
@pytest.mark.parametrize(("model", "encoding"), [("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")])
def test_own_messages_follow_the_documented_rule(messages, model: str, encoding: str) -> None:
    counter = TokenCounter.for_model(model)
    msgs = [Message(m["role"], m["content"], name=m.get("name")) for m in messages]
    assert counter.messages(msgs) == documented_rule(messages, encoding)


def test_own_tool_definition_follows_the_documented_tool_rule() -> None:
    enc = tiktoken.get_encoding("o200k_base")
    tool = Tool("lookup_order", "Find an order by id.", {"type": "object", "properties": {
        "order_id": {"type": "string", "description": "The order number."},
        "region": {"type": "string", "description": "Where", "enum": ["eu", "us", "apac"]}}})
    expected = (7 + len(enc.encode("lookup_order:Find an order by id"))  # function start, name:description
                + 3  # properties start
                + 3 + len(enc.encode("order_id:string:The order number"))
                + 3 - 3 + sum(3 + len(enc.encode(v)) for v in ("eu", "us", "apac"))
                + len(enc.encode("region:string:Where"))
                + 12)  # end of tools
    assert TokenCounter.for_model("gpt-4o").tools([tool]) == expected


def test_tool_calls_and_results_are_counted() -> None:
    counter = TokenCounter("o200k_base")
    plain = counter.message(Message.assistant(""))
    call = Message.assistant("", tool_calls=(ToolCall("call_1", "lookup_order", '{"order_id": "A-17"}'),))
    assert counter.message(call) == plain + OPENAI.per_tool_call_tokens + counter.count("lookup_order") \
        + counter.count('{"order_id": "A-17"}')
    result = Message.tool('{"status": "shipped"}', tool_call_id="call_1")
    assert counter.message(result) == OPENAI.per_message_tokens + counter.count("tool") \
        + counter.count('{"status": "shipped"}') + OPENAI.per_tool_result_tokens


def test_image_parts_use_the_models_image_rule() -> None:
    counter = TokenCounter.for_model("gpt-4o")
    part = ImagePart("https://example.invalid/cat.png", "high", 1024, 1024)
    msg = Message.user((TextPart("What is this?"), part))
    assert counter.message(msg) == 3 + counter.count("user") + counter.count("What is this?") + 765
    assert counter.image(part, model="gpt-4o-mini") == 2833 + 4 * 5667


@pytest.mark.parametrize(("name", "framing"), [("openai", OPENAI), ("anthropic", ANTHROPIC), ("google", GOOGLE),
                                               ("claude-sonnet-4-5", ANTHROPIC), ("gemini-2.5-flash", GOOGLE)])
def test_framing_for_providers_and_models(name: str, framing) -> None:
    assert framing_for(name).name == framing.name


def test_only_documented_framings_claim_exactness() -> None:
    assert framing_for("gpt-4o").exact
    assert not framing_for("anthropic").exact and not framing_for("google").exact
    assert not framing_for("generic").exact


def test_anthropic_tools_include_the_documented_tool_system_prompt() -> None:
    counter = TokenCounter("claude", "anthropic")
    assert counter.tools([Tool("t", "d")]) > 346
    assert counter.tools([]) == 0


TEMPLATE_MESSAGES = [Message.system("Be brief."), Message.user("Hello there, what is 2+2?"),
                     Message.assistant("4."), Message.user("And 3 * 7?")]


def test_llama3_framing_equals_the_rendered_chat_template() -> None:
    quicktok = need("quicktok", "the exact Llama 3 vocabulary")
    enc = quicktok.get_encoding("llama3")
    rendered = "<|begin_of_text|>" + "".join(
        f"<|start_header_id|>{m.role}<|end_header_id|>\n\n{m.text}<|eot_id|>" for m in TEMPLATE_MESSAGES
    ) + "<|start_header_id|>assistant<|end_header_id|>\n\n"
    counter = TokenCounter("llama3")
    assert counter.framing.name == "llama3"
    assert counter.messages(TEMPLATE_MESSAGES) == len(enc.encode_with_special(rendered))


def test_chatml_framing_equals_the_rendered_qwen_template() -> None:
    quicktok = need("quicktok", "the exact Qwen vocabulary")
    enc = quicktok.get_encoding("qwen3")
    rendered = "".join(f"<|im_start|>{m.role}\n{m.text}<|im_end|>\n" for m in TEMPLATE_MESSAGES)
    rendered += "<|im_start|>assistant\n"
    counter = TokenCounter.for_model("qwen2.5-72b-instruct")
    assert counter.framing.name == "chatml"
    assert counter.messages(TEMPLATE_MESSAGES) == len(enc.encode_with_special(rendered))


def test_anthropic_estimate_brackets_a_published_count_tokens_figure() -> None:
    # Anthropic's count_tokens endpoint returns 10 input tokens for one user message "Hello, world" (as shown in
    # the claude-token-count package's README). Estimates should err high, but not by much.
    counted = TokenCounter.for_model("claude-sonnet-4-5").messages([Message.user("Hello, world")])
    assert 10 <= counted <= 13
