"""Bad input: a 4xx JSON body naming the field (missing, extra, wrong type, null where the model
takes no missing values), malformed JSON, an unreadable content type, 413 over the body limit
(announced or streamed), 404 for unknown models, and the server keeps answering everyone else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from modelyard.serving.app import ServingApp, create_serving_app
from tests.serving._client import call
from tests.serving.conftest import Registered


@pytest.fixture(scope="module")
def app(registered: Registered) -> ServingApp:
    return create_serving_app(["bc@prod", "mixed@1"], stores=registered.stores, max_body_bytes=64 * 1024)


def _post_all(app: ServingApp, path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    async def block(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [await client.post(path, **body) for body in bodies]

    return call(app, block)


def _field(response: httpx.Response) -> str | None:
    details = response.json()["error"].get("details") or [{}]
    return details[0].get("field")


def test_signature_errors_name_the_field(app: ServingApp, registered: Registered) -> None:
    good = registered.frame.head(1).to_dict(orient="records")[0]
    missing = {k: v for k, v in good.items() if k != "mean area"}
    extra = {**good, "mean areaa": 1.0}
    wrong = {**good, "worst symmetry": "high"}
    boolean = {**good, "mean radius": True}
    null = {**good, "mean texture": None}
    as_int_column = {**good, "mean radius": 14}  # ints widen to float: fine
    responses = _post_all(
        app,
        "/v1/models/bc/predict",
        [
            {"json": [missing]},
            {"json": [extra]},
            {"json": [wrong]},
            {"json": [boolean]},
            {"json": [good, null]},
            {"json": {"columns": {k: [v] for k, v in missing.items()}}},
            {"json": [[1.0, 2.0]]},
            {"json": [as_int_column]},
        ],
    )
    fields = [(r.status_code, _field(r)) for r in responses[:6]]
    assert fields == [
        (400, "mean area"),
        (400, "mean areaa"),
        (400, "worst symmetry"),
        (400, "mean radius"),
        (400, "mean texture"),
        (400, "mean area"),
    ]
    assert "missing values" in responses[4].json()["error"]["message"]
    assert "row 1" in responses[4].json()["error"]["message"]
    assert responses[6].status_code == 400 and "30 columns" in responses[6].json()["error"]["message"]
    assert responses[7].status_code == 200


def test_frame_model_type_rules(app: ServingApp, registered: Registered) -> None:
    good = registered.mixed_frame.head(1).to_dict(orient="records")[0]
    responses = _post_all(
        app,
        "/v1/models/mixed/predict",
        [
            {"json": [{**good, "age": 31.5}]},  # float into an int column: never reinterpreted
            {"json": [{**good, "city": 3}]},
            {"json": [{k: v for k, v in good.items() if k != "city"}]},
            {"json": [{**good, "zip": "75001"}]},
            {"json": [good]},
        ],
    )
    assert [(r.status_code, _field(r)) for r in responses[:4]] == [
        (400, "age"),
        (400, "city"),
        (400, "city"),
        (400, "zip"),
    ]
    assert responses[4].status_code == 200


def test_malformed_bodies(app: ServingApp) -> None:
    responses = _post_all(
        app,
        "/v1/models/bc/predict",
        [
            {"content": b'{"records": [', "headers": {"content-type": "application/json"}},
            {"content": b"", "headers": {"content-type": "application/json"}},
            {"content": b"NaN", "headers": {"content-type": "application/json"}},
            {"json": {"records": [], "columns": {}}},
            {"json": {"rows": []}},
            {"json": 3},
            {"content": b"a,b\n1,2\n", "headers": {"content-type": "text/csv"}},
            {"content": b"not parquet", "headers": {"content-type": "application/vnd.apache.parquet"}},
            {"content": b"<xml/>", "headers": {"content-type": "application/xml"}},
        ],
    )
    assert [r.status_code for r in responses] == [400, 400, 400, 400, 400, 400, 400, 400, 415]
    assert "malformed JSON" in responses[0].json()["error"]["message"]
    assert all(r.json()["error"]["code"] in ("INVALID_ARGUMENT",) for r in responses[:8])
    v2 = _post_all(
        app,
        "/v2/models/bc/infer",
        [
            {"json": {"inputs": [{"name": "mean radius", "shape": [2], "datatype": "FP64", "data": [1.0]}]}},
            {"json": {"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1.0]}]}},
            {"json": {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": ["a"] * 30}]}},
            {"json": {"inputs": []}},
        ],
    )
    assert [r.status_code for r in v2] == [400, 400, 400, 400]
    assert all(isinstance(r.json()["error"], str) for r in v2)
    assert "'mean radius'" in v2[0].json()["error"]


def test_payload_over_the_limit_is_413(app: ServingApp, registered: Registered) -> None:
    big = registered.frame.sample(2000, replace=True, random_state=1).to_dict(orient="records")

    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        return (
            await client.post("/v1/models/bc/predict", json=big),
            await client.post(
                "/invocations?model=bc", content=streamed(), headers={"content-type": "application/json"}
            ),
            await client.post("/v1/models/bc/predict", json=big[:2]),
        )

    announced, chunked, fine = call(app, block)
    assert announced.status_code == 413 and announced.json()["error"]["code"] == "TOO_LARGE"
    assert chunked.status_code == 413
    assert fine.status_code == 200


def test_unknown_models_and_routes_are_404(app: ServingApp, registered: Registered) -> None:
    records = registered.frame.head(1).to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        return (
            await client.post("/v1/models/nope/predict", json=records),
            await client.get("/v1/models/nope"),
            await client.post("/v2/models/nope/infer", json={"inputs": []}),
            await client.get("/v2/models/nope/ready"),
            await client.get("/nowhere"),
            await client.get("/v1/models/bc/predict"),
        )

    *not_found, wrong_method = call(app, block)
    assert [r.status_code for r in not_found] == [404] * 5
    assert not_found[0].json()["error"]["code"] == "NOT_FOUND"
    assert wrong_method.status_code == 405
