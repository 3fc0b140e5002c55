"""Every part that needs a model is one sans-I/O shape: plan() -> request or None, apply(request, answer), and the
same two drivers (run / arun) call the model for all of them."""

from __future__ import annotations

import asyncio

import pytest

from contextwise import _sansio
from contextwise.compress import Summarizer, SummaryJob
from contextwise.errors import UsageError
from contextwise.history import Conversation, RollingSummary
from contextwise.memory import SemanticMemory
from contextwise.memory._base import MemoryBackend
from contextwise.testing import AsyncScriptedChatModel, FakeTokenizer, HashEmbedder, ScriptedChatModel
from contextwise.types import Message

LONG = " ".join(f"Item {i} weighs {i} grams and sits on shelf {i % 7}." for i in range(120))


def _conversation() -> Conversation:
    chat = Conversation(RollingSummary(keep_recent_tokens=60, step_tokens=60), store=None)
    for i in range(20):
        chat.extend([Message.user(f"question {i} about bikes and routes"), Message.assistant(f"answer {i} yes")])
    return chat


def _summary_job() -> SummaryJob:
    return Summarizer(chunk_tokens=200, read_ratio=None).start(LONG, 40, FakeTokenizer())


def test_sansio_every_model_request_has_the_one_shape():
    requests = [_conversation().plan(), _summary_job().plan()]
    assert all(isinstance(r, _sansio.ModelRequest) for r in requests)
    assert all(r.max_output_tokens and r.messages for r in requests)


def test_sansio_one_driver_runs_a_conversation_and_a_summary():
    chat = _conversation()
    model = ScriptedChatModel(["they asked about bikes"], repeat_last=True)
    calls = _sansio.run(chat, model, max_requests=5)
    assert calls == len(model.calls) and 1 <= calls <= 5
    assert any("they asked about bikes" in m.text for m in chat.context(400))

    job = _summary_job()
    model = ScriptedChatModel(["Items weigh grams by number."], repeat_last=True)
    calls = _sansio.run(job, model)
    assert job.result is not None and job.plan() is None
    assert calls == len(model.calls) > 1  # map-reduce: several chunks, then the reduce
    assert "Items weigh grams by number." in job.result.text and job.result.tokens <= 40


def test_sansio_async_driver_gives_what_the_sync_driver_gives():
    sync_job, async_job = _summary_job(), _summary_job()
    _sansio.run(sync_job, ScriptedChatModel(["All items weigh grams."], repeat_last=True))
    asyncio.run(_sansio.arun(async_job, AsyncScriptedChatModel(["All items weigh grams."], repeat_last=True)))
    assert async_job.result == sync_job.result


def test_sansio_summary_job_refuses_an_answer_it_did_not_ask_for():
    job = _summary_job()
    first = job.plan()
    assert first is not None and len(job.pending()) > 1
    model = ScriptedChatModel(["chunk gist"], repeat_last=True)
    job.apply(first, model.complete(list(first.messages)))
    with pytest.raises(UsageError, match="pending"):
        job.apply(first, model.complete(list(first.messages)))  # answered already
    assert job.plan() is not first


def test_sansio_acompress_sends_a_levels_requests_concurrently():
    in_flight, peak = 0, 0

    class Slow(AsyncScriptedChatModel):
        async def complete(self, messages, max_tokens=None, options=None):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().complete(messages, max_tokens, options)

    summarizer = Summarizer(chunk_tokens=200, read_ratio=None)
    levels = len(summarizer.plan(LONG, 40, FakeTokenizer()).requests)
    out = asyncio.run(summarizer.acompress(LONG, 40, FakeTokenizer(), model=Slow(["gist"], repeat_last=True)))
    assert out.tokens <= 40 and peak == levels > 1


def test_sansio_a_step_that_is_not_a_model_call_needs_an_answerer():
    memory = SemanticMemory(MemoryBackend("memory:", HashEmbedder(384), tenant="t"))
    job = memory.start("My name is Ada and I live in Paris.")
    with pytest.raises(UsageError, match="answer_other"):
        _sansio.run(job, ScriptedChatModel(["unused"]))
    learned = memory.learn("My name is Ada and I live in Paris.")
    assert learned.changes


def test_sansio_old_driver_names_warn_and_still_work():
    chat = _conversation()
    with pytest.warns(DeprecationWarning, match="run"):
        chat.summarize(ScriptedChatModel(["gist"], repeat_last=True), max_requests=1)
    request = _summary_job().plan()
    with pytest.warns(DeprecationWarning, match="max_output_tokens"):
        assert request.max_tokens == request.max_output_tokens
