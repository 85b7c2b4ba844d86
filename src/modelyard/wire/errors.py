"""The error body every 4xx/5xx of the API carries, and the table that maps its ``code`` back to
a typed error (used by the client; the server maps the other way in ``server/errors.py``)."""

from __future__ import annotations

from typing import Any

from modelyard.core.errors import (
    AlreadyExists,
    Conflict,
    FilterSyntaxError,
    IntegrityError,
    InvalidArgument,
    ModelyardError,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
)
from modelyard.wire._base import WireModel

__all__ = ["ERROR_BY_CODE", "ErrorDetail", "ErrorResponse", "error_from_body"]

#: ``error.code`` -> the domain error it stands for. UNAUTHENTICATED has no domain error of its
#: own; it is a refusal like PERMISSION_DENIED.
ERROR_BY_CODE: dict[str, type[ModelyardError]] = {
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "CONFLICT": Conflict,
    "INVALID_ARGUMENT": InvalidArgument,
    "TOO_LARGE": InvalidArgument,
    "METHOD_NOT_ALLOWED": InvalidArgument,
    "PERMISSION_DENIED": PermissionDenied,
    "UNAUTHENTICATED": PermissionDenied,
    "UNAVAILABLE": StoreUnavailable,
    "DATA_LOSS": IntegrityError,
}


class ErrorDetail(WireModel):
    code: str
    message: str
    position: int | None = None
    expression: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorResponse(WireModel):
    error: ErrorDetail


def error_from_body(status: int, body: Any) -> ModelyardError:
    """The typed error a response stands for; a body that is not ours still gives a clear error."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        # No body of ours (a HEAD response, a proxy's error page): the status must do.
        by_status: dict[int, type[ModelyardError]] = {
            401: PermissionDenied, 403: PermissionDenied, 404: NotFound, 409: Conflict,
        }
        if status >= 500:
            return StoreUnavailable(f"server error {status}")
        return by_status.get(status, InvalidArgument)(f"request refused with status {status}")
    code = str(error.get("code") or "")
    message = error["message"]
    position = error.get("position")
    if isinstance(position, int) and code == "INVALID_ARGUMENT":
        reason = message.split(" at position ")[0]
        exc = FilterSyntaxError(reason, str(error.get("expression") or ""), position)
        exc.message = message  # keep the server's wording exactly
        return exc
    cls = ERROR_BY_CODE.get(code)
    if cls is None:
        cls = StoreUnavailable if status >= 500 else InvalidArgument
    return cls(message)
