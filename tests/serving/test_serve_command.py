"""``modelyard serve`` as a user runs it: a real server in a subprocess on a free port with two
worker processes, called over HTTP through all three protocols; and a model whose artifact was
tampered with is never loaded (the command refuses with one line, no traceback)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.core.errors import IntegrityError
from modelyard.registry.service import RegistryService
from modelyard.serving.host import ModelHost
from modelyard.settings import load_settings
from modelyard.store.bundle import open_stores
from tests.serving._client import metric
from tests.serving.conftest import Registered

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(settings: object, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "modelyard.cli.main",
        "serve",
        *args,
        "--store",
        settings.store_uri,  # type: ignore[attr-defined]
        "--artifacts",
        settings.artifact_uri,  # type: ignore[attr-defined]
    ]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}


def test_serve_subprocess_with_two_workers(registered: Registered, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _command(registered.settings, "bc@prod", "--port", str(port), "--workers", "2", "--batch"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:  # the banner comes once every worker has loaded the model
                if (
                    "serving bc@prod on" in log.read_text()
                    and httpx.get(f"{base}/readyz", timeout=2).status_code == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        head = registered.frame.head(4)
        expected = registered.classifier.predict(head).tolist()
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(10):  # connections spread over both workers
                native = client.post("/v1/models/bc/predict", json=head.to_dict(orient="records"))
                assert native.json()["predictions"] == expected
            mlflow = client.post("/invocations", json={"dataframe_records": head.to_dict(orient="records")})
            v2 = client.post(
                "/v2/models/bc/infer",
                json={
                    "inputs": [
                        {"name": "m", "shape": [4, 30], "datatype": "FP64", "data": head.to_numpy().ravel().tolist()}
                    ]
                },
            )
            bad = client.post("/v1/models/bc/predict", json=[{"mean radius": "x"}])
            text = client.get("/metrics").text
        assert mlflow.json() == {"predictions": expected}
        assert v2.json()["outputs"][0]["data"] == expected
        assert bad.status_code == 400
        # metrics of both workers, summed (multiprocess mode)
        assert metric(text, "modelyard_serving_requests_total", endpoint="bc", protocol="native", code="200") == 10
        assert f"serving bc@prod on http://127.0.0.1:{port} (2 workers" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_tampered_artifact_is_never_loaded(tmp_path: Path) -> None:
    settings = replace(load_settings({"MODELYARD_HOME": str(tmp_path / "home")}))
    with open_stores(settings) as stores:
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        x = np.random.default_rng(1).normal(size=(30, 4))
        model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
        version = registry.log_model(model, "victim", actor="t", project="p", input_example=x[:2])
        manifest = stores.artifacts.get_manifest(version.manifest_digest)
        pickled = next(e for e in manifest.entries if e.path.endswith(".pkl"))
        algorithm, hexdigest = pickled.digest.split(":")
        blob = Path(settings.artifact_uri) / "blobs" / algorithm / hexdigest[:2] / hexdigest[2:4] / hexdigest
        data = bytearray(blob.read_bytes())
        data[-2] ^= 0xFF
        blob.chmod(0o644)
        blob.write_bytes(bytes(data))
        with pytest.raises(IntegrityError):
            ModelHost.from_registry(registry, "victim@1")
    result = subprocess.run(
        _command(settings, "victim@1", "--port", str(_free_port())),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "victim" not in result.stdout and "serving" not in result.stdout
    assert "hash" in lines[0].lower() or "integrity" in lines[0].lower() or "corrupt" in lines[0].lower()


def test_serve_a_deployment_logs_and_takes_feedback(registered: Registered, tmp_path: Path) -> None:
    from modelyard.serving.deployments import DeploymentService
    from modelyard.serving.predictions import predictions

    service = DeploymentService(registered.stores.serving, registered.registry)
    service.create("bc-api", ["main=bc@prod"], actor="tester")
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _command(registered.settings, "--deployment", "bc-api", "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        head = registered.frame.head(2)
        with httpx.Client(base_url=base, timeout=30) as client:
            answer = client.post("/v1/models/bc-api/predict", json=head.to_dict(orient="records"))
            assert answer.status_code == 200 and answer.json()["variant"] == "main"
            request_id = answer.headers["x-request-id"]
            feedback = client.post("/v1/feedback", json={"request_id": request_id, "value": [1, 0]})
            assert feedback.status_code == 200, feedback.text
        assert "serving deployment bc-api on" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    frame = predictions(registered.stores, "bc-api")
    assert frame["request_id"].tolist() == [request_id]
    assert frame.iloc[0]["feedback"] == [1, 0] and frame.iloc[0]["model_version"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give models to serve"),
        (["bc@prod", "--deployment", "x"], "not both"),
        (["--deployment", "nosuch"], "not found"),
    ],
)
def test_serve_refuses_bad_deployment_arguments_in_one_line(
    registered: Registered, args: list[str], message: str
) -> None:
    result = subprocess.run(
        _command(registered.settings, *args, "--port", str(_free_port())),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]
