"""modelyard's own protocol.

``POST /v1/models/{name}/predict`` takes:

- JSON: ``[{"col": v, ...}, ...]`` or ``{"records": [...]}`` (records), ``{"columns": {"col": [...]}}``
  (column-oriented), ``[[v, ...], ...]`` or ``{"ndarray": [[...]]}`` (rows in the signature's column
  order, or a tensor);
- ``text/csv`` (a header row naming the columns) and ``application/vnd.apache.parquet`` bodies.

``?output=proba`` answers ``predict_proba`` (with ``classes``).

``POST /v1/models/{name}/explain`` takes the same bodies (checked against the same signature) and
answers per-row attributions (``modelyard.explain``): SHAP for tree models, occlusion against the
version's stored per-feature baseline otherwise (``?method=auto|shap|occlusion``), at most
``MAX_EXPLAIN_ROWS`` rows: ``{"explanations": [{"base_value", "output", "attributions": {col: v}}],
"method", "output", "additive", "features", "model", "version", "variant", "request_id"}``. The answer:
``{"predictions": [...], "model": NAME, "version": N, "variant": V, "request_id": ID}``.
Errors: ``{"error": {"code", "message", "details": [{"field", "expected"}]}}`` (400 bad input
naming the field, 404 unknown model, 413 too large, 415 unreadable content type, 503 overloaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, UnsupportedMediaType
from modelyard.serving import decode
from modelyard.serving.app import _REQUEST_ID, Request, Response, error_parts, json_response, retry_headers
from modelyard.serving.protocols._common import CSV_TYPES, JSON_TYPES, PARQUET_TYPES, jsonable, one_of

if TYPE_CHECKING:
    from modelyard.serving.app import Decoder, ServingApp


def error_response(exc: BaseException) -> Response:
    status, code, message, detail = error_parts(exc)
    if isinstance(exc, UnsupportedMediaType):
        status = 415
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["details"] = [detail]
    return json_response(status, {"error": body}, retry_headers(exc))


def decoder(request: Request) -> Decoder:
    body, content_type = request.body, request.content_type
    if content_type in CSV_TYPES:
        return lambda spec: decode.from_csv(spec, body)
    if content_type in PARQUET_TYPES:
        return lambda spec: decode.from_parquet(spec, body)
    if content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"unsupported content type {content_type.decode('latin-1')!r}: send application/json, text/csv "
            "or application/vnd.apache.parquet"
        )
    payload = decode.parse_json(body)
    maybe_bool = decode.may_hold_bool(body)
    if isinstance(payload, list):
        if payload and isinstance(payload[0], dict):
            return lambda spec: decode.from_records(spec, payload, maybe_bool=maybe_bool)
        return lambda spec: decode.from_rows(spec, payload, maybe_bool=maybe_bool)
    if not isinstance(payload, dict):
        raise InvalidArgument("the body must be a JSON list of records or rows, or an object")
    key = one_of(payload, ("records", "columns", "ndarray"))
    value = payload[key]
    if key == "records":
        return lambda spec: decode.from_records(spec, value, maybe_bool=maybe_bool)
    if key == "columns":
        return lambda spec: decode.from_columns(spec, value, maybe_bool=maybe_bool)
    return lambda spec: decode.from_rows(spec, value, maybe_bool=maybe_bool)


async def route(app: ServingApp, request: Request, parts: list[str]) -> Response:
    try:
        if len(parts) >= 2 and parts[1] == "models":
            if len(parts) == 4 and parts[3] == "predict":
                if request.method != "POST":
                    return _method_not_allowed("POST")
                return await predict(app, request, parts[2])
            if len(parts) == 4 and parts[3] == "explain":
                if request.method != "POST":
                    return _method_not_allowed("POST")
                return await explain(app, request, parts[2])
            if request.method != "GET":
                return _method_not_allowed("GET")
            if len(parts) == 2:
                return json_response(200, {"models": [describe(e) for e in app.state.endpoints()]})
            if len(parts) == 3:
                return json_response(200, describe(app.state.get(parts[2])))
            if len(parts) == 4 and parts[3] == "openapi.json":
                from modelyard.serving.openapi import openapi_document

                return json_response(200, openapi_document(app.state.get(parts[2])))
        return json_response(404, {"error": {"code": "NOT_FOUND", "message": f"no route {request.path}"}})
    except Exception as exc:
        return error_response(exc)


async def predict(app: ServingApp, request: Request, name: str) -> Response:
    output = request.arg("output")
    if output not in (None, "predict", "proba"):
        raise InvalidArgument(f"output must be 'predict' or 'proba', got {output!r}")
    proba = output == "proba"
    prediction = await app.predict(request, name, decoder(request), proba=proba, protocol="native")
    variant = prediction.variant
    body: dict[str, Any] = {
        "predictions": jsonable(prediction.outputs),
        "model": variant.model_name,
        "version": variant.model_version,
        "variant": variant.name,
        "request_id": prediction.request_id,
    }
    if proba:
        body["classes"] = variant.host.classes
    return json_response(200, body, ((b"x-request-id", prediction.request_id.encode("latin-1")),))


#: Occlusion costs rows × (features + 1) model rows: a request explains at most this many rows.
MAX_EXPLAIN_ROWS = 1000


async def explain(app: ServingApp, request: Request, name: str) -> Response:
    """Per-row attributions for the body the predict route would score (module docstring). Not
    prediction-logged: an explanation is a question about the model, not a served prediction."""
    import asyncio
    import os

    import pandas as pd

    from modelyard.explain import METHODS, explain_rows

    method = request.arg("method") or "auto"
    if method not in METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    endpoint = app.state.get(name)
    key = None
    if endpoint.sticky_key is not None:  # the variant that would have answered this caller's predict
        raw = request.headers.get(endpoint.sticky_key.lower().encode("latin-1"))
        key = raw.decode("latin-1") if raw is not None else None
    variant = endpoint.choose(key)[0]
    host = variant.host
    spec = host.input
    if spec.kind == "tensor" or not spec.columns:
        raise InvalidArgument(f"model {name!r} takes a tensor: explanations need named input columns")
    data = decoder(request)(spec)
    if len(data) > MAX_EXPLAIN_ROWS:
        raise InvalidArgument(f"explain takes at most {MAX_EXPLAIN_ROWS} rows per request, got {len(data)}")

    def run() -> Any:
        frame = data
        if spec.kind == "matrix":  # the fast path's float matrix, back to the signature's named columns
            frame = pd.DataFrame(data, columns=list(spec.columns))
            for i in spec.int_columns:
                frame[spec.columns[i]] = frame[spec.columns[i]].astype(spec.dtypes[i])
        return explain_rows(host.loaded, frame, method=method, baseline=host.explain_baseline)  # type: ignore[arg-type]

    try:
        explained = await asyncio.to_thread(run)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"the model could not explain this input: {exc}".splitlines()[0]) from None
    given = request.headers.get(b"x-request-id")
    request_id = given.decode("ascii") if given is not None and _REQUEST_ID.match(given) else os.urandom(12).hex()
    body = explained.to_dict()
    body["explanations"] = body.pop("rows")
    body.update(model=variant.model_name, version=variant.model_version, variant=variant.name, request_id=request_id)
    return json_response(200, body, ((b"x-request-id", request_id.encode("latin-1")),))


def describe(endpoint: Any) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "sticky_key": endpoint.sticky_key,
        "variants": [
            {"name": v.name, "weight": v.weight, "shadow": v.shadow, "model": v.host.describe()}
            for v in endpoint.variants
        ],
    }


def _method_not_allowed(allowed: str) -> Response:
    return json_response(
        405,
        {"error": {"code": "METHOD_NOT_ALLOWED", "message": f"use {allowed}"}},
        ((b"allow", allowed.encode()),),
    )
