"""The SLO judged per deployment across workers: each worker publishes its counts to the store and
one judge, holding the deployment's lease, rolls it back once — even when no worker alone has seen
enough requests to judge."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelyard.registry.service import RegistryService
from modelyard.serving.deployments import DeploymentService
from modelyard.serving.hosting import DeploymentServer, build_deployment_app
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.slo import CountWindows, local_counts
from modelyard.settings import Settings
from modelyard.store.bundle import Stores, open_stores
from tests.serving.test_deployments_live import Faulty, Scaled, body


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    settings = Settings(home=tmp_path, store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_uri=str(tmp_path / "a"))
    with open_stores(settings) as opened:
        registry = RegistryService(opened.registry, opened.tracking, opened.artifacts)
        for model in (Scaled(1.0), Faulty(3.0)):
            registry.log_model(model, "m", actor="t", project="serving", input_example=np.zeros((2, 3)))
        yield opened


def _worker(stores: Stores) -> DeploymentServer:
    return build_deployment_app(stores, ("api",), poll_s=0.05, log_predictions=False, retention_every_s=None)


def _send(server: DeploymentServer, n: int, endpoint: str = "api") -> list[int]:
    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            url = f"/v1/models/{endpoint}/predict"
            return [(await client.post(url, json=body(0.9))).status_code for _ in range(n)]

    return asyncio.run(main())


def test_an_error_spike_split_over_two_workers_rolls_back_once(stores: Stores) -> None:
    service = DeploymentService(stores.serving, RegistryService(stores.registry, stores.tracking, stores.artifacts))
    service.create("api", ["main=m@1"], actor="t")
    service.update(
        "api", variants=["canary=m@2"], actor="t",
        slo={"max_error_rate": 0.1, "min_requests": 40, "window_s": 60}, auto_rollback=True,
    )  # fmt: skip
    a, b = _worker(stores), _worker(stores)
    # 30 failing requests each: alone below min_requests (never judged per worker), together 60
    assert set(_send(a, 30)) == {500} and set(_send(b, 30)) == {500}
    for _ in range(3):  # what each worker's poll thread does every second
        a.tick()
        b.tick()
    events = [e for e in service.history("api") if e.action == "rollback"]
    assert len(events) == 1
    assert events[0].actor == "system:slo" and "60 requests" in (events[0].reason or "")
    assert len(a.rollback.rollbacks) + len(b.rollback.rollbacks) == 1  # type: ignore[union-attr]
    assert [v.version for v in service.get("api").spec.variants] == [1]


def test_only_deployments_with_an_slo_publish_counts(stores: Stores) -> None:
    service = DeploymentService(stores.serving, RegistryService(stores.registry, stores.tracking, stores.artifacts))
    service.create("api", ["main=m@1"], actor="t", slo={"max_error_rate": 0.5, "min_requests": 1000})
    service.create("plain", ["main=m@1"], actor="t")
    worker = build_deployment_app(stores, ("api", "plain"), poll_s=0.05, log_predictions=False, retention_every_s=None)
    assert set(_send(worker, 3)) == {200} and set(_send(worker, 3, "plain")) == {200}
    worker.tick()
    assert len(stores.serving.read_slo_counts("api")) == 1
    assert stores.serving.read_slo_counts("plain") == {}  # no SLO: nothing written, tick after tick
    service.update("plain", actor="t", slo={"max_p99_ms": 1000})  # given one: counted from the next tick
    worker.host.poll()
    worker.tick()
    [published] = stores.serving.read_slo_counts("plain").values()
    assert published["variants"]["main"][0] == 3


def test_one_judge_holds_the_lease(stores: Stores) -> None:
    serving = stores.serving
    assert serving.claim_slo_judge("api", owner="w1", at=1000, lease_ms=5000)
    assert not serving.claim_slo_judge("api", owner="w2", at=2000, lease_ms=5000)
    assert serving.claim_slo_judge("api", owner="w1", at=4000, lease_ms=5000)  # renewed to 9000
    assert not serving.claim_slo_judge("api", owner="w2", at=8999, lease_ms=5000)
    assert serving.claim_slo_judge("api", owner="w2", at=9001, lease_ms=5000)  # expired: taken over
    assert not serving.claim_slo_judge("api", owner="w1", at=9002, lease_ms=5000)


def test_published_counts_are_per_worker_and_replaced(stores: Stores) -> None:
    serving = stores.serving
    serving.publish_slo_counts("api", "w1", {"variants": {"main": [3, 1, [3]]}}, at=1)
    serving.publish_slo_counts("api", "w2", {"variants": {"main": [5, 0, [5]]}}, at=1)
    serving.publish_slo_counts("api", "w1", {"variants": {"main": [4, 1, [4]]}}, at=2)
    assert serving.read_slo_counts("api") == {
        "w1": {"variants": {"main": [4, 1, [4]]}},
        "w2": {"variants": {"main": [5, 0, [5]]}},
    }
    assert serving.read_slo_counts("other") == {}


def test_windows_count_a_worker_from_when_it_started() -> None:
    now = [100.0]
    metrics = ServingMetrics()
    metrics.started = 95.0  # started inside the 60 s window: all its counts are in it
    windows = CountWindows(local_counts(metrics), clock=lambda: now[0])
    for _ in range(10):
        metrics.request("api", "main", "native", 500, 0.004)
    windows.sample()
    stats = windows.stats("api", 60)["main"]
    assert (stats.requests, stats.errors, stats.p99_ms) == (10, 10, 5.0)
    old = ServingMetrics()
    old.started = 0.0  # older than the window, first seen now: only what follows counts
    for _ in range(7):
        old.request("api", "main", "native", 200, 0.001)
    windows = CountWindows(local_counts(old), clock=lambda: now[0])
    windows.sample()
    now[0] = 101.0
    old.request("api", "main", "native", 200, 0.001)
    windows.sample()
    assert windows.stats("api", 60)["main"].requests == 1
