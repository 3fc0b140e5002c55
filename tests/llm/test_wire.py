"""The I/O-free HTTP pieces: Retry-After parsing, the one error mapping, retry delays, SSE framing."""

from __future__ import annotations

import email.utils
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contextwise.errors import (
    AuthError, ContextLengthError, ProviderError, RateLimitError, UnavailableError, UsageError,
)
from contextwise.llm import Retry
from contextwise._wire import SSEDecoder, error_from_event, error_from_response, retry_after_s


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({}, None),
    ({"Retry-After": "soon"}, None),
], ids=["seconds", "lowercase-fraction", "ms-wins", "absent", "garbage"])
def test_retry_after_s_reads_the_header_forms(headers, expected):
    assert retry_after_s(headers) == expected


def test_retry_after_s_reads_an_http_date():
    now_s = 1_700_000_000.0
    header = email.utils.formatdate(now_s + 30, usegmt=True)
    assert retry_after_s({"Retry-After": header}, now_s=now_s) == pytest.approx(30.0)


# Error bodies as each server sends them.
CASES = [
    (429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
     RateLimitError),
    (400, {"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages "
                                "resulted in 9000 tokens.", "type": "invalid_request_error",
                     "code": "context_length_exceeded"}}, ContextLengthError),
    (400, {"object": "error", "message": "This model's maximum context length is 2048 tokens. However, you "
                                        "requested 2100 tokens", "type": "BadRequestError", "code": 400},
     ContextLengthError),
    (400, {"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it",
                     "type": "exceed_context_size_error"}}, ContextLengthError),
    (400, {"type": "error", "error": {"type": "invalid_request_error",
                                      "message": "prompt is too long: 208310 tokens > 200000 maximum"}},
     ContextLengthError),
    (400, {"error": {"message": "temperature must be at most 2", "type": "invalid_request_error"}}, ProviderError),
    (401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}, AuthError),
    (403, {"type": "error", "error": {"type": "permission_error", "message": "no access"}}, AuthError),
    (500, {"error": "internal"}, UnavailableError),
    (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, UnavailableError),
    (404, {"error": "model 'llama9' not found"}, ProviderError),
]


@pytest.mark.parametrize("status, body, kind", CASES, ids=[
    "openai-429", "openai-context", "vllm-context", "llamacpp-context", "anthropic-context", "bad-request",
    "openai-401", "anthropic-403", "500", "anthropic-529", "ollama-404"])
def test_error_from_response_maps_each_provider_body(status, body, kind):
    err = error_from_response(status, {}, json.dumps(body), backend="x")
    assert type(err) is kind
    assert err.status_code == status
    assert err.backend == "x"


def test_error_from_response_keeps_retry_after_and_message():
    err = error_from_response(429, {"Retry-After": "3"}, b'{"error": {"message": "slow down"}}', backend="x")
    assert err.retry_after == 3.0
    assert "slow down" in str(err)


def test_error_from_response_keeps_retry_after_on_an_overload():
    err = error_from_response(503, {"retry-after": "5"}, b"{}", backend="x")
    assert isinstance(err, UnavailableError) and err.retry_after == 5.0


def test_error_from_response_maps_anthropic_request_too_large():
    body = {"type": "error", "error": {"type": "request_too_large", "message": "Request exceeds the maximum size"}}
    assert type(error_from_response(413, {}, json.dumps(body), backend="x")) is ContextLengthError


@pytest.mark.parametrize("body", [b'"oops"', b"[1, 2]", b"null", b""], ids=["string", "list", "null", "empty"])
def test_error_from_response_survives_odd_json(body):
    assert type(error_from_response(400, {}, body, backend="x")) is ProviderError


def test_error_from_response_survives_a_non_json_body():
    err = error_from_response(502, {}, b"<html>Bad Gateway</html>", backend="x")
    assert isinstance(err, UnavailableError) and "Bad Gateway" in str(err)


@pytest.mark.parametrize("payload, kind", [
    ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, UnavailableError),
    ({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, RateLimitError),
    ({"error": {"message": "boom", "type": "server_error"}}, ProviderError),
], ids=["overloaded", "rate-limit", "other"])
def test_error_from_event_maps_in_stream_errors(payload, kind):
    assert type(error_from_event(payload, backend="x")) is kind


def test_retry_delay_doubles_and_stops_after_attempts():
    retry = Retry(attempts=3, base_delay_s=0.5, max_delay_s=10)
    err = UnavailableError("down")
    assert [retry.delay_s(n, err) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, None]


def test_retry_honours_retry_after_but_not_beyond_its_cap():
    retry = Retry(attempts=2, base_delay_s=0.1, max_delay_s=5)
    assert retry.delay_s(1, RateLimitError("x", retry_after=4.0)) == 4.0
    assert retry.delay_s(1, RateLimitError("x", retry_after=60.0)) is None


@pytest.mark.parametrize("error", [AuthError("x"), ContextLengthError("x"), ProviderError("x", status_code=400)],
                         ids=["auth", "context", "other"])
def test_retry_never_retries_errors_that_would_fail_again(error):
    assert Retry(attempts=5).delay_s(1, error) is None


@given(st.integers(1, 6), st.floats(0, 1))
def test_retry_delay_stays_within_its_bounds(number, jitter):
    retry = Retry(attempts=6, base_delay_s=0.2, max_delay_s=3.0, jitter=jitter)
    delay = retry.delay_s(number, UnavailableError("x"))
    assert delay is not None and min(0.2 * 2 ** (number - 1), 3.0) <= delay + 1e-9 and delay <= 3.0


def test_retry_rejects_nonsense():
    with pytest.raises(UsageError):
        Retry(attempts=-1)


_data = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30)


@given(st.lists(st.tuples(st.sampled_from(["", "message_start", "ping"]), st.lists(_data, min_size=1, max_size=3)),
                max_size=6))
def test_sse_decoder_returns_every_event_it_is_fed(events):
    wire = "".join((f"event: {name}\n" if name else "") + "".join(f"data: {d}\n" for d in data) + "\n"
                   for name, data in events)
    decoder = SSEDecoder()
    got = [e for line in wire.split("\n") for e in decoder.feed(line)] + list(decoder.flush())
    assert [(e.event, e.data) for e in got] == [(name, "\n".join(data)) for name, data in events]


def test_sse_decoder_skips_comments_and_flushes_an_unterminated_event():
    decoder = SSEDecoder()
    got = [e for line in [": keep-alive", "data: {\"a\": 1}"] for e in decoder.feed(line)]
    assert got == []
    assert [e.json() for e in decoder.flush()] == [{"a": 1}]
