"""Typed domain errors -> HTTP statuses with a JSON body ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard.core.errors import (
    AlreadyExists,
    Conflict,
    FilterSyntaxError,
    IntegrityError,
    InvalidArgument,
    LoginThrottled,
    MissingExtra,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    StoreUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
)
from modelyard.wire.errors import validation_summary

logger = logging.getLogger("modelyard.server")

#: The status of an error is its core kind's (first match in this order: a subclass before its
#: base). Every class of ``wire.errors.ERRORS`` descends from one of these.
STATUS_BY_ERROR: list[tuple[type[ModelyardError], int]] = [
    (Unauthenticated, 401),
    (LoginThrottled, 429),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (NotFound, 404),
    (AlreadyExists, 409),
    (Conflict, 409),
    (InvalidArgument, 400),
    (PermissionDenied, 403),
    (StoreUnavailable, 503),
    (IntegrityError, 500),
    (MissingExtra, 501),  # the server lacks an optional package: not the client's fault
]


def status_for(exc: ModelyardError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def domain_error_body(exc: ModelyardError) -> dict[str, object]:
    """The body of a typed error: its class's own code and its wire attributes (a filter error's
    position and expression are also top-level fields, as they always were)."""
    extra: dict[str, object] = {}
    if isinstance(exc, FilterSyntaxError):
        extra = {"position": exc.position, "expression": exc.expression}
    if exc.wire_attributes:
        extra["attributes"] = exc.wire_details()
    return error_body(exc.code, str(exc), **extra)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModelyardError)
    async def domain_error(_request: Request, exc: ModelyardError) -> JSONResponse:
        return JSONResponse(domain_error_body(exc), status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = validation_summary(exc.errors())
        return JSONResponse(error_body("INVALID_ARGUMENT", message, details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            413: "TOO_LARGE",
        }.get(exc.status_code, "HTTP_ERROR")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
        # Still a JSON body in the one error format; the traceback goes to the server log.
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("INTERNAL", f"internal server error ({type(exc).__name__})"), status_code=500)
