"""Preflight (overflow caught before sending), silent truncation after, and calibration of estimated counts,
against a real OpenAI-compatible server on 127.0.0.1 that counts and truncates like Ollama."""

from __future__ import annotations

import warnings

import pytest
from support import serve_http

import contextwise as cw
from contextwise.errors import ContextLengthError, TruncationWarning, UsageError
from contextwise.llm import AnthropicChat, AsyncOpenAIChat, OpenAIChat
from contextwise.observe import Calibration, Preflight
from contextwise.types import Message, Usage

LONG = "The quick brown fox jumps over the lazy dog. " * 40  # about 400 tokens


def _history(turns: int) -> list[Message]:
    out = [Message.system("Be brief.")]
    for i in range(turns):
        out += [Message.user(f"Question {i}: {LONG}"), Message.assistant(f"Answer {i}.")]
    return out + [Message.user("And now?")]


def test_preflight_count_is_what_the_server_bills(counting_server):
    model = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        got = model.complete(_history(2))
    counted = model._check.count(_history(2))  # what preflight counted for this prompt
    assert counted.tokens == got.usage.input_tokens and not counted.estimate


def test_preflight_overflow_raises_with_the_numbers_and_sends_nothing(counting_server, events):
    model = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k",
                       preflight=Preflight(input_limit_tokens=500))
    with pytest.raises(ContextLengthError) as info:
        model.complete(_history(3))
    err = info.value
    assert err.available_tokens == 500 and err.needed_tokens > 500
    assert str(err.needed_tokens) in str(err) and "nothing was sent" in str(err)
    assert counting_server.requests == []
    (overflow,) = [e for e in events if e.kind == "context_overflow"]
    assert (overflow.counted_tokens, overflow.limit_tokens) == (err.needed_tokens, 500)


def test_preflight_catalog_limit_keeps_room_for_max_tokens(counting_server):
    limit = cw.get_model("gpt-4o").context_window_tokens
    model = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k")
    messages = _history(1)
    prompt = model._check.count(messages).tokens
    with pytest.raises(ContextLengthError):
        model.complete(messages, max_output_tokens=limit - prompt + 1)
    model.complete(messages, max_output_tokens=limit - prompt)
    assert len(counting_server.requests) == 1


def test_preflight_off_sends_anything(counting_server):
    model = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k", preflight=False)
    model.complete(_history(1), max_output_tokens=10**7)
    assert len(counting_server.requests) == 1


def test_preflight_settings_are_checked():
    with pytest.raises(UsageError):
        Preflight(input_limit_tokens=0)
    with pytest.raises(UsageError):
        Preflight(estimate_margin=1.5)
    with pytest.raises(UsageError):
        OpenAIChat("gpt-4o", base_url="http://127.0.0.1:9", preflight="yes")


def test_truncation_like_ollama_num_ctx_is_reported_with_both_numbers(counting_server, events):
    counting_server.framing, counting_server.num_ctx = "chatml", 1024
    model = OpenAIChat("llama3.2", base_url=counting_server.url, preflight=Preflight(tokenizer="o200k_base"))
    with pytest.warns(TruncationWarning, match="billed"):
        got = model.complete(_history(6))
    (event,) = [e for e in events if e.kind == "prompt_truncated"]
    assert event.returned_tokens == got.usage.input_tokens <= 1024
    assert event.counted_tokens > 2000 and event.lost_tokens == event.counted_tokens - event.returned_tokens
    call = [e for e in events if e.kind == "model_call"][-1]
    assert call.counted_input_tokens == event.counted_tokens


def test_truncation_not_reported_when_the_prompt_fits(counting_server, events):
    counting_server.framing, counting_server.num_ctx = "chatml", 8192
    model = OpenAIChat("llama3.2", base_url=counting_server.url, preflight=Preflight(tokenizer="o200k_base"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        model.complete(_history(6))
    assert not [e for e in events if e.kind == "prompt_truncated"]


@pytest.mark.anyio
async def test_truncation_async_twin_reports_it_too(counting_server, events):
    counting_server.framing, counting_server.num_ctx = "chatml", 1024
    model = AsyncOpenAIChat("llama3.2", base_url=counting_server.url, preflight=Preflight(tokenizer="o200k_base"))
    with pytest.warns(TruncationWarning):
        await model.complete(_history(6))
    await model.aclose()
    assert [e.kind for e in events].count("prompt_truncated") == 1



def test_calibration_learns_a_bounded_median():
    cal = Calibration(min_calls=3)
    for billed in (1100, 1080, 1120, 5000):  # one wild answer (a proxy) is clamped and outvoted
        cal.learn("claude-x", counted_tokens=1000, billed_tokens=billed)
    c = cal.correction("claude-x")
    assert c.calls == 4 and 1.09 <= c.ratio <= 1.2 and c.apply(1000) == pytest.approx(1000 * c.ratio, abs=1)
    assert "calibrated on 4 call(s)" in c.describe()
    assert cal.correction("never-seen") is None
    cal.learn("tiny", counted_tokens=5, billed_tokens=9)  # framing-dominated prompts teach nothing
    assert cal.correction("tiny") is None


def test_calibration_persists_in_sqlite(tmp_path):
    path = tmp_path / "cal.sqlite3"
    first = Calibration(path, window=4)
    for billed in (900, 910, 920, 930, 940, 950):
        first.learn("gemini-2.5-pro", counted_tokens=1000, billed_tokens=billed)
    first.close()
    again = Calibration(path, window=4)
    c = again.correction("gemini-2.5-pro")
    assert c.calls == 4 and c.ratio == pytest.approx(0.935)  # only the window's last four survive
    again.forget("gemini-2.5-pro")
    assert Calibration(path).correction("gemini-2.5-pro") is None


def test_calibration_user_data_dir_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTEXTWISE_DATA_DIR", str(tmp_path))
    cal = Calibration.user()
    assert cal.path == tmp_path / "calibration.sqlite3" and cal.path.exists()
    cal.close()


def _anthropic_answer(input_tokens: int) -> dict:
    return {"id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "OK"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": input_tokens, "output_tokens": 2}}


def test_calibration_from_anthropic_answers_reaches_preflight_and_the_report(fresh_calibration):
    """Claude's tokenizer is an estimate: the billed counts teach a ratio that preflight and the Report use."""
    import http.server
    import json

    estimate = None

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps(_anthropic_answer(int(estimate * 1.2))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serve_http(Handler) as url:
        model = AnthropicChat("claude-sonnet-4-5", base_url=url, api_key="k")
        messages = _history(2)
        estimate = model._check.count(messages).raw
        for _ in range(3):
            model.complete(messages)
    correction = fresh_calibration.correction("claude-sonnet-4-5")
    assert correction.calls == 3 and correction.ratio == pytest.approx(1.2, rel=0.01)
    assert model._check.count(messages).tokens == correction.apply(estimate)
    report = cw.Context("claude-sonnet-4-5").system("Be brief.").user("Hi").build().report
    assert not report.exact and any("calibrated on 3 call(s)" in w for w in report.warnings)


def test_preflight_estimated_counts_get_a_margin(fresh_calibration, counting_server):
    model = OpenAIChat("claude-sonnet-4-5", base_url=counting_server.url, api_key="k",
                       preflight=Preflight(input_limit_tokens=10_000, estimate_margin=0.5))
    messages = _history(1)
    raw = model._check.count(messages).raw
    assert model._check.count(messages).estimate  # Claude's tokenizer is an estimate
    tight = OpenAIChat("claude-sonnet-4-5", base_url=counting_server.url, api_key="k",
                       preflight=Preflight(input_limit_tokens=int(raw * 1.2), estimate_margin=0.3))
    with pytest.raises(ContextLengthError):
        tight.complete(messages)
    loose = OpenAIChat("claude-sonnet-4-5", base_url=counting_server.url, api_key="k",
                       preflight=Preflight(input_limit_tokens=int(raw * 1.2), estimate_margin=0.1))
    got = loose.complete(messages)
    assert len(counting_server.requests) == 1 and isinstance(got.usage, Usage)


def _filled(margin=cw.observe._preflight.DEFAULT_ESTIMATE_MARGIN, model="claude-sonnet-4-5"):
    """A context over a 3,000-token window filled past its limit with documents."""
    ctx = cw.Context(model, window_tokens=3000, output_reserve_tokens=500, estimate_margin=margin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)  # documents are dropped to fit
        return ctx, ctx.system("Be brief.").documents([f"{i}: {LONG[:180]}" for i in range(80)]).user("Hi").build()


def test_context_budgets_an_estimate_with_a_margin_that_preflight_accepts(fresh_calibration):
    ctx, built = _filled()
    report = built.report
    assert not report.exact and report.available_tokens == int((2500 - 2) / 1.05)
    assert report.prompt_tokens <= report.available_tokens and report.prompt_tokens > 0.97 * report.available_tokens
    assert any("5% margin (not calibrated yet)" in w and "of 2500 tokens" in w for w in report.warnings)
    check = Preflight(input_limit_tokens=2500).bind("claude-sonnet-4-5", "anthropic")
    check.before(built.messages, (), 0)  # within the limit with preflight's own margin: no ContextLengthError
    _, raw = _filled(margin=None)  # no margin: the budget is the limit, and preflight's margin refuses it
    assert raw.report.available_tokens == 2500 and any("no margin" in w for w in raw.report.warnings)
    with pytest.raises(ContextLengthError):
        check.before(raw.messages, (), 0)


def test_context_applies_the_calibrated_factor_and_says_so(fresh_calibration):
    for _ in range(3):
        fresh_calibration.learn("claude-sonnet-4-5", counted_tokens=1000, billed_tokens=1200)
    _, built = _filled()
    report = built.report
    assert report.available_tokens == int((2500 - 2) / (1.2 * 1.05))
    assert any("calibration x1.200" in w for w in report.warnings)
    assert any("calibrated on 3 call(s)" in w for w in report.warnings)
    check = Preflight(input_limit_tokens=2500).bind("claude-sonnet-4-5", "anthropic")
    counted = check.before(built.messages, (), 0)  # the calibrated count with its margin still fits
    assert counted.tokens == fresh_calibration.correction("claude-sonnet-4-5").apply(counted.raw)
    assert int(counted.tokens * 1.05 + 0.999) <= 2500


def test_context_margin_is_only_for_estimates_and_is_checked(fresh_calibration):
    _, exact = _filled(model="gpt-4o")
    assert exact.report.exact and exact.report.available_tokens == 2500
    assert not any("estimate" in w for w in exact.report.warnings)
    for bad in (1.0, -0.1, "5%", True):
        with pytest.raises(UsageError, match="estimate_margin"):
            cw.Context("gpt-4o", estimate_margin=bad)


def test_preflight_reuses_the_count_of_the_build_that_made_the_messages(counting_server, monkeypatch, events):
    built = cw.Context("gpt-4o", output_reserve_tokens=500).system("Be brief.").user(LONG).build()
    model = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k")
    counter = model._check.counter
    calls = []
    real = counter.messages
    monkeypatch.setattr(counter, "messages", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)  # the reused count is what the server bills
        got = model.complete(built.messages)
        model.complete([m.to_openai() for m in built.messages])  # equal messages, other objects: reused too
    assert calls == []
    (call, _) = [e for e in events if e.kind == "model_call"]
    assert call.counted_input_tokens == built.report.prompt_tokens == got.usage.input_tokens
    model.complete([*built.messages, Message.user("And now?")])  # not what was built: counted
    model.complete(built.messages, options=cw.ChatOptions(tools=(cw.Tool("f", "a tool"),)))  # other tools
    assert len(calls) == 2
    own = cw.Context("gpt-4o", tokenizer="o200k_base").system("Be brief.").user(LONG).build()
    model.complete(own.messages)  # built with another counter: its count is not taken on trust
    assert len(calls) == 3
