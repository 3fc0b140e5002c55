"""The error tree. Every error contextwise raises is a ContextwiseError; messages say what to do next."""

from __future__ import annotations

from collections.abc import Sequence


class ContextwiseError(Exception):
    """Base of every error contextwise raises."""


class UsageError(ContextwiseError, ValueError):
    """The caller's mistake, found before any work was done."""


class UnknownBackendError(UsageError, LookupError):
    """A "provider:name" string or model name that nothing is registered under.

    Attributes:
        suggestions: the nearest known names.
    """

    def __init__(self, message: str, *, suggestions: Sequence[str] = ()) -> None:
        if suggestions:
            message = f"{message}; did you mean: {', '.join(suggestions)}?"
        super().__init__(message)
        self.suggestions = tuple(suggestions)


class MissingDependencyError(UsageError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, feature: str, extra: str, *, remedy: str | None = None) -> None:
        super().__init__(f"{feature} needs: " + (remedy or f"pip install 'contextwise[{extra}]'"))
        self.extra = extra


class BudgetExceededError(ContextwiseError):
    """Pinned sections do not fit the budget.

    Attributes:
        needed_tokens: what the pinned content needs.
        available_tokens: what the budget allows for it.
        sections: names of the pinned sections involved.
    """

    def __init__(self, message: str, *, needed_tokens: int, available_tokens: int,
                 sections: Sequence[str] = ()) -> None:
        super().__init__(f"{message} (needed {needed_tokens} tokens, available {available_tokens})")
        self.needed_tokens = needed_tokens
        self.available_tokens = available_tokens
        self.sections = tuple(sections)


class BackendError(ContextwiseError):
    """A back-end failed at run time.

    Attributes:
        backend: the back-end's name.
    """

    def __init__(self, message: str, *, backend: str = "") -> None:
        super().__init__(f"{backend}: {message}" if backend else message)
        self.backend = backend


class ProviderError(BackendError):
    """A model provider answered with an error.

    Attributes:
        status_code: the HTTP status, when there was one.
        retry_after: seconds the provider asked us to wait, when it said.
    """

    def __init__(self, message: str, *, backend: str = "", status_code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, backend=backend)
        self.status_code = status_code
        self.retry_after = retry_after


class RateLimitError(ProviderError):
    """Too many requests; wait `retry_after` seconds (when known) and try again."""


class AuthError(ProviderError):
    """The credentials were missing or refused; check the API key."""


class ContextLengthError(ProviderError):
    """The request did not fit the model's context window; build it with a smaller budget.

    Attributes:
        needed_tokens: the prompt's tokens, when they were counted (preflight), else None.
        available_tokens: the model's input limit for this call, when known, else None.
    """

    def __init__(self, message: str, *, backend: str = "", status_code: int | None = None,
                 retry_after: float | None = None, needed_tokens: int | None = None,
                 available_tokens: int | None = None) -> None:
        super().__init__(message, backend=backend, status_code=status_code, retry_after=retry_after)
        self.needed_tokens = needed_tokens
        self.available_tokens = available_tokens


class UnavailableError(ProviderError):
    """The provider could not be reached or is overloaded; try again later."""


class StoreError(BackendError):
    """A store failed; what was stored before the failure is intact."""


class TruncationWarning(UserWarning):
    """Content was dropped or cut to fit a budget."""
