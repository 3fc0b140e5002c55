"""History windowing at scale: add a turn, then build the context for an 8k-token window, every turn.

contextwise (TokenBased; SlidingWindow with overlap) against LangChain `trim_messages` with a tiktoken counter
and LlamaIndex `Memory` with a tiktoken tokenizer, on the same deterministic synthetic conversation, the same
o200k_base tokenizer, in the same process. "Over budget" counts the turns whose context, framed the way OpenAI
bills a request (3 tokens a message, tool calls, reply priming), is larger than the window.

LangChain recounts the whole history on every call, so its time per turn grows with the conversation; when it
runs on a prefix (--peer-turns), its total for all turns is extrapolated from a straight-line fit of time per
turn against turn number, and labelled as such.

    python benchmarks/bench_history.py                       # 5,000 turns, peers on the first 1,000
    python benchmarks/bench_history.py --turns 500 --peer-turns 500
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from typing import Any
from collections.abc import Sequence

from contextwise.history import Conversation, SlidingWindow, TokenBased
from contextwise.tokens import TiktokenTokenizer, TokenCounter, quicktok_available
from contextwise.types import Message, ToolCall

WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one had by word "
    "but not what all were we when your can said there use an each which she do how their if will up other about "
    "out many then them these so some her would make like him into time has look two more write go see number no "
    "way could people my than first water been call who oil its now find long down day did get come made may "
    "part over new sound take only little work know place year live me back give most very after thing our just "
    "name good sentence man think say great where help through much before line right too mean old any same tell "
    "boy follow came want show also around form three small set put end does another well large must big even "
    "such because turn here why ask went men read need land different home us move try kind hand picture again "
    "change off play spell air away animal house point page letter mother answer found study still learn should "
    "Paris Lisbon invoice Tuesday 2024 42 3.5% budget deploy server database query index latency cache ticket"
).split()


def sentence(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return body[:1].upper() + body[1:] + rng.choice(".....?!")


def paragraph(rng: random.Random, mean_words: float, cap_words: int) -> str:
    """Text whose length follows a log-normal around `mean_words` (chat messages are skewed that way)."""
    total = max(3, min(cap_words, int(rng.lognormvariate(math.log(mean_words), 0.7))))
    out, left = [], total
    while left > 0:
        n = min(left, rng.randint(6, 22))
        out.append(sentence(rng, n))
        left -= n
    return " ".join(out)


def synthetic_turns(turns: int, seed: int = 7) -> list[list[Message]]:
    """Deterministic turns: a user message, sometimes a tool call with its result, an assistant reply."""
    rng = random.Random(seed)
    out = []
    for turn in range(turns):
        msgs = [Message.user(paragraph(rng, 45, 600))]
        if turn % 7 == 3:
            call = ToolCall(f"call_{turn}", "search_docs", json.dumps({"query": paragraph(rng, 6, 12)}))
            msgs += [Message.assistant(tool_calls=(call,)),
                     Message.tool(paragraph(rng, 180, 900), tool_call_id=call.id)]
        msgs.append(Message.assistant(paragraph(rng, 140, 900)))
        out.append(msgs)
    return out


SYSTEM = Message.system("You are a concise, accurate assistant for the operations team. Cite tickets by number.")


class Run:
    """Timings and checks for one library."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds: list[float] = []
        self.over_budget = 0
        self.split_pairs = 0
        self.tokens: list[int] = []

    def record(self, seconds: float, context: Sequence[Message], billing: TokenCounter, window: int) -> None:
        self.seconds.append(seconds)
        framed = billing.messages(context)
        self.tokens.append(framed)
        self.over_budget += framed > window
        self.split_pairs += not pairs_whole(context)

    @property
    def total_s(self) -> float:
        return sum(self.seconds)

    def extrapolated_total_s(self, turns: int) -> float:
        """Total for `turns` turns from a least-squares line of seconds per turn against turn number."""
        n = len(self.seconds)
        if n >= turns:
            return self.total_s
        xs = range(n)
        mean_x, mean_y = (n - 1) / 2, statistics.fmean(self.seconds)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, self.seconds)) / \
            sum((x - mean_x) ** 2 for x in xs)
        return self.total_s + sum(mean_y + slope * (x - mean_x) for x in range(n, turns))


def pairs_whole(context: Sequence[Message]) -> bool:
    """Every tool message follows its call in the context, and every call has its result."""
    open_ids: set[str] = set()
    for m in context:
        if m.tool_calls:
            if open_ids:
                return False
            open_ids = {c.id for c in m.tool_calls}
        elif m.role == "tool":
            if m.tool_call_id not in open_ids:
                return False
            open_ids.discard(m.tool_call_id)
        elif open_ids:
            return False
    return not open_ids


def run_contextwise(name: str, manager: Any, turns: list[list[Message]], counter: TokenCounter,
                    billing: TokenCounter, window: int) -> Run:
    run = Run(name)
    chat = Conversation(manager, counter=counter)
    chat.add(SYSTEM)
    for turn in turns:
        start = time.perf_counter()
        chat.extend(turn)
        context = chat.context(window)
        run.record(time.perf_counter() - start, context, billing, window)
    return run


def run_langchain(turns: list[list[Message]], encoding: Any, billing: TokenCounter, window: int) -> Run:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage, trim_messages

    def to_lc(m: Message) -> Any:
        if m.role == "system":
            return SystemMessage(m.text)
        if m.role == "user":
            return HumanMessage(m.text)
        if m.role == "tool":
            return ToolMessage(m.text, tool_call_id=m.tool_call_id)
        calls = [{"id": c.id, "name": c.name, "args": json.loads(c.arguments)} for c in m.tool_calls]
        return AIMessage(m.text, tool_calls=calls)

    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}

    def tiktoken_counter(messages: list[Any]) -> int:
        # LangChain's documented tiktoken counter: 3 a message plus role and content, 3 for the reply.
        total = 3
        for m in messages:
            total += 3 + len(encoding.encode(roles[m.type])) + len(encoding.encode(m.content))
            if m.name:
                total += 1 + len(encoding.encode(m.name))
        return total

    back: dict[int, Message] = {}
    history = [to_lc(SYSTEM)]
    back[id(history[0])] = SYSTEM
    lc_turns = []
    for turn in turns:
        converted = [to_lc(m) for m in turn]
        back.update({id(c): m for c, m in zip(converted, turn)})
        lc_turns.append(converted)
    run = Run("LangChain trim_messages")
    for converted in lc_turns:
        start = time.perf_counter()
        history.extend(converted)
        context = trim_messages(history, max_tokens=window, token_counter=tiktoken_counter, strategy="last",
                                include_system=True, start_on="human", allow_partial=False)
        run.record(time.perf_counter() - start, [back[id(m)] for m in context], billing, window)
    return run


def run_llamaindex(turns: list[list[Message]], encoding: Any, billing: TokenCounter, window: int) -> Run:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.core.memory import Memory

    def to_li(m: Message) -> Any:
        extra: dict[str, Any] = {}
        if m.tool_calls:
            extra["tool_calls"] = [{"id": c.id, "type": "function",
                                    "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
        if m.tool_call_id:
            extra["tool_call_id"] = m.tool_call_id
        return ChatMessage(role=m.role, content=m.text, additional_kwargs=extra)

    def from_li(m: Any) -> Message:
        extra = m.additional_kwargs
        calls = tuple(ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
                      for c in extra.get("tool_calls", ()))
        role = m.role.value if hasattr(m.role, "value") else str(m.role)
        return Message(role, m.content or "", tool_calls=calls, tool_call_id=extra.get("tool_call_id"))

    # The system prompt stays outside the memory (a memory would flush it); the window leaves room for it.
    memory = Memory.from_defaults(session_id="bench", token_limit=window - billing.messages([SYSTEM]),
                                  tokenizer_fn=encoding.encode, chat_history_token_ratio=1.0,
                                  token_flush_size=int(window * 0.1))
    li_turns = [[to_li(m) for m in turn] for turn in turns]
    run = Run("LlamaIndex Memory")
    for converted in li_turns:
        start = time.perf_counter()
        memory.put_messages(converted)
        context = memory.get()
        elapsed = time.perf_counter() - start
        run.record(elapsed, [SYSTEM, *(from_li(m) for m in context)], billing, window)
    return run


def row(run: Run, base: Run, turns: int) -> str:
    ran = len(run.seconds)
    total = run.extrapolated_total_s(turns)
    label = f"{total:9.2f} s" + (f" (extrapolated from {ran} turns)" if ran < turns else "")
    p50_ms = statistics.median(run.seconds) * 1e3
    return (f"{run.name:38s} total {label:44s} p50/turn {p50_ms:9.3f} ms  x{total / base.total_s:8.1f}  "
            f"over budget {run.over_budget}/{ran}  split tool pairs {run.split_pairs}/{ran}  "
            f"mean context {statistics.fmean(run.tokens):6.0f} tok")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=5000)
    parser.add_argument("--window", type=int, default=8000)
    parser.add_argument("--peer-turns", type=int, default=1000, help="turns the LangChain peer runs")
    parser.add_argument("--llamaindex-turns", type=int, default=None, help="default: all turns")
    parser.add_argument("--skip", default="", help="comma list: langchain,llamaindex")
    args = parser.parse_args(argv)
    turns = synthetic_turns(args.turns)
    tokenizer = TiktokenTokenizer.for_encoding("o200k_base")
    billing = TokenCounter(tokenizer, "openai")
    per_turn = statistics.fmean(billing.messages(t) - 3 for t in turns)
    print(f"{args.turns} turns, {sum(map(len, turns))} messages, {per_turn:.0f} framed tokens a turn on average, "
          f"window {args.window}, tokenizer o200k_base (tiktoken) for every library")
    window = args.window
    runs = [run_contextwise("contextwise TokenBased", TokenBased(), turns, TokenCounter(tokenizer, "openai"),
                            billing, window),
            run_contextwise("contextwise SlidingWindow(overlap 2k)", SlidingWindow(overlap_tokens=2000), turns,
                            TokenCounter(tokenizer, "openai"), billing, window)]
    if quicktok_available():  # the default back-end: same o200k_base ids, faster encoder
        runs.append(run_contextwise("contextwise TokenBased, quicktok", TokenBased(), turns,
                                    TokenCounter("o200k_base", "openai"), billing, window))
    encoding = tokenizer._enc
    skip = set(filter(None, args.skip.split(",")))
    if "llamaindex" not in skip:
        runs.append(run_llamaindex(turns[:args.llamaindex_turns or args.turns], encoding, billing, window))
    if "langchain" not in skip:
        runs.append(run_langchain(turns[:args.peer_turns], encoding, billing, window))
    for run in runs:
        print(row(run, runs[0], args.turns))
    print_readme_row(runs, args)


def print_readme_row(runs: list[Run], args: argparse.Namespace) -> None:
    base = runs[0]

    def cell(run: Run) -> str:
        total = run.extrapolated_total_s(args.turns)
        star = "*" if len(run.seconds) < args.turns else ""
        return (f"{run.name} {total:,.2f} s{star} (x{total / base.total_s:,.0f}), "
                f"{run.over_budget}/{len(run.seconds)} turns over budget")

    ours = [r for r in runs if r.name.startswith("contextwise")]
    peers = [r for r in runs if r not in ours]
    fast = "".join(f"; {r.name.split(', ')[-1]} back-end {r.total_s:.2f} s" for r in ours if ", " in r.name)
    print(f"README row: | history: add a turn + get the {args.window:,}-token context, {args.turns:,} turns | "
          f"{cell(base)}{fast} | {'; '.join(cell(r) for r in peers)} | "
          f"`python benchmarks/bench_history.py --turns {args.turns} --peer-turns {args.peer_turns}` |"
          + (" *extrapolated from the first turns run" if any(len(r.seconds) < args.turns for r in runs) else ""))


if __name__ == "__main__":
    main()
