"""Built: what a build sends (messages, tools), how it was chosen (Report), what its markers cite, and the two
wire formats it leaves in, through one canonical serialiser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from contextwise._wire import canonical
from contextwise.budget.report import Report
from contextwise.types import Citation, Message, Tool

if TYPE_CHECKING:
    from contextwise.cache import PromptCachePlan
    from contextwise.documents import CitationCheck, CitationStyle


@dataclass(frozen=True)
class Built:
    """A built context: the messages and tools to send, the Report of how they were chosen, and what every
    citation marker in the prompt refers to.

    Attributes:
        citations: marker ("[1]") to Citation (chunk id, source, title and the span of the text kept).
    """

    messages: tuple[Message, ...]
    tools: tuple[Tool, ...]
    report: Report
    citations: Mapping[str, Citation] = field(default_factory=lambda: MappingProxyType({}))
    citation_style: CitationStyle | None = None

    def check(self, answer: str, *, splitter: Any = None) -> CitationCheck:
        """Parse and validate the citations in an answer written from this context: unknown markers are
        reported, every sentence carries the citations it made (`uncited_claims` lists those with none)."""
        from contextwise.documents import parse_citations

        return parse_citations(answer, dict(self.citations), style=self.citation_style, splitter=splitter)

    def to_openai(self) -> dict[str, Any]:
        """The request body's `messages` (and `tools`, when there are any) in OpenAI chat-completions format:
        `client.chat.completions.create(model=..., **built.to_openai())`."""
        body: dict[str, Any] = {"messages": [m.to_openai() for m in self.messages]}
        if self.tools:
            body["tools"] = [t.to_openai() for t in self.tools]
        return canonical(body)  # type: ignore[no-any-return]

    def to_anthropic(self, *, ttl: str = "5m", prompt_cache: PromptCachePlan | None = None,
                     previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """`system`, `messages` (and `tools`) in Anthropic messages-API format, with `cache_control`
        breakpoints where the Report's CachePlan puts them and tool results as `tool_result` blocks:
        `client.messages.create(model=..., max_tokens=..., **built.to_anthropic())`.

        `prompt_cache`, a plan from `contextwise.cache.plan_prompt_cache`, places its markers and lifetimes instead
        (`previous`: the session's last body, for its history anchor).

        Raises:
            UsageError: no user or assistant message, or a tool call whose arguments are not JSON.
        """
        from contextwise.llm._anthropic import CacheBreakpoints, _conversation, _system_blocks

        plan = self.report.cache_plan
        cache = CacheBreakpoints.from_plan(plan, ttl=ttl) if plan is not None and plan.breakpoints else None  # type: ignore[arg-type]
        marks = cache.message_indices(len(self.messages)) if cache else frozenset()
        body: dict[str, Any] = {}
        system = _system_blocks(self.messages, marks, cache)
        if system:
            body["system"] = system
        body["messages"] = _conversation(self.messages, marks, cache)
        if self.tools:
            body["tools"] = [{"name": t.name, "description": t.description,
                              "input_schema": dict(t.parameters) or {"type": "object", "properties": {}}}
                             for t in self.tools]
        if prompt_cache is not None:
            body = prompt_cache.mark(body, previous=previous)
        return canonical(body)  # type: ignore[no-any-return]
