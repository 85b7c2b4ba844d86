"""Serving: the same scikit-learn model behind four servers, 1-row requests from wrk on loopback.

The model is a LogisticRegression on scikit-learn's breast-cancer data (30 numeric features),
trained once here, registered in a fresh modelyard store and pickled for the peers, each of which
runs in its own virtual environment (.bench/venvs/serving-*):

- modelyard: ``modelyard serve bc@prod --workers 2`` (batching off, then ``--batch`` at c=256; and
  with a null prediction sink, to price the logging hook); and ``serve --deployment`` of the same
  model with prediction logging off and on (Parquet partitions to the artifact store), and with a
  shadow variant, to price logging and shadowing;
- MLflow 3.17: ``mlflow models serve --env-manager local -w 2`` on the model saved by mlflow.sklearn;
- BentoML 1.4: a service with ``workers=2``, plain and with ``batchable=True`` (its adaptive batching);
- the floor: a minimal hand-written FastAPI + uvicorn app, ``--workers 2``.

All servers are started first; then, ``--reps`` times, each in turn gets a 2 s warm-up and ``wrk``
for ``--seconds`` at concurrency 1 and 32 (256 for the batching comparison), so load changes on
the shared machine spread over every server. The table shows medians of requests/s and of p99.
Bodies are each server's natural one-row JSON (an array row where the server takes one; MLflow's
``dataframe_split``). The machine is shared: the load average is printed with the results.

    .venv/bin/python -m benchmarks.serving [--seconds 10] [--reps 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks._venv import BENCH_DIR, REPO_ROOT, ensure_peer_env

WRK_MISSING = (
    "benchmarks.serving: wrk is not installed: `make bench` installs it when run as root "
    "(scripts/wrk.sh), or install it yourself: sudo apt-get install wrk"
)

PEERS_DIR = REPO_ROOT / "benchmarks" / "peers"
MLFLOW = ("mlflow==3.17.2", "scikit-learn==1.9.1")
BENTOML = ("bentoml==1.4.40", "scikit-learn==1.9.1")
FLOOR = ("fastapi==0.165.0", "uvicorn[standard]==0.55.0", "scikit-learn==1.9.1")
#: The batching servers' latency budget at c=256 (a closed loop of 256 clients queues ~0.1 s even
#: at 2,500 req/s, so a tighter budget measures the early 503s rather than the throughput).
MAX_LATENCY_MS = 1000

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("WRK_BODY"), "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"non2xx": %d, "socket_errors": %d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Server:
    name: str
    cmd: list[str]
    health: str
    path: str
    body: bytes
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_", "BENTOML_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", BENTOML_DO_NOT_TRACK="true", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def _train(work: Path) -> tuple[Any, Any, dict[str, str]]:
    """Train, register in a fresh modelyard store, pickle for the peers."""
    from dataclasses import replace

    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from modelyard.registry.service import RegistryService
    from modelyard.settings import load_settings
    from modelyard.store.bundle import open_stores

    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(frame, target)
    settings = replace(load_settings({"MODELYARD_HOME": str(work / "modelyard")}))
    with open_stores(settings) as stores:
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        version = registry.log_model(model, "bc", actor="bench", project="bench", input_example=frame.head())
        registry.set_alias("bc", "prod", version.version, actor="bench")
        from modelyard.serving.deployments import DeploymentService

        deployments = DeploymentService(stores.serving, registry)
        deployments.create("bc-plain", ["main=bc@prod"], actor="bench")
        deployments.create("bc-shadow", ["main=bc@prod", {"name": "chal", "model": "bc@prod", "shadow": True}],
                           actor="bench")  # fmt: skip
    (work / "model.pkl").write_bytes(pickle.dumps(model))
    return model, frame, {"store": settings.store_uri, "artifacts": settings.artifact_uri}


def _start(server: Server, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            server.cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(server.env),
            cwd=server.cwd,
            start_new_session=True,
        )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{server.name} exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(server.health, timeout=2).status_code == 200:
                probe = httpx.post(
                    server.health.rsplit("/", 1)[0] + server.path,
                    content=server.body,
                    headers={"content-type": "application/json"},
                    timeout=30,
                )
                if probe.status_code != 200:
                    raise SystemExit(f"{server.name} answered {probe.status_code}: {probe.text[:300]}")
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    _stop(proc)
    raise SystemExit(f"{server.name} did not become healthy; see {log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the workers it started (its own session)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wrk(url: str, body: Path, script: Path, concurrency: int, seconds: float) -> dict[str, float]:
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        env={**os.environ, "WRK_BODY": str(body)},
        timeout=seconds + 120,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON ") :])
    seconds_run = raw["duration_us"] / 1e6
    ok = raw["requests"] - raw["non2xx"]
    return {
        "rps": ok / seconds_run,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "non2xx": raw["non2xx"],
        "errors": raw["socket_errors"],
        "requests": raw["requests"],
    }


def _servers(work: Path, frame: Any, paths: dict[str, str], peers: dict[str, Path]) -> dict[str, Server]:
    row = frame.head(1).to_numpy().tolist()
    columns = [str(c) for c in frame.columns]
    model_pkl = str(work / "model.pkl")
    modelyard = [
        str(Path(sys.executable)),
        "-m",
        "modelyard.cli.main",
        "serve",
        "bc@prod",
        "--workers",
        "2",
        "--store",
        paths["store"],
        "--artifacts",
        paths["artifacts"],
        "--log-level",
        "warning",
    ]
    src = str(REPO_ROOT / "src")
    my_env = {"PYTHONPATH": os.pathsep.join([src, str(REPO_ROOT)])}

    def ports() -> tuple[int, str]:
        port = _free_port()
        return port, f"http://127.0.0.1:{port}"

    servers: dict[str, Server] = {}
    for name, extra in (
        ("modelyard", []),
        ("modelyard+batch", ["--batch", "--max-batch-rows", "64", "--max-latency-ms", str(MAX_LATENCY_MS)]),
        ("modelyard+null-sink", ["--sink", "benchmarks.peers.serving_sink:null_sink"]),
        ("modelyard+onnx", ["--onnx"]),
    ):
        port, base = ports()
        servers[name] = Server(
            name,
            [*modelyard, "--port", str(port), *extra],
            f"{base}/readyz",
            "/v1/models/bc/predict",
            json.dumps(row).encode(),
            my_env,
            REPO_ROOT,
        )
    for name, deployment, extra in (
        ("deploy", "bc-plain", ["--no-log-predictions"]),
        ("deploy+log", "bc-plain", []),
        ("deploy+shadow", "bc-shadow", ["--no-log-predictions"]),
    ):
        port, base = ports()
        command = [c for c in modelyard if c != "bc@prod"]
        servers[name] = Server(
            name,
            [*command, "--deployment", deployment, "--port", str(port), *extra],
            f"{base}/readyz",
            f"/v1/models/{deployment}/predict",
            json.dumps(row).encode(),
            my_env,
            REPO_ROOT,
        )
    port, base = ports()
    servers["modelyard(records)"] = Server(
        "modelyard(records)",
        [*modelyard, "--port", str(port)],
        f"{base}/readyz",
        "/v1/models/bc/predict",
        frame.head(1).to_json(orient="records").encode(),
        my_env,
        REPO_ROOT,
    )
    mlflow_model = work / "mlflow-model"
    subprocess.run(
        [str(peers["mlflow"]), str(PEERS_DIR / "serving_mlflow.py"), model_pkl, str(mlflow_model)],
        check=True,
        env=_env({}),
        capture_output=True,
    )
    port, base = ports()
    servers["mlflow"] = Server(
        "mlflow",
        [
            str(peers["mlflow"].with_name("mlflow")),
            "models",
            "serve",
            "-m",
            str(mlflow_model),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "2",
        ],
        f"{base}/health",
        "/invocations",
        json.dumps({"dataframe_split": {"columns": columns, "data": row}}).encode(),
        # mlflow starts its server as `uvicorn` from PATH: its own environment's
        {"PATH": os.pathsep.join([str(peers["mlflow"].parent), os.environ.get("PATH", "")])},
    )
    for name, batch in (("bentoml", "0"), ("bentoml+batch", "1")):
        port, base = ports()
        servers[name] = Server(
            name,
            [
                str(peers["bentoml"].with_name("bentoml")),
                "serve",
                "serving_bento:Classifier",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            f"{base}/readyz",
            "/predict",
            json.dumps({"input_data": row}).encode(),
            {"MODEL_PATH": model_pkl, "BENTO_BATCH": batch, "BENTO_MAX_LATENCY_MS": str(MAX_LATENCY_MS)},
            PEERS_DIR,
        )
    port, base = ports()
    servers["floor"] = Server(
        "floor",
        [
            str(peers["floor"].with_name("uvicorn")),
            "serving_floor:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        f"{base}/health",
        "/predict",
        json.dumps(row).encode(),
        {"MODEL_PATH": model_pkl},
        PEERS_DIR,
    )
    return servers


#: (server, concurrencies) in the order they run
PLAN = (
    ("modelyard", (1, 32, 256)),
    ("mlflow", (1, 32)),
    ("bentoml", (1, 32)),
    ("floor", (1, 32)),
    ("modelyard+batch", (256,)),
    ("bentoml+batch", (256,)),
    ("modelyard+null-sink", (32,)),
    ("deploy", (32,)),
    ("deploy+log", (32,)),
    ("deploy+shadow", (32,)),
    ("modelyard(records)", (32,)),
    ("modelyard+onnx", (1, 32)),
)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__() if Path("/proc/loadavg").exists() else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3 s per point, one repetition")
    parser.add_argument("--only", nargs="*", help="servers to run (default: all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.reps = 3.0, 1
    if shutil.which("wrk") is None:  # before the peers' environments are built: they take minutes
        print(WRK_MISSING, file=sys.stderr)
        return 2
    console = Console()
    peers = {
        "mlflow": ensure_peer_env("serving-mlflow", MLFLOW, console=console).python,
        "bentoml": ensure_peer_env("serving-bentoml", BENTOML, console=console).python,
        "floor": ensure_peer_env("serving-floor", FLOOR, console=console).python,
    }
    work = Path(tempfile.mkdtemp(prefix="modelyard-serving-bench-"))
    _, frame, paths = _train(work)
    servers = _servers(work, frame, paths, peers)
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    results: dict[str, dict[int, list[dict[str, float]]]] = {}
    load_before = _load()
    chosen = [(name, cs) for name, cs in PLAN if not args.only or name in args.only]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        # Every server runs for the whole benchmark (idle while another is measured), and the
        # repetitions go round all of them, so a change in the shared machine's load hits every
        # server alike instead of whichever happened to run at that moment.
        for name, _ in chosen:
            console.print(f"  starting {name} ...")
            procs[name] = _start(servers[name], work / f"{name}.log")
            (work / f"{name}.json").write_bytes(servers[name].body)
        for rep in range(args.reps):
            for name, concurrencies in chosen:
                server = servers[name]
                url = server.health.rsplit("/", 1)[0] + server.path
                _wrk(url, work / f"{name}.json", script, 32, 2.0)  # warm-up
                for concurrency in concurrencies:
                    result = _wrk(url, work / f"{name}.json", script, concurrency, args.seconds)
                    results.setdefault(name, {}).setdefault(concurrency, []).append(result)
                    console.print(
                        f"    [{rep + 1}/{args.reps}] {name} c={concurrency}: {result['rps']:,.0f} req/s, "
                        f"p99 {result['p99_ms']:.1f} ms"
                        + (f", {result['non2xx']:,.0f} non-2xx" if result["non2xx"] else "")
                        + (f", {result['errors']:,.0f} socket errors" if result["errors"] else "")
                    )
    finally:
        for proc in procs.values():
            _stop(proc)
    load_after = _load()
    med = {
        (name, c): {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms", "non2xx", "errors")}
        for name, by_c in results.items()
        for c, runs in by_c.items()
    }
    table = Table(title=f"Serving, 1-row requests, 2 workers each; median of {args.reps} x {args.seconds:g} s")
    for col in ("server", "concurrency", "requests/s", "p50 ms", "p99 ms", "non-2xx"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for (name, c), m in med.items():
        table.add_row(
            name, str(c), f"{m['rps']:,.0f}", f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}", f"{m['non2xx']:,.0f}"
        )
    console.print(table)
    _ratios(console, med)
    console.print(f"load average before {load_before}, after {load_after} (2 cores, shared machine)")
    out = BENCH_DIR / "results" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "median": {f"{n}@{c}": m for (n, c), m in med.items()},
                "runs": results,
                "load": [load_before, load_after],
            },
            indent=2,
        )
    )
    return 0


def _ratios(console: Console, med: dict[tuple[str, int], dict[str, float]]) -> None:
    def rps(name: str, c: int) -> float | None:
        return med[(name, c)]["rps"] if (name, c) in med else None

    def line(label: str, ours: float | None, theirs: float | None, target: float, extra: str = "") -> None:
        if ours is None or theirs is None or theirs == 0:
            return
        ratio = ours / theirs
        met = "[green]met[/green]" if ratio >= target else "[red]MISSED[/red]"
        console.print(f"{label}: [bold]{ratio:.2f}x[/bold] (target >= {target:g}x: {met}){extra}")

    my32 = med.get(("modelyard", 32))
    p99 = f"; modelyard p99 {my32['p99_ms']:.1f} ms (target <= 20 ms)" if my32 else ""
    line("modelyard / MLflow, c=32", rps("modelyard", 32), rps("mlflow", 32), 10, p99)
    bento = med.get(("bentoml", 32))
    if my32 and bento:
        p99 = f"; p99 {my32['p99_ms']:.1f} vs {bento['p99_ms']:.1f} ms (target: equal or lower)"
        line("modelyard / BentoML, c=32", my32["rps"], bento["rps"], 1.5, p99)
    line("modelyard / hand-written floor, c=32", rps("modelyard", 32), rps("floor", 32), 0.9)
    line("modelyard / floor, c=1", rps("modelyard", 1), rps("floor", 1), 0.9)
    line("modelyard batched / unbatched, c=256", rps("modelyard+batch", 256), rps("modelyard", 256), 2)
    line("modelyard batched / BentoML batched, c=256", rps("modelyard+batch", 256), rps("bentoml+batch", 256), 1.5)
    line("null prediction sink / none, c=32", rps("modelyard+null-sink", 32), rps("modelyard", 32), 0.9)
    line("deployment: prediction logging on / off, c=32", rps("deploy+log", 32), rps("deploy", 32), 0.9)
    shadow, plain = rps("deploy+shadow", 32), rps("deploy", 32)
    if shadow and plain:
        console.print(f"deployment: with a shadow variant / without, c=32: [bold]{shadow / plain:.2f}x[/bold] "
                      "(the shadow runs the model a second time per request, after the answer)")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
