"""Typed errors of the domain. No HTTP codes here: the edges map these to their own conventions."""

from __future__ import annotations


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(ModelyardError):
    code = "NOT_FOUND"


class AlreadyExists(ModelyardError):
    code = "ALREADY_EXISTS"


class InvalidArgument(ModelyardError):
    code = "INVALID_ARGUMENT"


class PermissionDenied(ModelyardError):
    code = "PERMISSION_DENIED"


class Conflict(ModelyardError):
    code = "CONFLICT"


class StoreUnavailable(ModelyardError):
    """The store cannot be reached or opened (bad URI, server down, unreadable file)."""

    code = "UNAVAILABLE"


class MissingExtra(ModelyardError):
    """An optional dependency is not installed; the message names the ``pip install`` to run
    (raised by ``core.extras.require_extra``)."""

    code = "MISSING_EXTRA"

    def __init__(self, message: str, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class IntegrityError(ModelyardError):
    """Stored data does not match what was recorded for it (hash mismatch, broken reference)."""

    code = "DATA_LOSS"


class FilterSyntaxError(InvalidArgument):
    """A filter or order-by expression that does not parse; ``position`` points at the offending char."""

    def __init__(self, message: str, expression: str, position: int) -> None:
        super().__init__(f"{message} at position {position} of filter {expression!r}")
        self.expression = expression
        self.position = position
        self.reason = message
