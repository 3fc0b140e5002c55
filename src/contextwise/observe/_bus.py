"""The in-process event bus: subscribers, the scope (tenant, user, conversation) events are tagged with, emit().

Emitting costs nothing when nobody listens: every emission site checks `subscribers` (a module-level tuple)
before it builds an event, so an uninstrumented call pays one attribute lookup.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from contextwise.errors import UsageError

_log = logging.getLogger("contextwise.observe")

# Read without the lock on every emission (a tuple is replaced whole, never mutated).
subscribers: tuple[Subscription, ...] = ()
_lock = threading.Lock()


@dataclass(frozen=True)
class Scope:
    """Who an event is for: the tenant (a hard partition), the user and the conversation; None when unknown."""

    tenant: str | None = None
    user: str | None = None
    conversation: str | None = None


# Scope is frozen, so one shared default is safe.
_scope: contextvars.ContextVar[Scope] = contextvars.ContextVar("contextwise_observe_scope",
                                                              default=Scope())  # noqa: B039


def current_scope() -> Scope:
    """The scope events emitted here and now are tagged with."""
    return _scope.get()


@contextlib.contextmanager
def scope(*, tenant: str | None = None, user: str | None = None, conversation: str | None = None) -> Iterator[Scope]:
    """Tag every event emitted inside the block (this thread or task) with a tenant, user and conversation.

    Nested scopes keep what the outer one set unless they set it themselves.

    >>> with scope(tenant="acme", user="u1"):
    ...     current_scope().tenant
    'acme'
    """
    outer = _scope.get()
    inner = Scope(tenant if tenant is not None else outer.tenant, user if user is not None else outer.user,
                  conversation if conversation is not None else outer.conversation)
    token = _scope.set(inner)
    try:
        yield inner
    finally:
        _scope.reset(token)


class Subscription:
    """A callback receiving events until `close()` (also a context manager).

    A callback that raises is logged on the "contextwise.observe" logger and kept; the call that emitted the
    event is never broken by its observer.
    """

    def __init__(self, callback: Callable[[Any], object], kinds: tuple[type, ...] | None) -> None:
        self.callback = callback
        self.kinds = kinds

    @property
    def active(self) -> bool:
        """Whether it still receives events."""
        return self in subscribers

    def deliver(self, event: Any) -> None:
        """Hand `event` to the callback if it is of a kind subscribed to."""
        if self.kinds is not None and not isinstance(event, self.kinds):
            return
        try:
            self.callback(event)
        except Exception:  # an observer must never break the observed call
            _log.exception("observer %r failed on %s", self.callback, type(event).__name__)

    def close(self) -> None:
        """Stop receiving events; closing twice is harmless."""
        global subscribers
        with _lock:
            subscribers = tuple(s for s in subscribers if s is not self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subscribe(callback: Callable[[Any], object], *, kinds: type | tuple[type, ...] | None = None) -> Subscription:
    """Call `callback(event)` for every event emitted from now on (only events of `kinds`, when given).

    >>> seen = []
    >>> with subscribe(seen.append):
    ...     pass
    """
    if not callable(callback):
        raise UsageError(f"subscribe() needs a callable, got {type(callback).__name__}")
    wanted = (kinds,) if isinstance(kinds, type) else tuple(kinds) if kinds is not None else None
    subscription = Subscription(callback, wanted)
    global subscribers
    with _lock:
        subscribers = subscribers + (subscription,)
    return subscription


def emit(event: Any) -> None:
    """Deliver `event` to every subscriber, in subscription order."""
    for subscription in subscribers:
        subscription.deliver(event)
