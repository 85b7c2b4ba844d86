"""The three protocols over the same models, every input format, and what they answer: the native
protocol (records, columns, rows, CSV, Parquet, predict_proba), MLflow's scoring protocol
(dataframe_split, dataframe_records, instances, inputs, CSV) and the Open Inference Protocol
(KServe V2: per-column tensors, one matrix tensor, binary tensors, metadata, health)."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard.serving.app import ServingApp, create_serving_app
from tests.serving._client import call
from tests.serving.conftest import Registered


@pytest.fixture(scope="module")
def app(registered: Registered) -> ServingApp:
    return create_serving_app(["bc@prod", "mixed@1", "tens@latest"], stores=registered.stores)


def _expected(registered: Registered, rows: int = 5) -> list[int]:
    return registered.classifier.predict(registered.frame.head(rows)).tolist()


def _parquet(frame: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def test_native_formats_all_give_the_models_answer(app: ServingApp, registered: Registered) -> None:
    head = registered.frame.head(5)
    records = head.to_dict(orient="records")
    expected = _expected(registered)
    # rows in the signature's order, shuffled-key records and columns: all the same rows
    shuffled = [dict(reversed(list(r.items()))) for r in records]

    async def block(client: httpx.AsyncClient) -> list[Any]:
        bodies = [
            {"json": records},
            {"json": {"records": shuffled}},
            {"json": {"columns": {c: head[c].tolist() for c in reversed(head.columns)}}},
            {"json": {"ndarray": head.to_numpy().tolist()}},
            {"json": head.to_numpy().tolist()},
            {"content": head.to_csv(index=False), "headers": {"content-type": "text/csv"}},
            {"content": _parquet(head), "headers": {"content-type": "application/vnd.apache.parquet"}},
        ]
        return [await client.post("/v1/models/bc/predict", **body) for body in bodies]

    for response in call(app, block):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == expected
        assert (body["model"], body["version"], body["variant"]) == ("bc", 1, "default")
        assert response.headers["x-request-id"] == body["request_id"]


def test_native_proba_and_frame_and_tensor_models(app: ServingApp, registered: Registered) -> None:
    head = registered.frame.head(4)
    mixed = registered.mixed_frame.head(4)
    x = np.array([[0.5, 1.0, 2.0], [1.0, -1.0, 0.0]])

    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        return (
            await client.post("/v1/models/bc/predict?output=proba", json=head.to_dict(orient="records")),
            await client.post("/v1/models/mixed/predict", json=mixed.to_dict(orient="records")),
            await client.post("/v1/models/mixed/predict?output=proba", json={"columns": mixed.to_dict(orient="list")}),
            await client.post("/v1/models/tens/predict", json=x.tolist()),
            await client.post("/v1/models/tens/predict?output=proba", json=x.tolist()),
            await client.post("/v1/models/bc/predict?output=nonsense", json=head.to_dict(orient="records")),
        )

    proba, frame, frame_proba, tensor, tensor_proba, bad_output = call(app, block)
    assert proba.status_code == 200
    assert np.allclose(proba.json()["predictions"], registered.classifier.predict_proba(head))
    assert proba.json()["classes"] == [0, 1]
    assert frame.json()["predictions"] == registered.mixed.predict(mixed).tolist()
    assert np.allclose(frame_proba.json()["predictions"], registered.mixed.predict_proba(mixed))
    assert np.allclose(tensor.json()["predictions"], registered.tensor_model.predict(x))
    assert tensor_proba.status_code == 400 and "predict_proba" in tensor_proba.json()["error"]["message"]
    assert bad_output.status_code == 400


def test_models_listing_description_and_openapi(app: ServingApp) -> None:
    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        return (
            await client.get("/v1/models"),
            await client.get("/v1/models/bc"),
            await client.get("/v1/models/mixed/openapi.json"),
        )

    listing, described, document = call(app, block)
    assert {m["name"] for m in listing.json()["models"]} == {"bc", "mixed", "tens"}
    model = described.json()["variants"][0]["model"]
    assert (model["input"], model["flavor"], model["predict_proba"]) == ("matrix", "sklearn", True)
    spec = document.json()
    assert spec["openapi"].startswith("3.1")
    record = spec["components"]["schemas"]["Record"]
    assert record["properties"]["age"]["type"] == "integer"
    assert record["properties"]["city"]["type"] == "string"
    assert record["additionalProperties"] is False and set(record["required"]) == {"age", "income", "city"}
    assert "/v1/models/mixed/predict" in spec["paths"]


def test_mlflow_scoring_protocol(app: ServingApp, registered: Registered) -> None:
    head = registered.frame.head(3)
    split = json.loads(head.to_json(orient="split"))  # with "index", as MLflow's client sends it
    expected = _expected(registered, 3)

    async def block(client: httpx.AsyncClient) -> list[httpx.Response]:
        bodies = [
            {"json": {"dataframe_split": split}},
            {"json": {"dataframe_split": {"columns": split["columns"], "data": split["data"]}}},
            {
                "json": {
                    "dataframe_split": {"columns": split["columns"][::-1], "data": [r[::-1] for r in split["data"]]}
                }
            },
            {"json": {"dataframe_records": head.to_dict(orient="records")}},
            {"json": {"instances": head.to_dict(orient="records")}},
            {"json": {"instances": head.to_numpy().tolist()}},
            {"json": {"inputs": head.to_dict(orient="list")}},
            {"json": {"inputs": head.to_numpy().tolist(), "params": {}}},
            {"content": head.to_csv(index=False), "headers": {"content-type": "text/csv"}},
        ]
        return [await client.post("/invocations?model=bc", **body) for body in bodies]

    for response in call(app, block):
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected}


def test_mlflow_protocol_errors_and_health(app: ServingApp, registered: Registered) -> None:
    records = registered.frame.head(2).to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        return (
            await client.post("/invocations", json={"dataframe_records": records}),  # three models: which?
            await client.post("/invocations?model=bc", json={"dataframe_records": records, "instances": records}),
            await client.post("/invocations?model=bc", json={"dataframe_records": records, "params": {"k": 1}}),
            await client.post("/invocations?model=nope", json={"dataframe_records": records}),
            await client.post("/invocations", json={"dataframe_records": records}, headers={"x-modelyard-model": "bc"}),
            await client.get("/ping"),
            await client.get("/health"),
        )

    ambiguous, two_keys, params, unknown, by_header, ping, health = call(app, block)
    assert ambiguous.status_code == 400 and "?model=" in ambiguous.json()["message"]
    assert two_keys.status_code == 400 and two_keys.json()["error_code"] == "BAD_REQUEST"
    assert params.status_code == 400 and "params" in params.json()["message"]
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert by_header.status_code == 200
    assert ping.status_code == 200 and health.status_code == 200


def test_v2_inference_protocol(app: ServingApp, registered: Registered) -> None:
    head = registered.frame.head(3)
    expected = _expected(registered, 3)
    proba = registered.classifier.predict_proba(head)
    per_column = [{"name": c, "shape": [3], "datatype": "FP64", "data": head[c].tolist()} for c in head.columns]
    matrix = [{"name": "input-0", "shape": [3, 30], "datatype": "FP32", "data": head.to_numpy().ravel().tolist()}]
    binary = head.to_numpy().astype(np.float64).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [3, 30],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": len(binary)},
                }
            ]
        }
    ).encode()

    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        return (
            await client.post("/v2/models/bc/infer", json={"id": "r1", "inputs": per_column}),
            await client.post(
                "/v2/models/bc/versions/1/infer",
                json={"inputs": matrix, "outputs": [{"name": "predict_proba"}, {"name": "predict"}]},
            ),
            await client.post(
                "/v2/models/bc/infer",
                content=header + binary,
                headers={
                    "inference-header-content-length": str(len(header)),
                    "content-type": "application/octet-stream",
                },
            ),
            await client.get("/v2/models/bc"),
            await client.get("/v2/models/bc/ready"),
            await client.get("/v2/health/live"),
            await client.get("/v2/health/ready"),
            await client.get("/v2"),
            await client.get("/v2/models/bc/versions/7"),
        )

    columns, both, binary_answer, metadata, ready, live, server_ready, server, wrong_version = call(app, block)
    assert columns.status_code == 200, columns.text
    body = columns.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("bc", "1", "r1")
    assert body["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [3], "data": expected}]
    outputs = {o["name"]: o for o in both.json()["outputs"]}
    assert outputs["predict"]["data"] == expected
    assert outputs["predict_proba"]["shape"] == [3, 2]
    assert np.allclose(np.reshape(outputs["predict_proba"]["data"], (3, 2)), proba, atol=1e-6)
    assert binary_answer.json()["outputs"][0]["data"] == expected
    meta = metadata.json()
    assert meta["name"] == "bc" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == list(head.columns)
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [("predict", "INT64"), ("predict_proba", "FP64")]
    assert ready.status_code == live.status_code == server_ready.status_code == 200
    assert server.json()["name"] == "modelyard"
    assert wrong_version.status_code == 404 and "error" in wrong_version.json()


def test_v2_bytes_tensor_for_a_string_column(app: ServingApp, registered: Registered) -> None:
    mixed = registered.mixed_frame.head(2)
    cities = [c.encode() for c in mixed["city"]]
    raw = b"".join(struct.pack("<I", len(c)) + c for c in cities)
    header = json.dumps(
        {
            "inputs": [
                {"name": "age", "shape": [2], "datatype": "INT64", "data": mixed["age"].tolist()},
                {"name": "income", "shape": [2, 1], "datatype": "FP64", "data": mixed["income"].tolist()},
                {"name": "city", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}},
            ]
        }
    ).encode()

    async def block(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(
            "/v2/models/mixed/infer",
            content=header + raw,
            headers={"inference-header-content-length": str(len(header))},
        )

    response = call(app, block)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == registered.mixed.predict(mixed).tolist()


def _split_binary(response: httpx.Response) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A Triton binary answer: its JSON header and each binary output's bytes, by name."""
    length = int(response.headers["inference-header-content-length"])
    header = json.loads(response.content[:length])
    raw, offset = {}, length
    for output in header["outputs"]:
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            raw[output["name"]] = response.content[offset : offset + size]
            offset += size
    assert offset == len(response.content)
    return header, raw


def test_v2_binary_tensor_outputs(app: ServingApp, registered: Registered) -> None:
    head = registered.frame.head(4)
    expected = _expected(registered, 4)
    proba = registered.classifier.predict_proba(head)
    binary = head.to_numpy().astype(np.float64).tobytes()
    tensor = {"name": "input-0", "shape": [4, 30], "datatype": "FP64", "parameters": {"binary_data_size": len(binary)}}

    def infer_body(extra: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        header = json.dumps({"inputs": [tensor], **extra}).encode()
        return header + binary, {"inference-header-content-length": str(len(header))}

    every, every_headers = infer_body(
        {"parameters": {"binary_data_output": True}, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    )
    mixed, mixed_headers = infer_body(
        {
            "parameters": {"binary_data_output": True},
            "outputs": [{"name": "predict_proba", "parameters": {"binary_data": False}}, {"name": "predict"}],
        }
    )
    one, one_headers = infer_body({"outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}}]})
    default, default_headers = infer_body({"parameters": {"binary_data_output": True}})
    bad, bad_headers = infer_body({"outputs": [{"name": "predict", "parameters": {"binary_data": "yes"}}]})

    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
        post = client.post
        return (
            await post("/v2/models/bc/infer", content=every, headers=every_headers),
            await post("/v2/models/bc/infer", content=mixed, headers=mixed_headers),
            await post("/v2/models/bc/infer", content=one, headers=one_headers),
            await post("/v2/models/bc/infer", content=default, headers=default_headers),
            await post("/v2/models/bc/infer", content=bad, headers=bad_headers),
        )

    every_answer, mixed_answer, one_answer, default_answer, bad_answer = call(app, block)

    assert every_answer.status_code == 200, every_answer.text
    assert every_answer.headers["content-type"] == "application/octet-stream"
    header, raw = _split_binary(every_answer)
    assert [(o["name"], o["datatype"], o["shape"]) for o in header["outputs"]] == [
        ("predict", "INT64", [4]),
        ("predict_proba", "FP64", [4, 2]),
    ]
    assert all("data" not in o for o in header["outputs"])
    assert np.frombuffer(raw["predict"], dtype="<i8").tolist() == expected
    assert np.allclose(np.frombuffer(raw["predict_proba"], dtype="<f8").reshape(4, 2), proba, atol=1e-9)

    header, raw = _split_binary(mixed_answer)  # a per-output false overrides the request's true
    by_name = {o["name"]: o for o in header["outputs"]}
    assert list(raw) == ["predict"] and "data" in by_name["predict_proba"]
    assert np.allclose(np.reshape(by_name["predict_proba"]["data"], (4, 2)), proba, atol=1e-6)
    assert np.frombuffer(raw["predict"], dtype="<i8").tolist() == expected

    header, raw = _split_binary(one_answer)
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 4 * 2 * 8}
    header, raw = _split_binary(default_answer)  # no outputs listed: predict, in binary
    assert np.frombuffer(raw["predict"], dtype="<i8").tolist() == expected

    assert bad_answer.status_code == 400 and "binary_data" in bad_answer.json()["error"]


def test_v2_binary_bytes_output_layout() -> None:
    from modelyard.serving.protocols.v2 import _output

    entry, raw = _output("predict", np.asarray(["yes", "né"], dtype=object), binary=True)
    assert entry == {"name": "predict", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 14}}
    assert raw == struct.pack("<I", 3) + b"yes" + struct.pack("<I", 3) + "né".encode()
    entry, raw = _output("predict", np.asarray([True, False]), binary=True)
    assert entry["datatype"] == "BOOL" and raw == b"\x01\x00"


def test_tritonclient_reads_binary_outputs(app: ServingApp, registered: Registered) -> None:
    """Triton's own HTTP client (optional: skipped unless ``tritonclient[http]`` is installed),
    with its defaults: binary inputs and binary outputs, against a real server."""
    triton = pytest.importorskip("tritonclient.http")
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        client = triton.InferenceServerClient(f"127.0.0.1:{port}")
        head = registered.frame.head(5).to_numpy().astype(np.float64)
        x = triton.InferInput("input-0", list(head.shape), "FP64")
        x.set_data_from_numpy(head)  # binary by default
        outputs = [triton.InferRequestedOutput("predict"), triton.InferRequestedOutput("predict_proba")]
        result = client.infer("bc", [x], outputs=outputs)
        assert result.as_numpy("predict").tolist() == _expected(registered, 5)
        assert np.allclose(
            result.as_numpy("predict_proba"), registered.classifier.predict_proba(registered.frame.head(5))
        )
        assert result.get_output("predict")["parameters"]["binary_data_size"] == 5 * 8
    finally:
        server.should_exit = True
        thread.join(timeout=10)
