"""Section markers and source headers: how a text section and its items are written into the prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from xml.sax.saxutils import quoteattr


class Markers(Protocol):
    """Writes a section's opening and closing lines and each item with its header and citation marker.

    `header` names the item in the prompt ("" for none); `marker` is its citation marker ("[3]"; "" for an item
    that is not cited)."""

    name: str

    def open(self, title: str) -> str: ...

    def close(self, title: str) -> str: ...

    def item(self, text: str, header: str, marker: str) -> str: ...


@dataclass(frozen=True)
class Markdown:
    """`## Title` above the section; `[n] header` above each item; a blank line between items.

    >>> Markdown().item("Paris is in France.", "geo.md", "[1]").splitlines()
    ['[1] geo.md', 'Paris is in France.', '']
    """

    name: str = "markdown"

    def open(self, title: str) -> str:
        return f"## {title}\n\n" if title else ""

    def close(self, title: str) -> str:
        return ""

    def item(self, text: str, header: str, marker: str) -> str:
        head = " ".join(p for p in (marker, header) if p)
        if not head:
            return f"{text}\n\n"
        return f"{head}\n{text}\n\n" if header else f"{head} {text}\n\n"


@dataclass(frozen=True)
class Xml:
    """`<title>…</title>` around the section and `<item marker="[n]" source="header">…</item>` around each item
    (the layout Anthropic recommends for long documents)."""

    name: str = "xml"

    def open(self, title: str) -> str:
        return f"<{_tag(title)}>\n" if title else ""

    def close(self, title: str) -> str:
        return f"</{_tag(title)}>\n" if title else ""

    def item(self, text: str, header: str, marker: str) -> str:
        cite = f" marker={quoteattr(marker)}" if marker else ""
        source = f" source={quoteattr(header)}" if header else ""
        return f"<item{cite}{source}>\n{text}\n</item>\n"


@dataclass(frozen=True)
class Plain:
    """No headers: items separated by a blank line (a cited item keeps its marker in front)."""

    name: str = "plain"

    def open(self, title: str) -> str:
        return ""

    def close(self, title: str) -> str:
        return ""

    def item(self, text: str, header: str, marker: str) -> str:
        return f"{marker} {text}\n\n" if marker else f"{text}\n\n"


def _tag(title: str) -> str:
    tag = "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")
    return tag or "section"
