"""The SDK and the CLI, unchanged, against a real ``modelyard server`` (uvicorn, two worker
processes) through ``MODELYARD_STORE_URI=http://127.0.0.1:PORT`` alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

MODELYARD = str(Path(sys.executable).parent / "modelyard")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("remote")
    (root / "server").mkdir()  # the server creates its store file, never a missing directory
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            MODELYARD,
            "server",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--store",
            f"sqlite:///{root / 'server' / 'modelyard.db'}",
            "--artifacts",
            str(root / "server" / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_clean_env(MODELYARD_HOME=str(root / "server-home")),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not start in 60 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


SDK_SCRIPT = textwrap.dedent(
    """
    import json, pathlib, sys
    import modelyard

    modelyard.set_project("remote")
    artifact = pathlib.Path(sys.argv[1])
    artifact.write_bytes(b"weights" * 1000)
    with modelyard.start_run(name="over-http", tags={"team": "a"}) as run:
        modelyard.log_params({"lr": 0.1, "depth": 3})
        for step in range(250):
            modelyard.log_metric("loss", 1.0 / (step + 1), step=step)
        modelyard.log_metric("acc", float("nan"))
        modelyard.log_artifact(str(artifact), "model")
        modelyard.log_text("hello", "notes/readme.txt")
    frame = modelyard.search_runs(filter="params.lr = '0.1' AND metrics.loss < 0.01")
    history = modelyard.get_metric_history(run.id, "loss")
    print(json.dumps({
        "run_id": run.id,
        "found": list(frame["run_id"]),
        "points": len(history),
        "artifacts": [a.path for a in modelyard.list_artifacts(run.id)],
    }))
    """
)


def test_sdk_works_unchanged_over_http(remote: str, tmp_path: Path) -> None:
    url = remote
    home = tmp_path / "client-home"
    env = _clean_env(MODELYARD_STORE_URI=url, MODELYARD_HOME=str(home))
    done = subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT, str(tmp_path / "weights.bin")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    run_id = result["run_id"]
    assert result["found"] == [run_id] and result["points"] == 250
    assert result["artifacts"] == ["model/weights.bin", "notes/readme.txt"]
    # Everything went to the server: the client's home holds no database and no artifacts.
    assert not (home / "modelyard.db").exists() and not (home / "artifacts").exists()
    with httpx.Client(base_url=url, timeout=30) as http:
        got = http.get(f"/api/v1/runs/{run_id}").json()
        assert got["status"] == "FINISHED" and got["params"] == {"lr": "0.1", "depth": "3"}
        assert got["metrics"]["acc"]["value"] == "NaN"
        assert http.get(f"/api/v1/runs/{run_id}/artifacts/model/weights.bin").content == b"weights" * 1000
        assert http.get("/api/v1/metric-points/count", params={"run_id": run_id}).json() == {"count": 251}

    # The CLI, by configuration alone.
    listed = subprocess.run(
        [MODELYARD, "runs", "list", "--project", "remote", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["id"] for r in runs] == [run_id] and runs[0]["params"]["lr"] == "0.1"
    shown = subprocess.run(
        [MODELYARD, "runs", "show", run_id, "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and run_id in shown.stdout, shown.stderr


def test_cli_reports_an_unreachable_server(tmp_path: Path) -> None:
    env = _clean_env(MODELYARD_STORE_URI=f"http://127.0.0.1:{_free_port()}", MODELYARD_HOME=str(tmp_path))
    done = subprocess.run([MODELYARD, "runs", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "unavailable" in (done.stdout + done.stderr) and "Traceback" not in done.stderr


def test_server_refuses_a_bad_store_before_serving(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = subprocess.run(
        [MODELYARD, "server", "--port", str(_free_port()), "--store", f"sqlite:///{blocker}/sub/x.db"],
        env=_clean_env(MODELYARD_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
