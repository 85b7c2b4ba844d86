"""The error body every 4xx/5xx of the API carries, and the one table of error codes: every
``ModelyardError`` class by its ``code`` (subclasses included), so an error raised on the server
comes back from the client as the type it was raised as (the server writes the body in
``server/errors.py``, deriving the status from the core kind the class descends from)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelyard.core.errors import (
    AlreadyExists,
    ApprovalRequired,
    CheckoutIncomplete,
    Conflict,
    DeploymentNotFound,
    FilterSyntaxError,
    IllegalTransition,
    IngestRejected,
    IntegrityError,
    InvalidArgument,
    LoginThrottled,
    MissingExtra,
    ModelyardError,
    NotFound,
    NothingToRollBack,
    NotServed,
    Overloaded,
    PayloadTooLarge,
    PermissionDenied,
    ReleaseBlocked,
    RevisionConflict,
    SignatureError,
    StoreUnavailable,
    Unauthenticated,
    UnknownFeature,
    UnknownRequestIds,
    UnsupportedMediaType,
)
from modelyard.wire._base import WireModel

__all__ = ["ERRORS", "ERROR_BY_CODE", "ErrorDetail", "ErrorResponse", "error_from_body"]

#: Every error class the API may send (a unit test checks that no subclass of ``ModelyardError``
#: is missing and that no two share a code).
ERRORS: tuple[type[ModelyardError], ...] = (
    NotFound,
    AlreadyExists,
    Conflict,
    InvalidArgument,
    PermissionDenied,
    StoreUnavailable,
    IntegrityError,
    MissingExtra,
    FilterSyntaxError,
    Unauthenticated,
    LoginThrottled,
    NotServed,
    SignatureError,
    IllegalTransition,
    ApprovalRequired,
    ReleaseBlocked,
    IngestRejected,
    Overloaded,
    PayloadTooLarge,
    UnsupportedMediaType,
    DeploymentNotFound,
    RevisionConflict,
    NothingToRollBack,
    UnknownRequestIds,
    UnknownFeature,
    CheckoutIncomplete,
)

#: ``error.code`` -> the error class it stands for. One code comes from the HTTP layer rather
#: than from a raised error (a method the route does not take).
ERROR_BY_CODE: dict[str, type[ModelyardError]] = {
    **{cls.code: cls for cls in ERRORS},
    "METHOD_NOT_ALLOWED": InvalidArgument,
}


class ErrorDetail(WireModel):
    code: str
    message: str
    position: int | None = None
    expression: str | None = None
    details: list[dict[str, Any]] | None = None
    #: The error class's ``wire_attributes`` (a signature error's column, a throttle's wait...).
    attributes: dict[str, Any] | None = None


class ErrorResponse(WireModel):
    error: ErrorDetail


def error_from_body(status: int, body: Any) -> ModelyardError:
    """The typed error a response stands for; a body that is not ours still gives a clear error."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        # No body of ours (a HEAD response, a proxy's error page): the status must do.
        by_status: dict[int, type[ModelyardError]] = {
            401: Unauthenticated,
            403: PermissionDenied,
            404: NotFound,
            409: Conflict,
        }
        if status >= 500:
            return StoreUnavailable(f"server error {status}")
        return by_status.get(status, InvalidArgument)(f"request refused with status {status}")
    cls = ERROR_BY_CODE.get(str(error.get("code") or ""))
    if cls is None:
        cls = StoreUnavailable if status >= 500 else InvalidArgument
    attributes = error.get("attributes")
    return cls.from_wire(error["message"], attributes if isinstance(attributes, dict) else None)


def validation_summary(errors: Iterable[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """A failed schema check (pydantic's errors, ``loc`` starting with ``body``/``query``/...) as
    the one-line message of its first problem and the list of every problem: the server's 422 body
    and the client's own check of a request body (``client._transport.request``) say the same."""
    details = [{"loc": [str(p) for p in err.get("loc", ())], "message": str(err.get("msg", ""))} for err in errors]
    first = details[0] if details else {"loc": [], "message": "invalid request"}
    message = f"{'.'.join(first['loc'])}: {first['message']}" if first["loc"] else str(first["message"])
    return message, details
