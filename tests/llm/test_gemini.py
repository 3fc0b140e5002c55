"""GeminiChat / AsyncGeminiChat against a real HTTP server on 127.0.0.1 speaking Gemini's generateContent REST
format; the official google-genai SDK, pointed at the same server, sends the same request for the same call."""

from __future__ import annotations

import asyncio
import json

import pytest
from support import need

from contextwise import observe
from contextwise.errors import ContextLengthError, ProviderError, RateLimitError, UsageError
from contextwise.llm import AsyncGeminiChat, GeminiChat, gemini_usage
from contextwise.observe import Calibration
from contextwise.types import ChatOptions, ImagePart, Message, TextPart, Tool, ToolCall, Usage

ASK = [Message.system("Be brief."), Message.user("Weather in Paris?")]
WEATHER = Tool("get_weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}})
USAGE = {"promptTokenCount": 1200, "candidatesTokenCount": 9, "totalTokenCount": 1239,
         "cachedContentTokenCount": 1024, "thoughtsTokenCount": 30}


def answer(*parts: dict, finish: str = "STOP", usage: dict | None = None) -> dict:
    """A GenerateContentResponse as Gemini sends it."""
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish, "index": 0}],
            "usageMetadata": usage or USAGE, "modelVersion": "gemini-2.5-flash-001", "responseId": "r1"}


def client(provider, cls=GeminiChat, **kw):
    return cls("gemini-2.5-flash", base_url=provider.url, api_key="g-key", **kw)


def test_gemini_request_is_the_generate_content_wire_format(provider):
    provider.json(answer({"text": "Thinking about Paris...", "thought": True}, {"text": "Sunny, 18C."}))
    options = ChatOptions(temperature=0.2, top_p=0.9, stop=("\n\n",), seed=7,
                          extra={"generationConfig": {"thinkingConfig": {"thinkingBudget": 64}}})
    got = client(provider).complete(ASK, max_output_tokens=100, options=options)
    (request,) = provider.requests
    assert request.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "g-key" and "authorization" not in request.headers
    assert request.body == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "generationConfig": {"maxOutputTokens": 100, "temperature": 0.2, "topP": 0.9, "seed": 7,
                             "stopSequences": ["\n\n"], "thinkingConfig": {"thinkingBudget": 64}},
    }
    assert got.text == "Sunny, 18C." and got.finish_reason == "stop" and got.model == "gemini-2.5-flash-001"
    assert got.usage == Usage(1200, 39, 1024, reasoning_tokens=30)  # thoughts are output; the cache is in input


def test_gemini_tools_calls_and_results_round_trip(provider):
    provider.json(answer({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}))
    provider.json(answer({"text": "Sunny."}))
    model = client(provider)
    first = model.complete(ASK, options=ChatOptions(tools=(WEATHER,), tool_choice="get_weather"))
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls == (ToolCall("call_0", "get_weather", '{"city": "Paris"}'),)
    history = [*ASK, first.to_message(), Message.tool('{"temp_c": 18}', tool_call_id="call_0"),
               Message.tool("sunny", tool_call_id="call_0")]
    model.complete(history, options=ChatOptions(tools=(WEATHER,), tool_choice="auto"))
    sent, again = (r.body for r in provider.requests)
    assert sent["tools"] == [{"functionDeclarations": [
        {"name": "get_weather", "description": "Current weather", "parametersJsonSchema": dict(WEATHER.parameters)}]}]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    assert again["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert again["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [  # both results in one user turn, each named after the call it answers
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}]}]


def test_gemini_images_json_schema_and_logprobs(provider):
    provider.json({**answer({"text": '{"colour": "red"}'}), "candidates": [{
        "content": {"role": "model", "parts": [{"text": '{"colour": "red"}'}]}, "finishReason": "MAX_TOKENS",
        "logprobsResult": {"chosenCandidates": [{"token": "{", "logProbability": -0.01}]}}]})
    picture = Message.user((TextPart("Colour?"), ImagePart("data:image/png;base64,iVBORw0K"),
                            ImagePart("https://example.org/cat.jpg?size=2")))
    got = client(provider, preflight=False).complete([picture], options=ChatOptions(
        json_schema={"type": "object", "properties": {"colour": {"type": "string"}}}, logprobs=True))
    body = provider.requests[0].body
    assert body["contents"][0]["parts"] == [
        {"text": "Colour?"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.org/cat.jpg?size=2"}}]
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["generationConfig"]["responseJsonSchema"]["properties"] == {"colour": {"type": "string"}}
    assert body["generationConfig"]["responseLogprobs"] is True
    assert got.finish_reason == "length" and got.logprobs[0].token == "{"


def test_gemini_stream_yields_deltas_then_the_completion_with_usage(provider):
    provider.sse([(None, {"candidates": [{"content": {"role": "model", "parts": [{"text": "Sun"}]}}],
                          "usageMetadata": {"promptTokenCount": 1200}}),
                  (None, {"candidates": [{"content": {"role": "model", "parts": [{"text": "ny."}]},
                                          "finishReason": "STOP"}], "usageMetadata": USAGE,
                          "modelVersion": "gemini-2.5-flash-001"})])
    items = list(client(provider).stream(ASK, max_output_tokens=20))
    assert items[:2] == ["Sun", "ny."]
    done = items[-1]
    assert done.text == "Sunny." and done.usage.input_tokens == 1200 and done.usage.cached_input_tokens == 1024
    assert done.usage.reasoning_tokens == 30 and done.finish_reason == "stop"
    assert provider.requests[0].path == "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def test_gemini_async_twin_sends_the_same_request(provider):
    provider.json(answer({"text": "A"}))
    provider.json(answer({"text": "A"}))
    client(provider).complete(ASK, 30)

    async def run():
        async with client(provider, AsyncGeminiChat) as model:
            return await model.complete(ASK, 30)

    got = asyncio.run(run())
    sync_body, async_body = (r.body for r in provider.requests)
    assert sync_body == async_body and got.text == "A"


def test_gemini_errors_map_to_the_error_tree(provider):
    provider.json({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "The input token count "
                             "(1200000) exceeds the maximum number of tokens allowed (1048576)."}}, status=400)
    provider.json({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded."}},
                  status=429)
    provider.json({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}})
    model = client(provider, preflight=False)
    with pytest.raises(ContextLengthError, match="exceeds the maximum number of tokens"):
        model.complete(ASK)
    with pytest.raises(RateLimitError):
        model.complete(ASK)
    with pytest.raises(ProviderError, match="blocked"):
        model.complete(ASK)
    with pytest.raises(UsageError, match="answers no earlier tool call"):
        model.complete([Message.user("x"), Message.tool("18C", tool_call_id="c9")])
    with pytest.raises(UsageError, match="api_version"):
        GeminiChat("gemini-2.5-flash", api_version="v1/extra")
    assert len(provider.requests) == 3


def test_gemini_calls_are_observed_and_teach_calibration(provider):
    previous = observe.use_calibration(Calibration())
    try:
        model = client(provider)
        messages = [Message.system("Be brief."), Message.user("Weather in Paris? " * 40)]
        counted = model._check.count(messages)
        assert counted.estimate  # Gemini's tokenizer is an estimate here
        for _ in range(3):
            provider.json(answer({"text": "Sunny."}, usage={"promptTokenCount": int(counted.raw * 1.1),
                                                           "candidatesTokenCount": 2}))
        seen = []
        with observe.subscribe(seen.append, kinds=observe.ModelCall):
            for _ in range(3):
                model.complete(messages)
        correction = observe.calibration().correction("gemini-2.5-flash")
        assert correction.calls == 3 and correction.ratio == pytest.approx(1.1, rel=0.01)
        assert [e.provider for e in seen] == ["gemini"] * 3
        assert seen[0].usage.input_tokens == int(counted.raw * 1.1) and seen[0].cost_usd > 0
    finally:
        observe.use_calibration(previous)


def test_gemini_usage_reads_dicts_and_sdk_objects_alike():
    raw = {"promptTokenCount": 100, "cachedContentTokenCount": 60, "candidatesTokenCount": 10,
           "thoughtsTokenCount": 5, "toolUsePromptTokenCount": 7}
    assert gemini_usage(raw) == Usage(107, 15, 60, reasoning_tokens=5)
    genai_types = need("google.genai.types", "the official google-genai SDK")
    sdk = genai_types.GenerateContentResponseUsageMetadata(
        prompt_token_count=100, cached_content_token_count=60, candidates_token_count=10, thoughts_token_count=5,
        tool_use_prompt_token_count=7)
    assert Usage.parse(sdk) == gemini_usage(raw)


def test_official_sdk_and_gemini_chat_send_the_same_request(provider):
    genai = need("google.genai", "the official google-genai SDK")
    types = need("google.genai.types", "the official google-genai SDK")
    reply = answer({"text": "Sunny."})
    provider.json(reply)
    provider.json(reply)
    sdk = genai.Client(api_key="g-key", http_options=types.HttpOptions(base_url=provider.url))
    sdk_answer = sdk.models.generate_content(
        model="gemini-2.5-flash", contents=[types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])],
        config=types.GenerateContentConfig(
            system_instruction="Be brief.", max_output_tokens=50, temperature=0.2, stop_sequences=["\n"],
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(
                name=WEATHER.name, description=WEATHER.description, parameters_json_schema=dict(WEATHER.parameters))])],
            tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=["get_weather"])),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)))
    ours = client(provider).complete(ASK, max_output_tokens=50, options=ChatOptions(
        temperature=0.2, stop=("\n",), tools=(WEATHER,), tool_choice="get_weather"))
    theirs, mine = provider.requests
    assert theirs.path == mine.path and theirs.headers["x-goog-api-key"] == mine.headers["x-goog-api-key"]
    a, b = _normalised(theirs.body), _normalised(mine.body)
    assert a == b, json.dumps([a, b], indent=1)
    assert sdk_answer.text == ours.text and Usage.parse(sdk_answer.usage_metadata) == ours.usage


def _normalised(body: dict) -> dict:
    """Field names as the proto JSON mapping reads them (snake_case and lowerCamelCase are the same field), and
    the system instruction's role, which Gemini ignores, left out."""
    def camel(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(w.title() for w in rest)

    def walk(value):
        if isinstance(value, dict):
            return {camel(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out = walk(body)
    out.get("systemInstruction", {}).pop("role", None)
    return out


def test_gemini_behind_the_response_cache_keys_its_wire_body(provider):
    from contextwise.cache import CachedChatModel, from_call

    provider.json(answer({"text": "Sunny."}))
    model = CachedChatModel(client(provider), "memory:", tenant="acme")
    zero = ChatOptions(temperature=0)
    first = model.complete_cached(ASK, options=zero)
    again = model.complete_cached(ASK, options=zero)
    assert (first.cached, again.cached, again.completion.text) == (False, True, "Sunny.")
    assert len(provider.requests) == 1
    unknown = model.lookup(ASK)  # no temperature given: Gemini's default is not assumed, so not cached
    assert unknown.reason.startswith("sampled")
    longer = from_call(client(provider), ASK, 64, zero, stream=False)
    assert longer.key("acme") != from_call(client(provider), ASK, None, zero, stream=False).key("acme")


def test_gemini_call_span_uses_the_genai_provider_name(provider):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(spans))
    provider.json(answer({"text": "Sunny."}))
    with observe.OtelExporter(tracer):
        client(provider, preflight=False).complete(ASK)
    (span,) = spans.get_finished_spans()
    attrs = dict(span.attributes)
    assert span.name == "chat gemini-2.5-flash" and attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.usage.input_tokens"] == 1200 and attrs["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 30 and attrs["gen_ai.response.model"] == \
        "gemini-2.5-flash-001"
    tracer.shutdown()
