"""``modelyard serve --ray`` (serving/ray_serve.py) on a local Ray instance: the same app as a Ray
Serve deployment answers the three protocols over HTTP through Ray Serve's proxy exactly as the
in-process app does, and shuts down cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.core.errors import InvalidArgument
from modelyard.serving.app import create_serving_app
from tests.conftest import IN_CI
from tests.serving._client import call
from tests.serving.conftest import Registered


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _requests(registered: Registered) -> list[tuple[str, str, dict[str, Any]]]:
    head = registered.frame.head(4)
    split = json.loads(head.to_json(orient="split"))
    split.pop("index")
    csv = {"content": head.to_csv(index=False), "headers": {"content-type": "text/csv"}}
    per_column = [{"name": c, "shape": [4], "datatype": "FP64", "data": head[c].tolist()} for c in head.columns]
    return [
        ("POST", "/v1/models/bc/predict", {"json": head.to_dict(orient="records")}),
        ("POST", "/v1/models/bc/predict?output=proba", {"json": {"columns": head.to_dict(orient="list")}}),
        ("POST", "/v1/models/bc/predict", csv),
        ("POST", "/invocations", {"json": {"dataframe_split": split}}),
        ("POST", "/v2/models/bc/infer", {"json": {"id": "r1", "inputs": per_column}}),
        ("POST", "/v1/models/bc/predict", {"json": [{"mean radius": "wide"}]}),  # a 4xx, the same one
        ("GET", "/v1/models/bc", {}),
        ("GET", "/v2/models/bc/ready", {}),
    ]


def _ray_could_not_start(output: str) -> bool:
    """Whether a ``serve --ray`` that ended before its banner died inside Ray (no cluster, no
    resources, no port) rather than in modelyard: its last words are Ray's exception."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last.startswith(("ray.", "RuntimeError", "ConnectionError")) and "modelyard" not in last


@contextlib.contextmanager
def _served_on_ray(arguments: list[str], settings: Any, served: str, replicas: int, log: Path) -> Iterator[str]:
    """``modelyard serve ARGUMENTS --ray`` in a subprocess on a free port; yields its URL once the
    banner says it serves ``served`` with ``replicas`` replica(s). SIGTERM on exit; then the
    command must have exited 0, without a traceback, and the port must be closed. Skips (outside
    CI) only when Ray itself could not start."""
    port = _free_port()
    command = [
        sys.executable, "-m", "modelyard.cli.main", "serve", *arguments, "--ray", "--replicas", str(replicas),
        "--cpus-per-replica", "0.25", "--port", str(port),
        "--store", settings.store_uri, "--artifacts", settings.artifact_uri,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while f"serving {served} on Ray Serve at {url} with {replicas} replica(s)" not in log.read_text():
            if proc.poll() is not None and _ray_could_not_start(log.read_text()) and not IN_CI:
                pytest.skip(f"Ray Serve could not start here: {log.read_text().strip().splitlines()[-1]}")
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=5)


def _answer(response: httpx.Response) -> tuple[int, Any]:
    """Status and body, without the request id (each request gets its own; Ray's proxy sends one)."""
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, body


def test_options_are_checked_before_anything_starts() -> None:
    from modelyard.serving.ray_serve import RayServeOptions

    assert RayServeOptions(replicas=3).checked().deployment_options()["num_replicas"] == 3
    scaling = RayServeOptions(replicas=2, min_replicas=1, max_replicas=5).checked().deployment_options()
    assert scaling["autoscaling_config"] == {
        "min_replicas": 1,
        "initial_replicas": 2,
        "max_replicas": 5,
        "target_ongoing_requests": 2.0,
    }
    for bad in (RayServeOptions(replicas=0), RayServeOptions(min_replicas=4, max_replicas=2),
                RayServeOptions(cpus_per_replica=0)):  # fmt: skip
        with pytest.raises(InvalidArgument):
            bad.checked()


@pytest.mark.slow
def test_serve_ray_answers_as_the_local_server_and_shuts_down(registered: Registered, tmp_path: Path) -> None:
    """``modelyard serve --ray`` in a subprocess (a local Ray instance, two replicas): every
    request gets the in-process app's answer through Ray Serve's proxy; SIGTERM stops Ray Serve
    and Ray, and the command exits 0."""
    try:
        from ray import serve  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("ray[serve] is not installed")
        pytest.skip("ray[serve] is not installed")
    requests = _requests(registered)
    local = create_serving_app(["bc@prod"], stores=registered.stores)

    async def block(client: httpx.AsyncClient) -> list[tuple[int, Any]]:
        return [_answer(await client.request(m, p, **kw)) for m, p, kw in requests]

    expected = call(local, block)
    assert expected[0] == (
        200,
        {"predictions": registered.classifier.predict(registered.frame.head(4)).tolist(), "model": "bc",
         "version": 1, "variant": "default"},
    )  # fmt: skip
    assert 400 <= expected[5][0] < 500

    log = tmp_path / "serve.log"
    with (
        _served_on_ray(["bc@prod"], registered.settings, "bc@prod", 2, log) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.get("/readyz").status_code == 200
        answers = [_answer(client.request(m, p, **kw)) for m, p, kw in requests]
        assert answers == expected
        assert client.get("/healthz").json() == {"status": "ok"}
        assert "modelyard_serving_requests_total" in client.get("/metrics").text


def test_serve_ray_options_need_ray(registered: Registered) -> None:
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    result = CliRunner().invoke(app, ["serve", "bc@prod", "--replicas", "3", "--store", registered.settings.store_uri])
    assert result.exit_code == 2 and "need --ray" in result.stderr
    result = CliRunner().invoke(
        app, ["serve", "bc@prod", "--ray", "--workers", "2", "--store", registered.settings.store_uri]
    )
    assert result.exit_code == 2 and "--replicas" in result.stderr


@pytest.mark.slow
def test_serve_ray_deployment_splits_traffic_between_two_versions(tmp_path: Path) -> None:
    """``modelyard serve --ray --deployment NAME``: a deployment with two variants (sticky A/B on
    a request header, 50/50) served by a Ray Serve replica answers each caller from the variant its
    key hashes to (the same bucket as in-process), with that version's predictions, the variant
    and version in the body and the request id in the ``x-request-id`` header; its predictions are
    logged (feedback for them is accepted); SIGTERM stops it cleanly."""
    try:
        from ray import serve  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("ray[serve] is not installed")
        pytest.skip("ray[serve] is not installed")
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from modelyard.registry.service import RegistryService
    from modelyard.serving.deployments import DeploymentService
    from modelyard.serving.endpoint import _bucket
    from modelyard.settings import load_settings
    from modelyard.store.bundle import open_stores

    settings = load_settings({"MODELYARD_HOME": str(tmp_path / "home")})
    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    fitted = {}
    with open_stores(settings) as stores:
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        for version, c in ((1, 1.0), (2, 0.001)):  # two versions that disagree on some rows
            fitted[version] = LogisticRegression(C=c, max_iter=5000).fit(frame, target)
            registry.log_model(fitted[version], "bc", actor="tester", project="serving", input_example=frame.head())
        DeploymentService(stores.serving, registry).create(
            "api", ["a=bc@1:50", "b=bc@2:50"], actor="tester", sticky_key="x-user"
        )
    rows = frame.iloc[:40]
    expected = {v: [m.predict(rows.iloc[[i]]).tolist() for i in range(len(rows))] for v, m in fitted.items()}
    assert expected[1] != expected[2]

    log = tmp_path / "serve.log"
    with _served_on_ray(["--deployment", "api"], settings, "deployment api", 1, log) as url:
        seen: dict[str, str] = {}
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(len(rows)):
                user = f"user-{i}"
                for _attempt in range(2):  # the same caller meets the same variant every time
                    answer = client.post(
                        "/v1/models/api/predict",
                        json=rows.iloc[[i]].to_dict(orient="records"),
                        headers={"x-user": user},
                    )
                    assert answer.status_code == 200, answer.text
                    body = answer.json()
                    variant = "a" if _bucket(user) < 50 else "b"
                    assert (body["variant"], body["version"], body["model"]) == (
                        variant,
                        {"a": 1, "b": 2}[variant],
                        "bc",
                    )
                    assert body["predictions"] == expected[body["version"]][i]
                    assert answer.headers["x-request-id"] == body["request_id"]
                    seen[body["request_id"]] = variant
            assert set(seen.values()) == {"a", "b"}  # 40 callers: both variants take traffic
            assert len(seen) == 2 * len(rows)  # every answer has its own request id
            one = next(iter(seen))
            recorded = client.post("/v1/feedback", json={"request_id": one, "value": 1})
            assert recorded.status_code == 200 and recorded.json() == {"recorded": 1}, recorded.text
            described = client.get("/v1/models/api").json()
            assert [(v["name"], v["model"]["version"]) for v in described["variants"]] == [("a", 1), ("b", 2)]
    with open_stores(settings) as stores:
        assert stores.serving.get_feedback([one])[one].value == 1
