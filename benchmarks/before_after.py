"""Before/after: modelyard's own side of the data, tuning and server-load benchmarks, for two
source trees of modelyard, on the same machine, interleaved.

A redesign is judged by whether modelyard got slower, and the peers (MLflow, DVC) do not change
between two commits of modelyard, so only modelyard's side runs: each tree's own side script
(``benchmarks/peers/tuning_side.py``, ``benchmarks/peers/modelyard_data.py``) and the server
(``modelyard server --workers 2``, SQLite) under the same load generator, with ``PYTHONPATH``
pointing at that tree's ``src`` (one interpreter and one set of dependencies for both). Each
repetition runs both trees, alternating which goes first; medians are printed and written to
``.bench/results/before_after-<workload>.json``.

    git worktree add /tmp/before <commit>
    .venv/bin/python -m benchmarks.before_after tuning --before /tmp/before --after . --reps 7
    .venv/bin/python -m benchmarks.before_after data --before /tmp/before --after . --files 20000
    .venv/bin/python -m benchmarks.before_after server_load --before /tmp/before --after . --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks._venv import BENCH_DIR, REPO_ROOT
from benchmarks.data import SIZES, _generate
from benchmarks.server_load import _create_runs, _start, _stored_points

CLIENT_SCRIPT = REPO_ROOT / "benchmarks" / "peers" / "load_clients.py"


def _env(tree: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH"} and not k.startswith(("MODELYARD_", "MLFLOW_"))
    }
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(tree / "src"))
    return env


def _check_tree(tree: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import modelyard; print(modelyard.__file__)"],
        env=_env(tree),
        capture_output=True,
        text=True,
        check=False,
    )
    if not probe.stdout.strip().startswith(str(tree / "src")):
        raise SystemExit(f"{tree}: modelyard does not import from {tree / 'src'}: {probe.stderr.strip()[-300:]}")


def _last_json(proc: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _tuning(tree: Path, args: argparse.Namespace, _work: Path) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="before-after-tune-"))
    try:
        cmd = [
            sys.executable,
            str(tree / "benchmarks/peers/tuning_side.py"),
            "--side",
            "modelyard",
            "--trials",
            str(args.trials),
            "--tmp",
            str(tmp),
        ]
        result = _last_json(subprocess.run(cmd, capture_output=True, text=True, env=_env(tree), check=False), "tuning")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"overhead_ms_per_trial": result["overhead_ms_per_trial"]}


def _data(tree: Path, args: argparse.Namespace, work: Path) -> dict[str, float]:
    row: dict[str, float] = {}
    specs = {
        "big": {"path": str(work / "big" / "big.bin"), "files": 1},
        "many": {"path": str(work / "many" / "files"), "files": args.files, "status_reps": 3},
    }
    for workload, spec in specs.items():
        tmp = Path(tempfile.mkdtemp(prefix="before-after-data-"))
        try:
            cmd = [
                sys.executable,
                str(tree / "benchmarks/peers/modelyard_data.py"),
                "--spec",
                json.dumps(spec),
                "--tmp",
                str(tmp / "work"),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(tree), check=False)
            result = _last_json(proc, f"data {workload}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            os.sync()  # the next side does not pay for this one's writeback
        row[f"{workload}_add_s"] = result["add_s"]
        if workload == "many":
            row["many_status_s"] = statistics.median(result["status_s"])
    return row


def _server_load(tree: Path, args: argparse.Namespace, _work: Path) -> dict[str, float]:
    """``benchmarks.server_load``'s own server start, runs and count, with the tree's ``src`` on
    the server's ``PYTHONPATH`` (it copies this process's environment)."""
    work = Path(tempfile.mkdtemp(prefix="before-after-load-"))
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tree / "src")
    try:
        proc, base, db = _start("modelyard", work, Path(sys.executable))
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    try:
        runs = _create_runs("modelyard", base, args.clients)
        load = [
            sys.executable,
            str(CLIENT_SCRIPT),
            "--tool",
            "modelyard",
            "--base",
            base,
            "--runs",
            ",".join(runs),
            "--processes",
            "4",
            "--batch",
            "100",
            "--seconds",
            str(args.seconds),
        ]
        result = _last_json(subprocess.run(load, capture_output=True, text=True, env=_env(tree), check=False), "load")
        time.sleep(1.0)  # let in-flight transactions settle before counting
        stored = _stored_points(db)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    if stored < result["acked"]:
        raise SystemExit(f"{tree}: {result['acked'] - stored} acknowledged points are missing")
    return {"points_per_s": result["acked"] / result["elapsed"], "errors": result["errors"]}


WORKLOADS = {"tuning": _tuning, "data": _data, "server_load": _server_load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--before", type=Path, required=True, help="a modelyard source tree (a git worktree)")
    parser.add_argument("--after", type=Path, default=REPO_ROOT, help="another one (default: this tree)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--trials", type=int, default=1000, help="tuning: trials per run")
    parser.add_argument("--files", type=int, default=SIZES["quick"]["files"], help="data: small files to add")
    parser.add_argument("--big-mb", type=int, default=200, help="data: size of the one big file")
    parser.add_argument("--seconds", type=float, default=20.0, help="server_load: seconds of load per run")
    parser.add_argument("--clients", type=int, default=32, help="server_load: concurrent clients")
    args = parser.parse_args(argv)
    console = Console()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for tree in trees.values():
        _check_tree(tree)
    work = Path(tempfile.mkdtemp(prefix="before-after-files-"))
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    try:
        if args.workload == "data":
            sizes = {"big_bytes": args.big_mb << 20, "files": args.files, "file_bytes": 50_000, "status_reps": 3}
            _generate(work, sizes, console)
        for rep in range(args.reps):
            for name in list(trees) if rep % 2 == 0 else list(reversed(trees)):
                row = WORKLOADS[args.workload](trees[name], args, work)
                results[name].append(row)
                console.print(f"rep {rep + 1}/{args.reps} {name}: {row}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for name, rows in results.items()}
    for key in medians["before"]:
        before, after = medians["before"][key], medians["after"][key]
        change = f"{(after / before - 1) * 100:+.1f}%" if before else "n/a"
        console.print(f"{key}: before {before:.4g}, after {after:.4g} ({change}), medians of {args.reps}")
    out = BENCH_DIR / "results" / f"before_after-{args.workload}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "results": results,
        "medians": medians,
        "load": os.getloadavg(),
    }
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
