"""Typed usage errors of the stores: each is raised before anything is written."""

from __future__ import annotations

from contextwise.errors import StoreError, UsageError


class InvalidTenantError(UsageError):
    """A tenant name is empty or not of the allowed form (letters, digits and `_ - . : @`, at most 128)."""


class InvalidRecordError(UsageError):
    """A record cannot be stored as given; nothing of its batch was written."""


class DimensionMismatchError(InvalidRecordError):
    """A vector has a different number of dimensions than the store."""


class InvalidVectorError(InvalidRecordError):
    """A vector holds NaN or infinity, or is all zeros (cosine similarity is undefined for it)."""


class TextTooLongError(InvalidRecordError):
    """A record's text is longer than the store's `max_text_chars`."""


class DuplicateIdError(InvalidRecordError):
    """The same id appears twice in one batch, so which one should win is ambiguous."""


class EmbedderMismatchError(UsageError):
    """A store's vectors were made by another embedder than the one bound to it now; nothing was written or
    queried.

    Attributes:
        recorded: the name of the embedder the store's vectors come from.
        wanted: the name of the embedder it was asked to serve.
    """

    def __init__(self, message: str, *, recorded: str, wanted: str) -> None:
        super().__init__(message)
        self.recorded = recorded
        self.wanted = wanted


class InvalidFilterError(UsageError):
    """A `where` filter uses an unknown operator, a bad field name or a value of the wrong type."""


class WriteConflictError(StoreError):
    """A compare-and-set write found a record changed since it was read (`expect` did not hold); nothing of the
    batch was written. Read again and retry."""

    def __init__(self, message: str, *, backend: str, record_id: str) -> None:
        super().__init__(message, backend=backend)
        self.record_id = record_id
