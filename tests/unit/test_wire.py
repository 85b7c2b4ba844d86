"""The v1 wire schemas and codecs shared by server and client: non-finite floats survive JSON,
error bodies map back to the typed errors they stand for, unknown fields are refused."""

from __future__ import annotations

import math

import orjson
import pytest
from pydantic import ValidationError

from modelyard.client.store import encode_metrics
from modelyard.core.errors import (
    Conflict,
    FilterSyntaxError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    Unauthenticated,
)
from modelyard.core.tracking import Metric
from modelyard.wire import MetricBatch, ParamsBody, RunBody, error_from_body


def test_non_finite_floats_travel_as_strings() -> None:
    rows = encode_metrics([Metric("m", math.nan, 0, 1), Metric("m", -math.inf, 1, 2), Metric("m", 2, 2, 3)])
    batch = MetricBatch.model_construct(metrics=rows)  # as the client's hot path builds it
    body = batch.__pydantic_serializer__.to_json(batch)
    assert orjson.loads(body)["metrics"][:2] == [["m", "NaN", 0, 1], ["m", "-Infinity", 1, 2]]
    parsed = MetricBatch.model_validate_json(body).metrics
    assert math.isnan(parsed[0][1]) and parsed[1][1] == -math.inf and parsed[2] == ("m", 2.0, 2, 3)


def test_encode_metrics_checks_values_like_the_stores() -> None:
    with pytest.raises(InvalidArgument, match="not a number"):
        encode_metrics([Metric("m", "abc", 0, 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not an integer"):
        encode_metrics([Metric("m", 1.0, "x", 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="millisecond"):
        encode_metrics([Metric("m", 1.0, 0, 1.5)])  # type: ignore[arg-type]


def test_response_models_write_nan_as_a_string() -> None:
    run = RunBody(
        id="r", project_id="p", start_time=1, metrics={"m": {"key": "m", "value": math.nan, "step": 0, "timestamp": 1}}
    )  # type: ignore[dict-item]
    assert b'"value":"NaN"' in run.model_dump_json().encode()


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        ParamsBody.model_validate({"params": {}, "typo": 1})
    with pytest.raises(ValidationError):
        MetricBatch.model_validate_json(b'{"metrics": [["m", 1.0, 18446744073709551616, 1]]}')


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": {"code": "NOT_FOUND", "message": "run 'x' not found"}}, NotFound),
        (409, {"error": {"code": "CONFLICT", "message": "param"}}, Conflict),
        (403, {"error": {"code": "PERMISSION_DENIED", "message": "no"}}, PermissionDenied),
        (401, {"error": {"code": "UNAUTHENTICATED", "message": "who?"}}, Unauthenticated),
        (503, {"error": {"code": "UNAVAILABLE", "message": "db down"}}, StoreUnavailable),
        (422, {"error": {"code": "INVALID_ARGUMENT", "message": "body.x: bad"}}, InvalidArgument),
        (404, None, NotFound),  # HEAD responses carry no body
        (502, "<html>bad gateway</html>", StoreUnavailable),
        (418, {"unexpected": True}, InvalidArgument),
    ],
)
def test_error_bodies_map_to_typed_errors(status: int, body: object, expected: type[Exception]) -> None:
    assert type(error_from_body(status, body)) is expected


def test_filter_errors_keep_their_position() -> None:
    message = "expected a value after '>', got end of input at position 11 of filter 'metrics.m >'"
    attributes = {"position": 11, "expression": "metrics.m >", "reason": "expected a value after '>', got end of input"}
    body = {"error": {"code": "FILTER_SYNTAX", "message": message, "attributes": attributes}}
    error = error_from_body(400, body)
    assert isinstance(error, FilterSyntaxError)
    assert error.position == 11 and error.expression == "metrics.m >" and str(error) == message
