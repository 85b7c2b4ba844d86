"""Typed errors of the domain, every one of them: the core kinds and their subclasses.

No HTTP codes here: the edges map these to their own conventions (``server/errors.py`` derives a
status from the core kind an error descends from, the CLI an exit code). Each class has its own
``code``, so an error sent over HTTP comes back as the type it was raised as: the server writes
``code``, ``message`` and the class's ``wire_attributes``, and ``wire.errors.error_from_body``
rebuilds the same class with ``from_wire``. A new error is a subclass here with a new ``code``
(a unit test walks every subclass and checks that the wire table knows it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""

    code: ClassVar[str] = "INTERNAL"
    #: Attributes (JSON values) that travel with the error over HTTP besides the message.
    wire_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def wire_details(self) -> dict[str, Any]:
        """The ``wire_attributes`` and their values, as sent in the error body."""
        return {name: self.__dict__.get(name) for name in self.wire_attributes}

    @classmethod
    def from_wire(cls, message: str, attributes: Mapping[str, Any] | None = None) -> Self:
        """The error as the server raised it: its message verbatim and its wire attributes,
        without running a subclass's own constructor (whose arguments the message already spells)."""
        exc = cls.__new__(cls, message)
        ModelyardError.__init__(exc, message)
        for name in cls.wire_attributes:
            setattr(exc, name, (attributes or {}).get(name))
        return exc


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
    wire_attributes = ("extra",)

    def __init__(self, message: str, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class IntegrityError(ModelyardError):
    """Stored data does not match what was recorded for it (hash mismatch, broken reference)."""

    code = "DATA_LOSS"


class FilterSyntaxError(InvalidArgument):
    """A filter or order-by expression that does not parse; ``position`` points at the offending char."""

    code = "FILTER_SYNTAX"
    wire_attributes = ("expression", "position", "reason")

    def __init__(self, message: str, expression: str, position: int) -> None:
        super().__init__(f"{message} at position {position} of filter {expression!r}")
        self.expression = expression
        self.position = position
        self.reason = message


# -- the rooms' errors --------------------------------------------------------------------------
class Unauthenticated(PermissionDenied):
    """No credentials, or credentials that are malformed, unknown, expired or revoked."""

    code = "UNAUTHENTICATED"


class LoginThrottled(ModelyardError):
    """Too many failed logins: try again after ``retry_after_seconds``."""

    code = "RESOURCE_EXHAUSTED"
    wire_attributes = ("retry_after_seconds",)

    def __init__(self, retry_after_ms: int) -> None:
        seconds = max(1, -(-retry_after_ms // 1000))
        super().__init__(f"too many failed logins: try again in {seconds} s")
        self.retry_after_seconds = seconds


class NotServed(InvalidArgument):
    """An aggregate the opened backend does not offer (auth administration over HTTP)."""

    code = "NOT_SERVED"


class SignatureError(InvalidArgument):
    """Input that does not match the model's signature; ``column`` and ``expected`` say what is wrong."""

    code = "SIGNATURE_MISMATCH"
    wire_attributes = ("column", "expected")

    def __init__(self, message: str, *, column: str | None = None, expected: str | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.expected = expected


class IllegalTransition(InvalidArgument):
    """A lifecycle move the state machine does not allow."""

    code = "ILLEGAL_TRANSITION"


class ApprovalRequired(PermissionDenied):
    """Production needs more approvals from maintainers than the version has."""

    code = "APPROVAL_REQUIRED"


class ReleaseBlocked(Conflict):
    """A model version may not be approved or promoted to production yet: a release check of
    the registry refused it (its pinned feature views no longer resolve, or the online store does
    not serve what the offline join returns). The message says which and what to do."""

    code = "RELEASE_BLOCKED"


class IngestRejected(ModelyardError):
    """A batch failed validation or had malformed rows with ``on_invalid="fail"``: nothing was
    written. ``report`` (a ``data.validation`` report) and ``malformed`` (rows that did not parse)
    say why; they stay in the process that ingested (only the message travels)."""

    code = "INGEST_REJECTED"
    report: Any = None
    malformed: Sequence[Any] = ()

    def __init__(self, message: str, report: Any = None, malformed: list[Any] | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.malformed = malformed or []


class Overloaded(StoreUnavailable):
    """A model server cannot answer within the request's latency budget; retry after ``retry_after`` s."""

    code = "OVERLOADED"
    wire_attributes = ("retry_after",)

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(InvalidArgument):
    """A request body over the server's limit (HTTP 413)."""

    code = "TOO_LARGE"


class UnsupportedMediaType(InvalidArgument):
    """A body in a content type the route does not read (HTTP 415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"


# -- serving and features -----------------------------------------------------------------------
class DeploymentNotFound(NotFound):
    """No live deployment of that name (never created, or deleted)."""

    code = "DEPLOYMENT_NOT_FOUND"


class RevisionConflict(Conflict):
    """The deployment changed since the revision the caller computed its change from."""

    code = "REVISION_CONFLICT"


class NothingToRollBack(Conflict):
    """The deployment has no earlier state to restore."""

    code = "NOTHING_TO_ROLL_BACK"


class UnknownRequestIds(NotFound):
    """Feedback named request ids that no logged prediction has; nothing was recorded."""

    code = "UNKNOWN_REQUEST_IDS"
    wire_attributes = ("request_ids",)

    def __init__(self, message: str, request_ids: list[str]) -> None:
        super().__init__(message)
        self.request_ids = request_ids


class UnknownFeature(NotFound):
    """A feature, view or service that does not exist; the message names the closest ones."""

    code = "UNKNOWN_FEATURE"


class CheckoutIncomplete(ModelyardError):
    """A checkout that stopped after writing some files (only if a rename into place failed);
    ``written`` lists them."""

    code = "CHECKOUT_INCOMPLETE"
    wire_attributes = ("written",)

    def __init__(self, message: str, written: list[str]) -> None:
        super().__init__(message)
        self.written = written
