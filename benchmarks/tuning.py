"""Tuning benchmark: tracking overhead per Optuna trial, modelyard.tune vs Optuna's MLflowCallback.

Both run N trials of a trivial objective with the same seeded RandomSampler; each side also runs
a bare Optuna study of the same N trials in the same process, and the overhead per trial is
(tracked - bare) / N. MLflow (SQLite backend) and optuna-integration live in their own virtual
environment under .bench/venvs. Prints medians over --reps and the ratio (target: >= 10x less
overhead per trial for modelyard).

    .venv/bin/python -m benchmarks.tuning [--trials 1000] [--reps 3] [--quick]
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
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks._venv import BENCH_DIR, REPO_ROOT, ensure_peer_env

MLFLOW_VERSION = "3.17.2"
PEER_REQUIREMENTS = (f"mlflow=={MLFLOW_VERSION}", "optuna==4.9.0", "optuna-integration==5.0.0")
SIDE_SCRIPT = REPO_ROOT / "benchmarks" / "peers" / "tuning_side.py"
TARGET = 10.0


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH"} and not k.startswith(("MODELYARD_", "MLFLOW_"))
    }
    env.update(PYTHONUNBUFFERED="1", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
    return env


def run_side(python: Path, side: str, trials: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"modelyard-tune-{side}-"))
    try:
        proc = subprocess.run(
            [str(python), str(SIDE_SCRIPT), "--side", side, "--trials", str(trials), "--tmp", str(tmp)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=3600,
            check=False,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{side} side failed:\n{proc.stderr[-3000:]}")
    result: dict = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 trials, 1 repetition")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.reps = 200, 1
    console = Console()
    peer = ensure_peer_env(f"optuna-mlflow-{MLFLOW_VERSION}", PEER_REQUIREMENTS, console=console)
    results: dict[str, list[dict]] = {"modelyard": [], "mlflow": []}
    for rep in range(args.reps):
        order = ["modelyard", "mlflow"] if rep % 2 == 0 else ["mlflow", "modelyard"]
        for side in order:
            python = Path(sys.executable) if side == "modelyard" else peer.python
            console.print(f"rep {rep + 1}/{args.reps}: {side}, {args.trials} trials ...")
            results[side].append(run_side(python, side, args.trials))
    med = {side: statistics.median(r["overhead_ms_per_trial"] for r in rs) for side, rs in results.items()}
    ratio = med["mlflow"] / med["modelyard"]
    table = Table(title=f"Tuning: tracking overhead per trial ({args.trials} trials, median of {args.reps})")
    for col in ("side", "overhead ms/trial", "tracked s", "bare optuna s", "runs recorded"):
        table.add_column(col, justify="right" if col != "side" else "left")
    for side, rs in results.items():
        table.add_row(
            side,
            f"{med[side]:.3f}",
            f"{statistics.median(r['tracked_s'] for r in rs):.2f}",
            f"{statistics.median(r['bare_s'] for r in rs):.2f}",
            str(rs[-1]["recorded_runs"]),
        )
    console.print(table)
    met = "[green]met[/green]" if ratio >= TARGET else "[red]MISSED[/red]"
    console.print(
        f"ratio (MLflow overhead / modelyard overhead): [bold]{ratio:.1f}x[/bold] (target >= {TARGET:.0f}x: {met})"
    )
    out = BENCH_DIR / "results" / "tuning.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "trials": args.trials,
                "reps": args.reps,
                "results": results,
                "median": med,
                "ratio": ratio,
                "mlflow_version": MLFLOW_VERSION,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
