"""The serving runtime: metrics, micro-batching across concurrent requests, the early 503 when the
latency budget cannot be met (a fixed cost model, no clocks involved), ONNX Runtime checked equal
to scikit-learn, endpoints with weighted, sticky and shadow variants feeding a prediction sink."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import numpy as np
import pytest

from modelyard.core.errors import InvalidArgument
from modelyard.serving.app import create_serving_app
from modelyard.serving.batching import BatchConfig, CostModel
from modelyard.serving.endpoint import Endpoint, PredictionRecord, ServedVariant, ServingState
from modelyard.serving.host import ModelHost
from tests.serving._client import call, metric
from tests.serving.conftest import Registered


class ListSink:
    def __init__(self) -> None:
        self.records: list[PredictionRecord] = []

    def offer(self, record: PredictionRecord) -> None:
        self.records.append(record)


def test_metrics_count_requests_errors_and_versions(registered: Registered) -> None:
    app = create_serving_app(["bc@prod"], stores=registered.stores)
    records = registered.frame.head(2).to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> str:
        for _ in range(3):
            await client.post("/v1/models/bc/predict", json=records)
        await client.post("/invocations", json={"dataframe_records": records})
        await client.post("/v1/models/bc/predict", json=[{"x": 1}])
        return (await client.get("/metrics")).text

    text = call(app, block)
    labels = {"endpoint": "bc", "variant": "default"}
    assert metric(text, "modelyard_serving_requests_total", protocol="native", code="200", **labels) == 3
    assert metric(text, "modelyard_serving_requests_total", protocol="mlflow", code="200", **labels) == 1
    assert metric(text, "modelyard_serving_requests_total", protocol="native", code="400", **labels) == 1
    assert metric(text, "modelyard_serving_errors_total", kind="input", **labels) == 1
    assert metric(text, "modelyard_serving_request_seconds_count", **labels) == 4
    assert metric(text, "modelyard_serving_batch_rows_sum", **labels) == 8
    assert metric(text, "modelyard_serving_model_version", model="bc", **labels) == 1


def test_batches_form_across_concurrent_requests(registered: Registered) -> None:
    # max_wait holds an idle batcher until the batch is full: 8 one-row requests -> one 8-row call
    config = BatchConfig(max_batch_rows=8, max_latency_ms=60_000, max_wait_ms=30_000)
    app = create_serving_app(["bc@prod"], stores=registered.stores, batching=config)
    frame = registered.frame.head(8)
    rows = frame.to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> tuple[list[httpx.Response], str]:
        answers = await asyncio.gather(*(client.post("/v1/models/bc/predict", json=[row]) for row in rows))
        return list(answers), (await client.get("/metrics")).text

    answers, text = call(app, block)
    assert [a.json()["predictions"][0] for a in answers] == registered.classifier.predict(frame).tolist()
    labels = {"endpoint": "bc", "variant": "default"}
    calls = metric(text, "modelyard_serving_batch_rows_count", **labels)
    assert calls is not None and metric(text, "modelyard_serving_batch_rows_sum", **labels) == 8
    assert calls < 8  # some model call held more than one request's row
    assert metric(text, "modelyard_serving_batch_rows_bucket", le="4.0", **labels) == 0  # it was one call of 8


def test_a_bad_request_in_a_batch_fails_alone(registered: Registered) -> None:
    config = BatchConfig(max_batch_rows=4, max_latency_ms=60_000, max_wait_ms=30_000)
    host = ModelHost.from_registry(registered.registry, "tens@latest")
    app = create_serving_app([Endpoint.single(host)], batching=config)

    class Picky:  # a model that refuses one value: the batch of four fails, then each is retried alone
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def predict(self, data: Any) -> Any:
            if (np.asarray(data) == 13.0).any():
                raise ValueError("13 is unlucky")
            return self.inner.predict(data)

    host.native = Picky(host.native)
    rows = [[[1.0, 2.0, 3.0]], [[13.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[2.0, 2.0, 2.0]]]

    async def block(client: httpx.AsyncClient) -> list[httpx.Response]:
        return list(await asyncio.gather(*(client.post("/v1/models/tens/predict", json=r) for r in rows)))

    answers = call(app, block)
    assert [a.status_code for a in answers] == [200, 400, 200, 200]
    assert "unlucky" in answers[1].json()["error"]["message"]


def test_requests_that_cannot_meet_the_budget_get_an_early_503(registered: Registered) -> None:
    # the cost model says a batch takes 1 s: a 50 ms budget can never be met
    config = BatchConfig(max_batch_rows=16, max_latency_ms=50, fixed_cost=(1.0, 0.0))
    app = create_serving_app(["bc@prod"], stores=registered.stores, batching=config)
    records = registered.frame.head(1).to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response, httpx.Response, str]:
        native = await client.post("/v1/models/bc/predict", json=records)
        mlflow = await client.post("/invocations", json={"dataframe_records": records})
        v2 = await client.post(
            "/v2/models/bc/infer",
            json={"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}]},
        )
        return native, mlflow, v2, (await client.get("/metrics")).text

    native, mlflow, v2, text = call(app, block)
    assert native.status_code == mlflow.status_code == v2.status_code == 503
    assert int(native.headers["retry-after"]) >= 1
    assert native.json()["error"]["code"] == "UNAVAILABLE" and "budget" in native.json()["error"]["message"]
    assert mlflow.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert metric(text, "modelyard_serving_errors_total", endpoint="bc", variant="default", kind="overloaded") == 3
    assert not metric(text, "modelyard_serving_batch_rows_count", endpoint="bc", variant="default")  # never ran


def test_cost_model_fits_a_line_and_predicts_queue_time() -> None:
    cost = CostModel(warmup=3)
    assert cost.estimate(100) == 0.0  # not warmed up: admits everything
    for rows in (1, 10, 20, 40):
        cost.observe(rows, 0.001 + 0.0001 * rows)
    assert cost.ready
    assert cost.estimate(100) == pytest.approx(0.011, rel=1e-6)


def test_onnx_runtime_gives_scikit_learns_answers(registered: Registered) -> None:
    onnx_host = ModelHost.from_registry(registered.registry, "bc@prod", onnx=True)
    assert onnx_host.runtime == "onnxruntime"
    frame = registered.frame.sample(200, random_state=7)
    sample = frame.to_numpy()
    assert np.array_equal(onnx_host.predict(sample), registered.classifier.predict(frame))
    assert np.allclose(onnx_host.predict(sample, proba=True), registered.classifier.predict_proba(frame), atol=1e-5)
    with pytest.raises(InvalidArgument, match="ONNX Runtime"):
        ModelHost.from_registry(registered.registry, "mixed@1", onnx=True)


def test_onnx_that_disagrees_is_refused(registered: Registered, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.serving import host as host_module

    original = host_module._OnnxRunner.run

    def off_by_one(self: Any, matrix: np.ndarray) -> list[Any]:
        outputs = original(self, matrix)
        return [1 - outputs[0], *outputs[1:]]

    monkeypatch.setattr(host_module._OnnxRunner, "run", off_by_one)
    with pytest.raises(InvalidArgument, match="differ"):
        ModelHost.from_registry(registered.registry, "bc@prod", onnx=True)


def _variants(registered: Registered) -> tuple[ModelHost, ModelHost]:
    return ModelHost.from_registry(registered.registry, "bc@prod"), ModelHost.from_registry(registered.registry, "bc@1")


def test_endpoint_split_sticky_and_validation(registered: Registered) -> None:
    a, b = _variants(registered)
    endpoint = Endpoint("churn", (ServedVariant("blue", a, 90), ServedVariant("green", b, 10)), sticky_key="x-user")
    picks = Counter(endpoint.choose(None)[0].name for _ in range(4000))
    assert 300 <= picks["green"] <= 500  # 10 % of 4000, within a wide tolerance
    sticky = {endpoint.choose(f"user-{i}")[0].name for i in range(3) for _ in range(20)}
    assert all(len({endpoint.choose(f"user-{i}")[0].name for _ in range(20)}) == 1 for i in range(50))
    assert sticky <= {"blue", "green"}
    with pytest.raises(InvalidArgument, match="add up to 90"):
        Endpoint("churn", (ServedVariant("blue", a, 90),))
    with pytest.raises(InvalidArgument, match="only shadow"):
        Endpoint("churn", (ServedVariant("blue", a, 0, shadow=True),))


def test_shadow_sees_the_request_off_the_response_path(registered: Registered) -> None:
    a, b = _variants(registered)
    sink = ListSink()
    state = ServingState(
        [Endpoint("churn", (ServedVariant("live", a), ServedVariant("challenger", b, 0, shadow=True)))]
    )
    app = create_serving_app(state, sink=sink)
    head = registered.frame.head(3)

    async def block(client: httpx.AsyncClient) -> httpx.Response:
        response = await client.post("/v1/models/churn/predict", json=head.to_dict(orient="records"))
        for _ in range(200):  # the shadow runs after the answer
            if len(sink.records) == 2:
                break
            await asyncio.sleep(0.01)
        return response

    response = call(app, block)
    assert response.json()["variant"] == "live"
    assert sorted((r.variant, r.shadow) for r in sink.records) == [("challenger", True), ("live", False)]
    live = next(r for r in sink.records if not r.shadow)
    assert live.request_id == response.json()["request_id"]
    assert live.outputs.tolist() == registered.classifier.predict(head).tolist()
    assert (
        list(live.inputs) == list(head.columns) and live.inputs["mean radius"].tolist() == head["mean radius"].tolist()
    )
    assert (live.model_name, live.model_version, live.status) == ("bc", 1, "ok")


def test_hot_swap_through_the_state(registered: Registered) -> None:
    a, b = _variants(registered)
    state = ServingState([Endpoint.single(a, "churn")])
    app = create_serving_app(state)
    records = registered.frame.head(1).to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> tuple[str, str, int]:
        first = (await client.post("/v1/models/churn/predict", json=records)).json()["variant"]
        state.set_endpoint(Endpoint("churn", (ServedVariant("next", b),)))
        second = (await client.post("/v1/models/churn/predict", json=records)).json()["variant"]
        state.remove_endpoint("churn")
        gone = (await client.post("/v1/models/churn/predict", json=records)).status_code
        return first, second, gone

    assert call(app, block) == ("default", "next", 404)


def test_a_swapped_out_models_batcher_answers_its_queue_then_stops(registered: Registered) -> None:
    a, b = _variants(registered)
    # the batch is held open (max_wait) so the requests are still queued when the swap happens
    config = BatchConfig(max_batch_rows=8, max_latency_ms=600_000, max_wait_ms=300_000)
    state = ServingState([Endpoint.single(a, "churn")])
    app = create_serving_app(state, batching=config)
    rows = registered.frame.head(3).to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> tuple[list[httpx.Response], str, Any]:
        old = state.get("churn")
        batcher = app.batcher(old, old.live[0], False)
        pending = [asyncio.ensure_future(client.post("/v1/models/churn/predict", json=[row])) for row in rows]
        while batcher.queued_rows < 3:
            await asyncio.sleep(0.01)
        state.set_endpoint(Endpoint("churn", (ServedVariant("next", b),)))
        answers = list(await asyncio.gather(*pending))
        after = (await client.get("/v1/models/churn")).json()["variants"][0]["name"]
        for _ in range(500):  # the retired batcher's dispatcher ends once its queue is empty
            if batcher._task is not None and batcher._task.done():
                break
            await asyncio.sleep(0.01)
        return answers, after, batcher

    answers, after, batcher = call(app, block)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.json()["variant"] for a in answers} == {"default"}  # answered by the model they chose
    assert after == "next"
    assert batcher._task.done() and batcher.queued_rows == 0
    assert id(a) not in app._batchers


def test_a_callers_request_id_is_kept_when_it_is_a_plain_token(registered: Registered) -> None:
    app = create_serving_app(["bc@prod"], stores=registered.stores)
    rows = registered.frame.head(1).to_dict(orient="records")

    async def block(client: httpx.AsyncClient) -> list[str]:
        ids = []
        for given in ("order-42:a.b_c", "two words", "x" * 200):
            answer = await client.post("/v1/models/bc/predict", json=rows, headers={"x-request-id": given})
            ids.append(answer.json()["request_id"])
        return ids

    kept, spaced, long = call(app, block)
    assert kept == "order-42:a.b_c"
    assert spaced != "two words" and long != "x" * 200 and len(spaced) == len(long) == 24
