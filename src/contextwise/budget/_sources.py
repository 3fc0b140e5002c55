"""What sources hand the engine: documents, memories and messages in the formats users have, as Items.

Every conversion happens here, once, at the edge.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from collections.abc import Iterable

from contextwise.budget.section import Item, texts_to_items
from contextwise.errors import UsageError
from contextwise.types import Chunk, Message, as_messages


def to_messages(value: Any) -> list[Message]:
    """Messages from `Message`s, OpenAI or Anthropic dicts or SDK message objects (a lone one is one message)."""
    return as_messages(value)


def document_items(docs: Any, style: Any) -> tuple[Item, ...]:
    """Items from Ranked results (score = priority, chunk id = label), Chunks, strings or Items, best first.
    Unranked items without priorities are kept first in the order given.

    Text that reads as a citation marker in `style` ("[3]" footnotes) is neutralised, so the model cannot
    cite a marker the context never defined.
    """
    if isinstance(docs, (str, Chunk, Item)) or _is_ranked(docs):
        docs = [docs]
    if not isinstance(docs, Iterable):
        raise UsageError(f"documents are Ranked results, Chunks, strings or Items, got {type(docs).__name__}")
    listed = list(docs)
    # Without scores or priorities, the order given is the rank: earlier documents are kept first.
    in_order = not any(_is_ranked(d) or isinstance(d, Item) and d.priority for d in listed)
    items: list[Item] = []
    for n, doc in enumerate(listed):
        rank = float(len(listed) - n) if in_order else 0.0
        if _is_ranked(doc):
            items.append(_chunk_item(doc.chunk, float(doc.score), style, doc.chunk.id))
        elif isinstance(doc, Chunk):
            items.append(_chunk_item(doc, rank, style, doc.id))
        elif isinstance(doc, Item):
            text = doc.text if doc.is_messages else style.neutralize(doc.text)
            same = text == doc.text and not in_order
            items.append(doc if same else Item(text, rank or doc.priority, doc.label, doc.origin))
        elif isinstance(doc, str):
            items.append(Item(style.neutralize(doc), rank))
        else:
            raise UsageError(f"document {n}: expected a Ranked result, Chunk, str or Item, got "
                             f"{type(doc).__name__}")
    _unique_chunks(items)
    return tuple(items)


def _is_ranked(value: object) -> bool:
    return type(value).__name__ == "Ranked" and hasattr(value, "chunk") and hasattr(value, "score")


def _chunk_item(chunk: Chunk, priority: float, style: Any, label: str) -> Item:
    """The chunk as an item: its text neutralised (same length, so offsets hold), the chunk kept as origin."""
    text = style.neutralize(chunk.text)
    if text != chunk.text:
        chunk = replace(chunk, text=text)
    return Item(text, priority, label, chunk)


def _unique_chunks(items: list[Item]) -> None:
    seen: set[str] = set()
    for item in items:
        if isinstance(item.origin, Chunk):
            if item.origin.id in seen:
                raise UsageError(f"chunk id {item.origin.id!r} appears twice; give every chunk a unique id")
            seen.add(item.origin.id)


def memory_items(source: Any) -> tuple[Item, ...]:
    """Items from a Recalled result, MemoryItems, strings or Items, most relevant first."""
    from contextwise.memory._base import MemoryItem, Recalled

    if isinstance(source, Recalled):
        source = source.items
    if isinstance(source, (str, Item, MemoryItem)):
        source = [source]
    if not isinstance(source, Iterable):
        raise UsageError(f"memory is a UnifiedMemory (with query=), a Recalled, MemoryItems or strings, got "
                         f"{type(source).__name__}")
    listed = list(source)
    if listed and all(isinstance(m, MemoryItem) for m in listed):
        return tuple(Item(m.text, float(len(listed) - n) + m.score, m.id, m) for n, m in enumerate(listed))
    if any(isinstance(m, MemoryItem) for m in listed):
        listed = [Item(m.text, 0.0, m.id, m) if isinstance(m, MemoryItem) else m for m in listed]
    return texts_to_items(listed)
