"""Deployments served from the store (``serving/hosting.py``): hot swap under load with zero failed
requests, canary split, sticky A/B, shadow logging, automatic rollback on an error spike,
complete prediction logs and feedback joined by request id."""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelyard.registry.service import RegistryService
from modelyard.serving.deployments import DeploymentService
from modelyard.serving.hosting import DeploymentServer, build_deployment_app
from modelyard.serving.predictions import predictions
from modelyard.settings import Settings
from modelyard.store.bundle import Stores, open_stores
from tests.fixtures.live_server import live_server
from tests.serving._client import metric


class Scaled:
    """A tensor model: the row sum times ``factor`` (versions tell apart by their answers)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype=float).sum(axis=1) * self.factor


class Faulty(Scaled):
    """Fails (a server error) on any row whose first value is above 0.5."""

    def predict(self, data: Any) -> Any:
        array = np.asarray(data, dtype=float)
        if (array[:, 0] > 0.5).any():
            raise RuntimeError("injected failure")
        return super().predict(array)


@dataclass
class World:
    stores: Stores
    registry: RegistryService
    service: DeploymentService


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = Settings(home=tmp_path, store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_uri=str(tmp_path / "a"))
    with open_stores(settings) as stores:
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        example = np.zeros((2, 3))
        for model in (Scaled(1.0), Scaled(2.0), Faulty(3.0)):
            registry.log_model(model, "m", actor="t", project="serving", input_example=example)
        registry.set_alias("m", "champion", 1, actor="t")
        yield World(stores, registry, DeploymentService(stores.serving, registry))


def build(world: World, *names: str, **kw: Any) -> DeploymentServer:
    return build_deployment_app(
        world.stores, names or ("api",), poll_s=0.05, logger_options={"flush_interval_s": 0.05}, **kw
    )


def run(server: DeploymentServer, block: Any) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            try:
                return await block(client)
            finally:
                await asyncio.sleep(0.05)  # let the shadows' background tasks finish
                await server.close()

    return asyncio.run(main())


def body(x: float = 0.1) -> dict[str, Any]:
    return {"ndarray": [[x, 0.0, 0.0]]}


def test_hot_swap_under_load_fails_no_request(world: World) -> None:
    world.service.create("api", ["main=m@champion"], actor="t")
    server = build(world)
    statuses: Counter[int] = Counter()
    versions: Counter[int] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def hammer(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/v1/models/api/predict", json=body(1.0))
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        versions[response.json()["version"]] += 1

    with live_server(server) as url:
        server.start()
        threads = [threading.Thread(target=hammer, args=(url,)) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            _wait(lambda: sum(statuses.values()) > 50)
            world.registry.set_alias("m", "champion", 2, actor="t")  # the deployment follows the alias
            _wait(lambda: versions[2] > 50)
            world.service.update("api", variants=["main=m@1:50", "canary=m@2:50"], actor="t")
            _wait(lambda: server.host.revisions.get("api") == 3)
            before = versions[1]
            _wait(lambda: versions[1] > before + 50)
        finally:
            stop.set()
            for t in threads:
                t.join()
            asyncio.run(server.close())
    assert set(statuses) == {200}, statuses
    assert versions[1] > 50 and versions[2] > 50
    events = world.service.history("api")
    assert [(e.action, e.actor) for e in events] == [("create", "t"), ("refresh", "system:alias"), ("update", "t")]


def _wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_canary_split_is_within_tolerance_and_every_request_is_logged(world: World) -> None:
    world.service.create("api", ["stable=m@1:80", "canary=m@2:20"], actor="t")
    server = build(world)
    random.seed(13)
    n = 1500

    async def block(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        return [(await client.post("/v1/models/api/predict", json=body())).json() for _ in range(n)]

    answers = run(server, block)
    counts = Counter(a["variant"] for a in answers)
    share = counts["canary"] / n
    assert abs(share - 0.2) < 5 * math.sqrt(0.2 * 0.8 / n), counts  # 5 standard errors
    assert {a["variant"]: a["version"] for a in answers} == {"stable": 1, "canary": 2}
    frame = predictions(world.stores, "api")
    assert len(frame) == n and set(frame["request_id"]) == {a["request_id"] for a in answers}
    assert Counter(frame["variant"]) == counts
    assert server.logger is not None and server.logger.dropped == 0


def test_sticky_key_keeps_a_caller_on_one_variant(world: World) -> None:
    world.service.create("api", ["a=m@1:50", "b=m@2:50"], actor="t", sticky_key="x-user")
    server = build(world)

    async def block(client: httpx.AsyncClient) -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        for user in range(40):
            for _ in range(5):
                r = await client.post("/v1/models/api/predict", json=body(), headers={"x-user": f"user-{user}"})
                seen.setdefault(f"user-{user}", set()).add(r.json()["variant"])
        return seen

    seen = run(server, block)
    assert all(len(v) == 1 for v in seen.values())
    assert {next(iter(v)) for v in seen.values()} == {"a", "b"}


def test_shadow_is_logged_and_never_changes_the_answer(world: World) -> None:
    world.service.create("api", ["main=m@1", {"name": "chal", "model": "m@2", "shadow": True}], actor="t")
    server = build(world)

    async def block(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        out = []
        for i in range(30):
            r = await client.post("/v1/models/api/predict", json=body(0.1), headers={"x-request-id": f"req-{i}"})
            out.append(r.json())
        await asyncio.sleep(0.2)
        return out

    answers = run(server, block)
    assert all(a["predictions"] == [pytest.approx(0.1)] and a["variant"] == "main" for a in answers)
    frame = predictions(world.stores, "api")
    shadow = frame[frame["shadow"]]
    assert len(shadow) == 30 and set(shadow["variant"]) == {"chal"}
    assert all(out == [pytest.approx(0.2)] for out in shadow["outputs"])  # the challenger's own answer
    assert set(shadow["request_id"]) == {f"req-{i}" for i in range(30)}


def test_an_error_spike_rolls_the_deployment_back(world: World) -> None:
    world.service.create("api", ["main=m@1"], actor="t")
    world.service.update(
        "api", variants=["main=m@1:50", "canary=m@3:50"], actor="t",
        slo={"max_error_rate": 0.1, "min_requests": 20, "window_s": 60}, auto_rollback=True,
    )  # fmt: skip
    server = build(world)
    random.seed(5)

    async def block(client: httpx.AsyncClient) -> Counter[int]:
        codes: Counter[int] = Counter()
        for _ in range(120):
            codes[(await client.post("/v1/models/api/predict", json=body(0.9))).status_code] += 1
        server.tick()  # what the poll thread does every second: sample the metrics, judge the SLO
        server.host.poll()  # ... and serve the restored revision
        after: Counter[int] = Counter()
        for _ in range(50):
            after[(await client.post("/v1/models/api/predict", json=body(0.9))).status_code] += 1
        text = (await client.get("/metrics")).text
        assert metric(text, "modelyard_serving_requests_total", endpoint="api", variant="canary", code="500")
        return after

    after = run(server, block)
    assert set(after) == {200}  # only the stable version is served again
    current = world.service.get("api")
    assert current.revision == 3 and [v.version for v in current.spec.variants] == [1]
    last = world.service.history("api")[-1]
    assert (last.action, last.actor, last.restored_from) == ("rollback", "system:slo", 1)
    assert "canary" in (last.reason or "") and "error rate" in (last.reason or "")


def test_feedback_route_joins_by_request_id(world: World) -> None:
    world.service.create("api", ["main=m@1"], actor="t")
    server = build(world)

    async def block(client: httpx.AsyncClient) -> list[httpx.Response]:
        ids = [(await client.post("/v1/models/api/predict", json=body())).headers["x-request-id"] for _ in range(3)]
        return [
            await client.post("/v1/feedback", json={"request_id": ids[0], "value": 1}),
            await client.post("/v1/feedback", json=[{"request_id": ids[1], "value": 0}]),
            await client.post("/v1/feedback", json={"request_id": "nope", "value": 0}),
            await client.post("/v1/feedback", content=b"{not json"),
            await client.post("/v1/feedback", json={"request_id": ids[2]}),
            await client.get("/v1/feedback"),
        ]

    ok_one, ok_list, unknown, malformed, no_value, wrong_method = run(server, block)
    assert ok_one.status_code == ok_list.status_code == 200 and ok_one.json() == {"recorded": 1}
    assert unknown.status_code == 404 and unknown.json()["error"]["request_ids"] == ["nope"]
    assert malformed.status_code == no_value.status_code == 400
    assert wrong_method.status_code == 405
    frame = predictions(world.stores, "api")
    assert sorted(frame["feedback"].dropna().tolist()) == [0, 1] and frame["feedback"].isna().sum() == 1


def test_failed_requests_are_logged_with_their_error(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.service.create("api", ["main=m@3"], actor="t")  # Faulty: rows starting above 0.5 fail
    server = build(world)
    plan = ["ok", "model", "input", "ok", "model", "input", "ok"] * 4

    async def block(client: httpx.AsyncClient) -> list[tuple[str, int, str]]:
        sent = []
        for i, kind in enumerate(plan):
            payload = {"ok": body(0.1), "model": body(1.0), "input": {"ndarray": [[0.1, 0.0]]}}[kind]
            r = await client.post("/v1/models/api/predict", json=payload, headers={"x-request-id": f"req-{i}"})
            sent.append((kind, r.status_code, f"req-{i}"))
        # not logged: no known endpoint was reached
        assert (await client.post("/v1/models/nope/predict", json=body())).status_code == 404
        return sent

    sent = run(server, block)
    assert {kind: code for kind, code, _ in sent} == {"ok": 200, "model": 500, "input": 400}
    frame = predictions(world.stores, "api")
    assert len(frame) == len(plan)
    rows = {r["request_id"]: r for r in frame.to_dict("records")}
    for kind, _, request_id in sent:
        row = rows[request_id]
        assert row["status"] == ("ok" if kind == "ok" else "error"), (kind, row)
        assert row["variant"] == "main" and row["model_version"] == 3 and not row["shadow"]
        if kind == "ok":
            assert row["error"] is None and row["outputs"] == [pytest.approx(0.3)]
        else:
            assert row["outputs"] is None and row["error"]
    assert any("injected failure" in r["error"] for r in rows.values() if r["error"])
    assert server.logger is not None and server.logger.dropped == 0
    # the CLI's table shows a failed request's error where the output would be
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    monkeypatch.setenv("MODELYARD_STORE_URI", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.setenv("MODELYARD_ARTIFACT_URI", str(tmp_path / "a"))
    monkeypatch.setenv("COLUMNS", "400")
    result = CliRunner().invoke(app, ["predictions", "show", "api", "--limit", "100"])
    assert result.exit_code == 0 and "injected failure" in result.output, result.output


def test_a_serving_process_over_a_servers_stores_leaves_retention_to_the_server(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    world.service.create("api", ["m@1"], actor="t", log_retention_days=30)
    assert build(world, log_predictions=False).retention is not None  # a database's stores: the process prunes
    caplog.set_level("WARNING", logger="modelyard.serving.hosting")
    server = build_deployment_app(replace(world.stores, remote=True), ["api"], log_predictions=False)
    said = [r.getMessage() for r in caplog.records if "log retention" in r.getMessage()]
    assert server.retention is None and len(said) == 1 and "modelyard server" in said[0]
