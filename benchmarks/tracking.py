"""Tracking benchmark: modelyard against MLflow, on the same work, in one run.

    .venv/bin/python -m benchmarks.tracking            # full run, 3 repetitions
    .venv/bin/python -m benchmarks.tracking --quick    # small sizes, a smoke run
    .venv/bin/python -m benchmarks.tracking --only search --reps 5

Each side runs in its own process (MLflow in its own virtual environment under ``.bench/venvs``,
created on first use) with a fresh SQLite database for every repetition; the table shows medians.
Results go to ``.bench/results/tracking.json``. A missed target is reported, not an error: exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

try:
    from benchmarks._venv import BENCH_DIR, REPO_ROOT, ensure_peer_env
except ModuleNotFoundError:  # run as a script: benchmarks/ itself is on sys.path
    from _venv import BENCH_DIR, REPO_ROOT, ensure_peer_env  # type: ignore[no-redef]

MLFLOW_VERSION = "3.17.2"  # newest MLflow 3.x installable here (3.18.0's mlflow-skinny is not published)
MLFLOW_REQUIREMENTS = (f"mlflow=={MLFLOW_VERSION}",)  # full mlflow: mlflow-skinny lacks SQLAlchemy/alembic
PEERS_DIR = Path(__file__).resolve().parent / "peers"
RESULTS_FILE = BENCH_DIR / "results" / "tracking.json"
WORKLOADS = ("log_metric", "log_batch", "search")
SIDE_TIMEOUT_S = 3 * 3600

SIZES: dict[str, dict[str, dict[str, int]]] = {
    "full": {
        "log_metric": {"points": 10_000},
        "log_batch": {"runs": 10, "keys": 20, "steps": 5_000, "batch": 1_000, "big_batch": 10_000},
        "search": {"runs": 10_000},
    },
    "quick": {
        "log_metric": {"points": 1_000},
        "log_batch": {"runs": 10, "keys": 5, "steps": 1_000, "batch": 1_000, "big_batch": 10_000},
        "search": {"runs": 1_000},
    },
}


@dataclass
class Side:
    name: str
    python: Path | None
    script: Path
    env: dict[str, str]
    unavailable: str | None = None


@dataclass
class Row:
    workload: str
    what: str
    unit: str  # "pts/s", "s" or "us"
    higher_is_better: bool
    modelyard: list[float] = field(default_factory=list)
    mlflow: list[float] = field(default_factory=list)
    target_ratio: float | None = None  # modelyard must be this many times better than MLflow
    target_abs: float | None = None  # modelyard's median must be below this (unit of the row)
    note: str = ""

    def median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    @property
    def ratio(self) -> float | None:
        my, ml = self.median(self.modelyard), self.median(self.mlflow)
        if my is None or ml is None or my == 0 or ml == 0:
            return None
        return my / ml if self.higher_is_better else ml / my

    @property
    def met(self) -> bool | None:
        if self.target_abs is not None:
            my = self.median(self.modelyard)
            return None if my is None else my < self.target_abs
        if self.target_ratio is not None:
            r = self.ratio
            return None if r is None else r >= self.target_ratio
        return None

    @property
    def target(self) -> str:
        if self.target_abs is not None:
            return f"< {self.target_abs:g} {'µs' if self.unit == 'us' else self.unit}"
        if self.target_ratio is not None:
            return f"≥ {self.target_ratio:g}×"
        return "info"

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "what": self.what,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "modelyard": self.modelyard,
            "mlflow": self.mlflow,
            "modelyard_median": self.median(self.modelyard),
            "mlflow_median": self.median(self.mlflow),
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "pts/s":
        return f"{value:,.0f} pts/s"
    if unit == "us":
        return f"{value:,.1f} µs" if value < 10_000 else f"{value / 1000:,.1f} ms"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    return f"{value:g} {unit}"


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
        and not k.startswith(("MODELYARD_", "MLFLOW_"))
    }
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def _modelyard_unavailable(python: str) -> str | None:
    probe = [python, "-c", "import modelyard; modelyard.TrackingClient; modelyard.search_runs"]
    proc = subprocess.run(probe, capture_output=True, text=True, env=_child_env({}), check=False)
    if proc.returncode == 0:
        return None
    last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
    return f"modelyard SDK not usable: {last}"


def _run_side(side: Side, spec: dict[str, Any], console: Console) -> dict[str, Any] | None:
    """Run one side on one workload in a fresh temp dir; its JSON result, or None on failure."""
    if side.python is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix=f"modelyard-bench-{side.name}-"))
    try:
        cmd = [str(side.python), str(side.script), "--spec", json.dumps(spec), "--tmp", str(tmp / "work")]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=side.env, timeout=SIDE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        console.print(f"[red]✗ {side.name} {spec['workload']}: timed out after {SIDE_TIMEOUT_S} s[/red]")
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        console.print(f"[red]✗ {side.name} {spec['workload']} failed (exit {proc.returncode}):[/red]\n{tail}")
        return None
    result: dict[str, Any] = json.loads(lines[-1])
    if not result.get("ok", True):
        console.print(f"[yellow]! {side.name} {spec['workload']}: result check failed: {result}[/yellow]")
    return result


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem_gib = round(kb / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "modelyard_commit": commit or None,
    }


def _collect(rows: dict[str, Row], side: str, result: dict[str, Any] | None, keys: dict[str, str]) -> None:
    """Append ``result[field]`` (a number or a list of per-repetition numbers) to each row."""
    if result is None:
        return
    for row_key, result_field in keys.items():
        if result_field not in result:
            continue
        value = result[result_field]
        target = getattr(rows[row_key], side)
        target.extend(value if isinstance(value, list) else [value])


def build_rows(sizes: dict[str, dict[str, int]]) -> dict[str, Row]:
    lm, lb, se = sizes["log_metric"], sizes["log_batch"], sizes["search"]
    pts = lb["runs"] * lb["keys"] * lb["steps"]
    return {
        "lm_rate": Row("log_metric", f"{lm['points']:,} per-call points, incl. flush", "pts/s", True, target_ratio=100),
        "lm_p99": Row("log_metric", "p99 time one call blocks", "us", False, target_abs=50),
        "lm_async_p99": Row(
            "log_metric",
            "p99 call block, MLflow synchronous=False",
            "us",
            False,
            note="MLflow's async mode vs modelyard's default",
        ),
        "lm_async_rate": Row(
            "log_metric",
            "per-call pts/s, MLflow synchronous=False",
            "pts/s",
            True,
            note="MLflow's async mode vs modelyard's default",
        ),
        "lb_rate": Row("log_batch", f"{pts:,} pts, batches of {lb['batch']:,}", "pts/s", True, target_ratio=10),
        "lb_big": Row(
            "log_batch",
            f"modelyard batches of {lb['big_batch']:,} (MLflow: {lb['batch']:,})",
            "pts/s",
            True,
            note="MLflow caps a batch at 1,000 metrics",
        ),
        "se_top": Row(
            "search", f"filter + order + top 100 of {se['runs']:,} runs → DataFrame", "s", False, target_ratio=20
        ),
        "se_top_client": Row(
            "search",
            "top 100, MLflow MlflowClient.search_runs (list)",
            "s",
            False,
            note="MLflow's non-DataFrame API vs modelyard's DataFrame",
        ),
        "se_all": Row("search", f"all {se['runs']:,} runs → DataFrame", "s", False, target_ratio=10),
        "se_top_cold": Row(
            "search", "top 100, first query of the process (cold)", "s", False, note="one sample per tool"
        ),
        "se_all_cold": Row(
            "search", "all runs → DataFrame, first query (cold)", "s", False, note="one sample per tool"
        ),
    }


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    sizes = SIZES["quick" if args.quick else "full"]
    workloads = [args.only] if args.only else list(WORKLOADS)
    rows = build_rows(sizes)

    mlflow_env = ensure_peer_env(f"mlflow-{MLFLOW_VERSION}", MLFLOW_REQUIREMENTS, console=console)
    project_python = sys.executable
    sides = {
        "modelyard": Side(
            "modelyard",
            Path(project_python),
            PEERS_DIR / "modelyard_tracking.py",
            _child_env({}),
            unavailable=_modelyard_unavailable(project_python),
        ),
        "mlflow": Side(
            "mlflow",
            mlflow_env.python,
            PEERS_DIR / "mlflow_tracking.py",
            _child_env({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}),
        ),
    }
    if sides["modelyard"].unavailable:
        console.print(f"[bold yellow]! {sides['modelyard'].unavailable} — running the MLflow side only[/]")
        sides["modelyard"].python = None

    raw: dict[str, list[dict[str, Any]]] = {}

    def both(label: str, rep: int, specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
        """One repetition of both sides; the side that goes first alternates between repetitions."""
        order = ["modelyard", "mlflow"] if rep % 2 == 0 else ["mlflow", "modelyard"]
        out: dict[str, dict[str, Any] | None] = {}
        for name in order:
            if name not in specs or sides[name].python is None:
                continue
            with console.status(f"{label} rep {rep + 1}/{args.reps}: [bold]{name}[/bold] …"):
                t = time.perf_counter()
                out[name] = _run_side(sides[name], specs[name], console)
            if out[name] is not None:
                raw.setdefault(label, []).append(
                    {"side": name, "rep": rep, "wall_s": time.perf_counter() - t, **out[name]}
                )
        return out

    if "log_metric" in workloads:
        spec = {"workload": "log_metric", **sizes["log_metric"]}
        for rep in range(args.reps):
            res = both("log_metric", rep, {"modelyard": spec, "mlflow": spec})
            for side in ("modelyard", "mlflow"):
                _collect(rows, side, res.get(side), {"lm_rate": "points_per_s", "lm_p99": "call_p99_us"})
            _collect(
                rows,
                "modelyard",
                res.get("modelyard"),
                {"lm_async_rate": "points_per_s", "lm_async_p99": "call_p99_us"},
            )
            if args.extras:
                res = both("log_metric_mlflow_async", rep, {"mlflow": {**spec, "async": True}})
                _collect(
                    rows, "mlflow", res.get("mlflow"), {"lm_async_rate": "points_per_s", "lm_async_p99": "call_p99_us"}
                )

    if "log_batch" in workloads:
        lb = sizes["log_batch"]
        spec = {"workload": "log_batch", **{k: lb[k] for k in ("runs", "keys", "steps", "batch")}}
        for rep in range(args.reps):
            res = both("log_batch", rep, {"modelyard": spec, "mlflow": spec})
            for side in ("modelyard", "mlflow"):
                _collect(rows, side, res.get(side), {"lb_rate": "points_per_s"})
            _collect(rows, "mlflow", res.get("mlflow"), {"lb_big": "points_per_s"})
            if args.extras:
                res = both("log_batch_big", rep, {"modelyard": {**spec, "batch": lb["big_batch"]}})
                _collect(rows, "modelyard", res.get("modelyard"), {"lb_big": "points_per_s"})

    if "search" in workloads:
        # Populated once per tool (untimed), then each query runs once cold and --reps times warm.
        spec = {"workload": "search", "reps": args.reps, **sizes["search"]}
        res = both("search", 0, {"modelyard": spec, "mlflow": spec})
        for side in ("modelyard", "mlflow"):
            _collect(
                rows,
                side,
                res.get(side),
                {"se_top": "top_s", "se_all": "all_s", "se_top_cold": "top_cold_s", "se_all_cold": "all_cold_s"},
            )
        _collect(rows, "mlflow", res.get("mlflow"), {"se_top_client": "top_client_s"})
        _collect(rows, "modelyard", res.get("modelyard"), {"se_top_client": "top_s"})

    if not args.extras:
        for key in ("lm_async_p99", "lm_async_rate", "lb_big"):
            rows.pop(key)
    used = [r for r in rows.values() if r.workload in workloads]
    checks_failed = [
        f"{r['side']} {label} rep {r['rep'] + 1}" for label, rs in raw.items() for r in rs if not r.get("ok", True)
    ]
    return {
        "benchmark": "tracking",
        "mode": "quick" if args.quick else "full",
        "reps": args.reps,
        "sizes": {w: sizes[w] for w in workloads},
        "mlflow_version": MLFLOW_VERSION,
        "modelyard_unavailable": sides["modelyard"].unavailable,
        "machine": _machine(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": [r.as_json() for r in used],
        "checks_failed": checks_failed,
        "raw": raw,
        "_rows": used,
    }


def render(report: dict[str, Any], console: Console) -> None:
    machine = report["machine"]
    table = Table(
        title=f"modelyard vs MLflow {report['mlflow_version']} (SQLite) — tracking, {report['mode']} sizes, "
        f"median of {report['reps']}",
        caption=f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, SQLite {machine['sqlite']}",
    )
    for col, justify in (
        ("workload", "left"),
        ("measure", "left"),
        ("modelyard", "right"),
        ("MLflow", "right"),
        ("ratio", "right"),
        ("target", "right"),
        ("met?", "center"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in report["_rows"]:
        ratio = row.ratio
        met = row.met
        met_txt = "—" if met is None else ("[green]yes[/green]" if met else "[bold red]NO[/bold red]")
        if met is None and row.target != "info":
            met_txt = "[yellow]n/a[/yellow]"
        table.add_row(
            row.workload,
            row.what,
            _fmt(row.median(row.modelyard), row.unit),
            _fmt(row.median(row.mlflow), row.unit),
            "—" if ratio is None else f"{ratio:,.1f}×",
            row.target,
            met_txt,
        )
    console.print(table)
    missed = [r for r in report["_rows"] if r.met is False]
    if report["modelyard_unavailable"]:
        console.print(f"[bold yellow]modelyard side not run: {report['modelyard_unavailable']}[/]")
    if missed:
        console.print("[bold red]Targets missed:[/] " + "; ".join(f"{r.workload}: {r.what}" for r in missed))
    elif any(r.met for r in report["_rows"]):
        console.print("[bold green]All targets measured were met.[/]")
    if report["checks_failed"]:
        console.print(
            "[bold red]Result checks failed (numbers may be meaningless):[/] " + ", ".join(report["checks_failed"])
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3, help="repetitions per workload (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a minute or two")
    parser.add_argument("--only", choices=WORKLOADS, help="run one workload only")
    parser.add_argument(
        "--no-extras",
        dest="extras",
        action="store_false",
        help="skip the informational lines (MLflow async logging, 10,000-point batches)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    console = Console()
    if not console.is_terminal:  # piped to a file or a log: do not squeeze the table into 80 columns
        console = Console(width=160)
    report = run(args, console)
    render(report, console)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({k: v for k, v in report.items() if k != "_rows"}, indent=2) + "\n")
    console.print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
