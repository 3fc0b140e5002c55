"""Section markers and source headers: how a text section and its items are written into the prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from xml.sax.saxutils import quoteattr


class Markers(Protocol):
    """Writes a section's opening and closing lines and each item's header."""

    name: str

    def open(self, title: str) -> str: ...

    def close(self, title: str) -> str: ...

    def item(self, text: str, label: str, index: int) -> str: ...


@dataclass(frozen=True)
class Markdown:
    """`## Title` above the section; `[n] label` above each labelled item; a blank line between items."""

    name: str = "markdown"

    def open(self, title: str) -> str:
        return f"## {title}\n\n" if title else ""

    def close(self, title: str) -> str:
        return ""

    def item(self, text: str, label: str, index: int) -> str:
        return f"[{index}] {label}\n{text}\n\n" if label else f"{text}\n\n"


@dataclass(frozen=True)
class Xml:
    """`<title>…</title>` around the section and `<item index="n" source="label">…</item>` around each item (the
    layout Anthropic recommends for long documents)."""

    name: str = "xml"

    def open(self, title: str) -> str:
        return f"<{_tag(title)}>\n" if title else ""

    def close(self, title: str) -> str:
        return f"</{_tag(title)}>\n" if title else ""

    def item(self, text: str, label: str, index: int) -> str:
        source = f" source={quoteattr(label)}" if label else ""
        return f'<item index="{index}"{source}>\n{text}\n</item>\n'


@dataclass(frozen=True)
class Plain:
    """No markers: items separated by a blank line."""

    name: str = "plain"

    def open(self, title: str) -> str:
        return ""

    def close(self, title: str) -> str:
        return ""

    def item(self, text: str, label: str, index: int) -> str:
        return f"{text}\n\n"


def _tag(title: str) -> str:
    tag = "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")
    return tag or "section"
