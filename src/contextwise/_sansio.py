"""The one sans-I/O shape of every orchestrator that needs a model (summaries, history managers, fact learning).

A job is pure: `plan()` says which call would help next (a request with `messages`, `max_output_tokens` and
`options`, or None when the job is done) and `apply(request, answer)` folds the answer in. Two short drivers,
`run` and `arun`, call the model; the job never does. A job may also ask for a step that is not a model call
(fact learning asks the memory for similar facts): the drivers hand those to `answer_other`.

>>> from contextwise.testing import ScriptedChatModel
>>> from contextwise.types import Message
>>> class Echo:
...     def __init__(self): self.answers = []
...     def plan(self):
...         return None if self.answers else Ask((Message.user("hi"),), 5, None)
...     def apply(self, request, answer): self.answers.append(answer.text)
>>> job = Echo(); run(job, ScriptedChatModel(["hello"]))
1
>>> job.answers
['hello']
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from contextwise.errors import UsageError
from contextwise.protocols import AsyncChatModel, ChatModel
from contextwise.types import ChatOptions, Message


@runtime_checkable
class ModelRequest(Protocol):
    """A model call a job asks for: send `messages` with `max_output_tokens` and `options`."""

    @property
    def messages(self) -> tuple[Message, ...]: ...

    @property
    def max_output_tokens(self) -> int | None: ...

    @property
    def options(self) -> ChatOptions | None: ...


@dataclass(frozen=True)
class Ask:
    """The plainest ModelRequest."""

    messages: tuple[Message, ...]
    max_output_tokens: int | None = None
    options: ChatOptions | None = None


class ModelJob(Protocol):
    """A pure orchestration: `plan` the next request (None when done), `apply` its answer."""

    def plan(self) -> Any: ...

    def apply(self, request: Any, answer: Any) -> None: ...


def run(job: ModelJob, model: ChatModel, *, max_requests: int | None = None,
        answer_other: Callable[[Any], Any] | None = None) -> int:
    """Drive `job` with a sync model until it plans nothing (or `max_requests` model calls); the calls made."""
    calls = 0
    while (max_requests is None or calls < max_requests) and (request := job.plan()) is not None:
        if isinstance(request, ModelRequest):
            job.apply(request, model.complete(list(request.messages), request.max_output_tokens, request.options))
            calls += 1
        else:
            job.apply(request, _other(answer_other, request))
    return calls


async def arun(job: ModelJob, model: AsyncChatModel, *, max_requests: int | None = None,
               answer_other: Callable[[Any], Awaitable[Any]] | None = None) -> int:
    """The async twin of `run`: awaits the model (and `answer_other`); starts no task and no thread."""
    calls = 0
    while (max_requests is None or calls < max_requests) and (request := job.plan()) is not None:
        if isinstance(request, ModelRequest):
            answer = await model.complete(list(request.messages), request.max_output_tokens, request.options)
            job.apply(request, answer)
            calls += 1
        else:
            job.apply(request, await _other(answer_other, request))
    return calls


def _other(answer_other: Callable[[Any], Any] | None, request: Any) -> Any:
    if answer_other is None:
        raise UsageError(f"the job asks for a {type(request).__name__}, which is not a model call; pass "
                         "answer_other= to answer it")
    return answer_other(request)
