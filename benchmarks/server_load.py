"""Server load: 32 concurrent clients log metric batches to one server for 60 s.

modelyard's server (`modelyard server --workers 2`, SQLite) and MLflow's tracking server (its own
virtual environment under .bench/venvs, SQLite backend, `--workers 2`) get the same load from the
same generator (4 processes x 8 threads, one run per client, batches of 100 points). Afterwards
the points stored are counted in each database directly: nothing acknowledged may be missing.
Prints points/s for each, errors, lost points and the ratio (target >= 10x).

    .venv/bin/python -m benchmarks.server_load [--seconds 60] [--clients 32] [--reps 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks._venv import BENCH_DIR, REPO_ROOT, ensure_peer_env

MLFLOW_VERSION = "3.17.2"
CLIENT_SCRIPT = REPO_ROOT / "benchmarks" / "peers" / "load_clients.py"
TARGET = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def modelyard_server_command(port: int, workers: int, store_uri: str, artifacts: Path) -> list[str]:
    """``modelyard server`` on 127.0.0.1:``port`` (this environment's, warnings only)."""
    flags = f"--host 127.0.0.1 --port {port} --workers {workers} --log-level warning".split()
    exe = str(Path(sys.executable).with_name("modelyard"))
    return [exe, "server", *flags, "--store", store_uri, "--artifacts", str(artifacts)]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1")
    return env


def _wait(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not become healthy")


def _start(tool: str, work: Path, mlflow_python: Path) -> tuple[subprocess.Popen, str, Path]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    db = work / f"{tool}.db"
    log = open(work / f"{tool}.log", "wb")  # noqa: SIM115 - closed with the process
    if tool == "modelyard":
        cmd = modelyard_server_command(port, 2, f"sqlite:///{db}", work / "artifacts")
        health = f"{base}/healthz"
    else:
        cmd = [
            str(mlflow_python.with_name("mlflow")),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--default-artifact-root",
            str(work / "mlartifacts"),
        ]
        health = f"{base}/health"
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=work)
    _wait(health, proc)
    return proc, base, db


def _create_runs(tool: str, base: str, n: int) -> list[str]:
    with httpx.Client(base_url=base, timeout=60) as client:
        if tool == "modelyard":
            project = client.post("/api/v1/projects/get-or-create", json={"name": "load"}).json()["id"]
            return [
                client.post("/api/v1/runs", json={"project_id": project, "name": f"c{i}"}).json()["id"]
                for i in range(n)
            ]
        exp = client.post("/api/2.0/mlflow/experiments/create", json={"name": "load"}).json()["experiment_id"]
        runs = []
        for _ in range(n):
            body = {"experiment_id": exp, "start_time": int(time.time() * 1000)}
            runs.append(client.post("/api/2.0/mlflow/runs/create", json=body).json()["run"]["info"]["run_id"])
        return runs


def _stored_points(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0])


def run_once(tool: str, args: argparse.Namespace, mlflow_python: Path, console: Console) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"modelyard-load-{tool}-"))
    proc, base, db = _start(tool, work, mlflow_python)
    try:
        run_ids = _create_runs(tool, base, args.clients)
        console.print(f"  {tool}: {args.clients} clients for {args.seconds:.0f} s ...")
        out = subprocess.run(
            [
                sys.executable,
                str(CLIENT_SCRIPT),
                "--tool",
                tool,
                "--base",
                base,
                "--runs",
                ",".join(run_ids),
                "--processes",
                str(args.processes),
                "--batch",
                str(args.batch),
                "--seconds",
                str(args.seconds),
            ],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=args.seconds + 900,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        time.sleep(1.0)  # let in-flight transactions settle before counting
        result["stored"] = _stored_points(db)
        result["lost"] = max(result["acked"] - result["stored"], 0)
        result["points_per_s"] = result["acked"] / result["elapsed"]
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10 s per tool")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 10.0
    console = Console()
    peer = ensure_peer_env(f"mlflow-{MLFLOW_VERSION}", (f"mlflow=={MLFLOW_VERSION}",), console=console)
    results: dict[str, list[dict]] = {"modelyard": [], "mlflow": []}
    for rep in range(args.reps):
        for tool in ["modelyard", "mlflow"] if rep % 2 == 0 else ["mlflow", "modelyard"]:
            results[tool].append(run_once(tool, args, peer.python, console))
    table = Table(
        title=f"Server load: {args.clients} clients x {args.seconds:.0f} s, batches of {args.batch} "
        f"(median of {args.reps})"
    )
    for col in ("server", "points/s", "acked", "stored", "lost", "errors", "requests"):
        table.add_column(col, justify="left" if col == "server" else "right")
    med = {}
    for tool, rs in results.items():
        med[tool] = statistics.median(r["points_per_s"] for r in rs)
        last = rs[-1]
        table.add_row(
            tool,
            f"{med[tool]:,.0f}",
            f"{last['acked']:,}",
            f"{last['stored']:,}",
            str(last["lost"]),
            str(last["errors"]),
            f"{last['requests']:,}",
        )
    console.print(table)
    ratio = med["modelyard"] / med["mlflow"] if med["mlflow"] else float("inf")
    met = "[green]met[/green]" if ratio >= TARGET else "[red]MISSED[/red]"
    console.print(f"ratio (modelyard / MLflow points/s): [bold]{ratio:.1f}x[/bold] (target >= {TARGET:.0f}x: {met})")
    out = BENCH_DIR / "results" / "server_load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
