"""What every exporter shares (attach with one call, detach cleanly), and the structured-log exporter."""

from __future__ import annotations

import json
import logging
from typing import Any

from contextwise.errors import UsageError
from contextwise.observe._bus import Subscription, subscribe
from contextwise.observe._events import Event, ModelCall


class Exporter:
    """An event callback that attaches to the bus with one call.

    Subclasses implement `export(event)`. `attach()` subscribes (and returns the exporter), `detach()`
    unsubscribes; `with exporter:` does both.
    """

    _subscription: Subscription | None = None

    def export(self, event: Event) -> None:
        """Record one event."""
        raise NotImplementedError

    def __call__(self, event: Event) -> None:
        self.export(event)

    @property
    def attached(self) -> bool:
        """Whether it receives events."""
        return self._subscription is not None and self._subscription.active

    def attach(self) -> Exporter:
        """Start receiving every event (attaching twice is harmless)."""
        if not self.attached:
            self._subscription = subscribe(self)
        return self

    def detach(self) -> None:
        """Stop receiving events."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def __enter__(self) -> Exporter:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()


def content_of(event: ModelCall) -> dict[str, Any]:
    """The messages sent and the text received, for exporters asked to capture content."""
    messages = [m.to_openai() if hasattr(m, "to_openai") else m for m in event.messages]
    return {"input_messages": messages, "output_text": event.output_text}


class LogExporter(Exporter):
    """Every event as one JSON line on a stdlib logger ("contextwise.events" by default).

    Message content is never logged unless `capture_content=True`.

    >>> import logging
    >>> exporter = LogExporter(level=logging.DEBUG).attach()
    >>> exporter.detach()
    """

    def __init__(self, logger: logging.Logger | str = "contextwise.events", *, level: int = logging.INFO,
                 capture_content: bool = False) -> None:
        if not isinstance(logger, (logging.Logger, str)):
            raise UsageError(f"logger must be a logging.Logger or a logger name, got {type(logger).__name__}")
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level
        self.capture_content = capture_content

    def export(self, event: Event) -> None:
        """Log `event` as JSON (nothing is formatted when the logger would drop it)."""
        if not self.logger.isEnabledFor(self.level):
            return
        record = event.to_dict()
        if self.capture_content and isinstance(event, ModelCall):
            record.update(content_of(event))
        self.logger.log(self.level, json.dumps(record, default=str, ensure_ascii=False))
