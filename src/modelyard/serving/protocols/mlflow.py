"""MLflow's scoring protocol, so that an MLflow user's clients work unchanged.

``POST /invocations`` with a JSON body holding exactly one of ``dataframe_split``
(``{"columns": [...], "data": [[...]]}``), ``dataframe_records`` (``[{...}]``), ``instances``
(a list of rows or records) or ``inputs`` (a list of rows, or an object of columns), and
optionally ``params`` (refused unless empty: these models take none); or a ``text/csv`` body. The
answer is MLflow's ``{"predictions": [...]}``; errors are MLflow's
``{"error_code": "BAD_REQUEST", "message": ...}`` (with ``field`` when a column is named).
``GET /ping`` and ``GET /health`` answer 200 while a model is served; ``GET /version`` the version.

One server may serve several models: ``/invocations`` scores the only one, or the one named by
``?model=NAME`` (or the ``X-Modelyard-Model`` header).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard._version import __version__
from modelyard.core.errors import InvalidArgument, UnsupportedMediaType
from modelyard.serving import decode
from modelyard.serving.app import Request, Response, error_parts, json_response, retry_headers
from modelyard.serving.protocols._common import CSV_TYPES, JSON_TYPES, jsonable, one_of

if TYPE_CHECKING:
    from modelyard.serving.app import Decoder, ServingApp

_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
    500: "INTERNAL_ERROR",
}


def error_response(exc: BaseException) -> Response:
    status, _, message, detail = error_parts(exc)
    if isinstance(exc, UnsupportedMediaType):
        status = 415
    body: dict[str, Any] = {"error_code": _CODES.get(status, "INTERNAL_ERROR"), "message": message}
    if detail is not None and detail.get("field") is not None:
        body["field"] = detail["field"]
    return json_response(status, body, retry_headers(exc))


def decoder(request: Request) -> Decoder:
    body, content_type = request.body, request.content_type
    if content_type in CSV_TYPES:
        return lambda spec: decode.from_csv(spec, body)
    if content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"this endpoint takes application/json or text/csv, not {content_type.decode('latin-1')!r}"
        )
    payload = decode.parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidArgument(f"the body must be a JSON object with one of {', '.join(_KEYS)}")
    key = one_of(payload, _KEYS, allowed_extra=("params",))
    if payload.get("params"):
        raise InvalidArgument("params are not supported: these models take no inference parameters")
    maybe_bool = decode.may_hold_bool(body)
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise InvalidArgument("dataframe_split must be an object with 'columns' and 'data'")
        columns, data = value.get("columns"), value["data"]
        return lambda spec: decode.from_split(spec, columns, data, maybe_bool=maybe_bool)
    if key == "dataframe_records":
        return lambda spec: decode.from_records(spec, value, maybe_bool=maybe_bool)
    if isinstance(value, dict):
        return lambda spec: decode.from_columns(spec, value, maybe_bool=maybe_bool)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return lambda spec: decode.from_records(spec, value, maybe_bool=maybe_bool)
    return lambda spec: decode.from_rows(spec, value, maybe_bool=maybe_bool)


def _target(app: ServingApp, request: Request) -> str:
    named = request.arg("model") or (request.headers.get(b"x-modelyard-model") or b"").decode("latin-1") or None
    if named is not None:
        return named
    names = app.state.names()
    if len(names) == 1:
        return names[0]
    if not names:
        raise InvalidArgument("no model is served")
    raise InvalidArgument(f"this server serves several models ({', '.join(names)}): add ?model=NAME")


async def route(app: ServingApp, request: Request, parts: list[str]) -> Response:
    head = parts[0]
    if len(parts) != 1:
        return json_response(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no route {request.path}"})
    if head in ("ping", "health"):
        ready = bool(app.state.names())
        return Response(200 if ready else 503, b"\n", b"application/json")
    if head == "version":
        return Response(200, __version__.encode(), b"text/plain; charset=utf-8")
    if request.method != "POST":
        return json_response(405, {"error_code": "BAD_REQUEST", "message": "use POST"}, ((b"allow", b"POST"),))
    try:
        prediction = await app.predict(request, _target(app, request), decoder(request), proba=False, protocol="mlflow")
    except Exception as exc:
        return error_response(exc)
    return json_response(200, {"predictions": jsonable(prediction.outputs)})
