"""Small deterministic requests and traces for the prompt-cache tests."""

from __future__ import annotations

import random
from typing import Any

from contextwise.cache import TraceCall

WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud lamp door".split()


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def tool(name: str, rng: random.Random) -> dict[str, Any]:
    return {"name": name, "description": words(rng, 40),
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}


def chat(turns: int, *, seed: int = 0, system_words: int = 1500, gap_s: float = 30.0,
         session: str = "s") -> list[TraceCall]:
    """One conversation (its turns drawn from `seed`): the same system prompt and two tools in every
    conversation, one user turn per call, `gap_s` apart."""
    fixed, rng = random.Random(1000), random.Random(seed)
    system, tools = words(fixed, system_words), [tool("lookup", fixed), tool("search", fixed)]
    history: list[dict[str, Any]] = []
    calls = []
    for turn in range(turns):
        history.append({"role": "user", "content": words(rng, 40)})
        calls.append(TraceCall(turn * gap_s, {"system": system, "tools": tools, "messages": list(history)},
                               session=session, tenant="t"))
        history.append({"role": "assistant", "content": words(rng, 80)})
    return calls


def agent(steps: int, results_per_step: int, *, seed: int = 0) -> list[TraceCall]:
    """One agent task: each step adds a tool call and `results_per_step` tool-result blocks."""
    rng = random.Random(seed)
    system = words(rng, 1500)
    history: list[dict[str, Any]] = [{"role": "user", "content": words(rng, 30)}]
    calls = []
    for step in range(steps):
        calls.append(TraceCall(step * 10.0, {"system": system, "messages": list(history)}, session="task"))
        ids = [f"c{step}_{k}" for k in range(results_per_step)]
        history.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": i, "name": "lookup", "input": {"q": words(rng, 3)}} for i in ids]})
        history.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": i, "content": words(rng, 30)} for i in ids]})
    return calls


def batch(count: int, *, seed: int = 0) -> list[TraceCall]:
    """Calls 5 s apart sharing instructions, each with its own long document."""
    rng = random.Random(seed)
    system = words(rng, 1500)
    return [TraceCall(i * 5.0, {"system": system, "messages": [{"role": "user", "content": words(rng, 1500)}]},
                      session=f"b{i}") for i in range(count)]
