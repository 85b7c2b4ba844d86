"""Prediction-log retention run by the server (``server/background.py``): the server's background
loop prunes every deployment with ``log_retention_days`` (index row and blob gone, recent logs and
deployments without a retention kept); replicas on one database never act on an endpoint whose
maintenance claim another holds."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modelyard.core.serving import DeploymentSpec, VariantSpec
from modelyard.core.tracking import now_millis
from modelyard.server import ServerConfig, create_app
from modelyard.serving.logmaint import DAY_MS
from modelyard.settings import Settings
from modelyard.store.bundle import Stores, open_stores
from tests.contract.test_prediction_log_maintenance_contract import _log, _partitions
from tests.integration.test_monitoring_server import wait


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Stores, dict[str, object]]]:
    """A deployment ``api`` keeping 30 days of logs with a partition of 40 days ago and one of
    an hour ago, ``other`` without a retention with a 40-day-old partition, and a server config
    whose retention runs every 50 ms."""
    uri, artifacts = f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "artifacts")
    with open_stores(Settings(home=tmp_path, store_uri=uri, artifact_uri=artifacts)) as stores:
        spec = DeploymentSpec(variants=(VariantSpec(name="main", model="m", ref="1", version=1, traffic=100),))
        stores.serving.create_deployment("api", spec.model_copy(update={"log_retention_days": 30}), actor="t", at=1)
        stores.serving.create_deployment("other", spec, actor="t", at=1)
        now = now_millis()
        _log(stores, "api", [now - 40 * DAY_MS, now - 3_600_000], 1)
        _log(stores, "other", [now - 40 * DAY_MS], 1, prefix="o")
        config: dict[str, object] = {"store_uri": uri, "artifact_uri": artifacts, "log_retention_interval_s": 0.05}
        yield stores, config


@contextmanager
def servers(config: dict[str, object], count: int) -> Iterator[list[FastAPI]]:
    apps = [create_app(ServerConfig(**config)) for _ in range(count)]  # type: ignore[arg-type]
    with ExitStack() as stack:
        for app in apps:
            stack.enter_context(TestClient(app))
        yield apps


def passes(app: FastAPI) -> int:
    return int(app.state.background.jobs["log-retention"].runs)


def test_the_servers_loop_prunes_expired_partitions_of_deployments_with_a_retention(
    world: tuple[Stores, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    stores, config = world
    (old, recent), (other,) = _partitions(stores), _partitions(stores, "other")
    caplog.set_level(logging.WARNING)
    with servers(config, 1) as (app,):
        wait(lambda: passes(app) >= 2)
    assert _partitions(stores) == [recent]  # the index row is gone
    assert not stores.artifacts.exists(old.digest) and stores.artifacts.exists(recent.digest)  # and the blob
    assert _partitions(stores, "other") == [other] and stores.artifacts.exists(other.digest)  # no retention: kept
    assert stores.serving.list_blob_deletions("api") == []
    assert not [r for r in caplog.records if r.name.startswith("modelyard")]


def test_replicas_leave_an_endpoint_alone_while_another_holds_its_claim(
    world: tuple[Stores, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    stores, config = world
    old, recent = _partitions(stores)
    # A replica in the middle of pruning ``api`` holds its lease (ten minutes from now).
    assert stores.serving.claim_prediction_log("api", owner="replica-0", at=now_millis(), lease_ms=600_000)
    caplog.set_level(logging.WARNING)
    with servers(config, 2) as apps:
        wait(lambda: min(passes(app) for app in apps) >= 3)
        assert _partitions(stores) == [old, recent] and stores.artifacts.exists(old.digest)  # nobody touched it
        stores.serving.release_prediction_log("api", owner="replica-0")
        done = [passes(app) for app in apps]
        wait(lambda: all(passes(app) >= n + 2 for app, n in zip(apps, done, strict=True)))
    assert _partitions(stores) == [recent] and not stores.artifacts.exists(old.digest)
    assert stores.serving.list_blob_deletions("api") == []
    assert not [r for r in caplog.records if r.name.startswith("modelyard")]  # no failed or contended run


def test_predictions_prune_and_compact_against_a_server_url_ask_the_server(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from modelyard.cli.main import app as cli
    from tests.fixtures.live_server import sqlite_server

    with sqlite_server(tmp_path / "server") as (url, app):
        stores = app.state.services.stores
        now = now_millis()
        _log(stores, "api", [now - 40 * DAY_MS, now - 39 * DAY_MS, now - 3_600_000], 1)
        old, older, recent = _partitions(stores)
        runner = CliRunner()
        out = runner.invoke(cli, ["predictions", "compact", "api", "--older-than", "1d", "--json", "--store", url])
        assert out.exit_code == 0, out.output
        assert json.loads(out.output) | {"blobs_deleted": 2} == {
            "endpoint": "api", "replaced": 2, "written": 1, "pruned": 0, "pruned_rows": 0, "blobs_deleted": 2,
            "busy": False,
        }  # fmt: skip
        merged, kept = _partitions(stores)
        assert kept == recent and not stores.artifacts.exists(old.digest) and not stores.artifacts.exists(older.digest)
        out = runner.invoke(cli, ["predictions", "prune", "api", "--older-than", "30d", "--store", url])
        assert out.exit_code == 0 and "api: 1 partition(s) deleted (2 row(s), 1 blob(s))" in out.output, out.output
        assert _partitions(stores) == [recent] and not stores.artifacts.exists(merged.digest)
        out = runner.invoke(cli, ["predictions", "prune", "bad/name", "--older-than", "30d", "--store", url])
        assert out.exit_code != 0 and len(out.output.strip().splitlines()) == 1 and "Traceback" not in out.output
