"""Drift benchmark: modelyard vs Evidently 0.7 on the same generated data.

The data: 20 numeric and 5 categorical columns, a reference and a current Parquet file with the
same rows count; 5 columns of the current file are shifted (3 numeric, 2 categorical). Both sides
must flag exactly those five. Each side runs in its own process (a clean peak RSS), reads the two
files and computes per-column drift with its default tests; the timed part is reading + drift
(imports excluded). modelyard also runs with the reference profile precomputed (the way monitoring
uses it: a stored profile, never the reference rows); the profile's one-off cost is printed too.
Then modelyard alone at ``--big-rows`` (10,000,000 by default): Evidently's figure at that size is
only measured with ``--peer-big`` (at 1M it already takes minutes and GBs; the reason is printed).

Every side is watched (see ``run_side``): its RSS is sampled, it gets ``oom_score_adj`` 1000 so the
kernel's OOM killer takes it before anything else on a shared machine, and a watchdog stops it past
``--rss-limit-gib`` (20 GiB by default). A side that does not finish is reported as its failure —
"exceeded 20 GiB after 312s", "killed by signal 9 after ...", with its last RSS — in the table.
``--reps 0 --peer-big`` runs the big sizes only.

    .venv/bin/python -m benchmarks.drift [--rows 1000000] [--reps 3] [--big-rows 10000000]
        [--no-big] [--peer-big] [--no-peer] [--quick] [--rss-limit-gib 20] [--json FILE]

Evidently runs from ``.bench/venvs/evidently-0.7.23`` (made on first use; pandas 2.3 pinned beside
it: Evidently 0.7.23 does not import under pandas 3).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

try:
    from benchmarks._venv import BENCH_DIR, ensure_peer_env
    from benchmarks._watch import run_watched
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _venv import BENCH_DIR, ensure_peer_env  # type: ignore[no-redef]
    from _watch import run_watched  # type: ignore[no-redef]

EVIDENTLY = ("evidently==0.7.23", "pandas==2.3.3", "pyarrow")
EVIDENTLY_ENV = "evidently-0.7.23"
PEERS = Path(__file__).resolve().parent / "peers"
DATA_DIR = BENCH_DIR / "drift"
GENERATOR = 1  # bump when the data changes: cached files are keyed by it
NUMERIC = [f"num{i}" for i in range(20)]
CATEGORICAL = [f"cat{i}" for i in range(5)]
SHIFTED = ["cat0", "cat1", "num0", "num1", "num2"]
CATEGORIES = [f"v{j}" for j in range(8)]
CHUNK = 1_000_000


def _chunk(rows: int, seed: int, shifted: bool) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        mean, scale = 10.0 * (i % 5), 1.0 + (i % 3)
        skewed = i % 4 == 3
        values = mean + rng.lognormal(0.0, 0.5, rows) * scale if skewed else rng.normal(mean, scale, rows)
        if shifted and name == "num0":
            values = values + 0.5 * scale
        elif shifted and name == "num1":
            values = values + 0.3 * scale
        elif shifted and name == "num2":
            values = mean + (values - mean) * 1.6
        cols[name] = values
    base = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])
    for i, name in enumerate(CATEGORICAL):
        probs = np.roll(base, i)
        labels = CATEGORIES
        if shifted and name == "cat0":
            probs = probs[::-1]
        elif shifted and name == "cat1":
            probs, labels = np.append(probs * 0.8, 0.2), [*CATEGORIES, "new"]
        cols[name] = np.asarray(labels, dtype=object)[rng.choice(len(labels), size=rows, p=probs / probs.sum())]
    return pa.table(cols)


def ensure_data(rows: int, console: Console) -> tuple[Path, Path]:
    """The reference and current Parquet files for ``rows`` (generated once, in 1M-row groups)."""
    import pyarrow.parquet as pq

    folder = DATA_DIR / f"g{GENERATOR}-{rows}"
    ref, cur = folder / "reference.parquet", folder / "current.parquet"
    if ref.exists() and cur.exists():
        return ref, cur
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path, shifted, seed in ((ref, False, 1), (cur, True, 2)):
        tmp = path.with_suffix(".tmp")
        writer = None
        for k, first in enumerate(range(0, rows, CHUNK)):
            table = _chunk(min(CHUNK, rows - first), seed * 1000 + k, shifted)
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        tmp.replace(path)
    console.print(
        f"[dim]generated {rows:,} rows x 25 columns twice in {time.perf_counter() - start:.0f}s: {folder}[/dim]"
    )
    return ref, cur


def run_side(
    python: str, script: str, spec: dict[str, Any], timeout: float, rss_limit_gib: float | None = None
) -> dict[str, Any]:
    """Run one side, watched (``benchmarks/_watch.py``): a side that does not finish is a result
    with ``error``, never an exception."""
    return run_watched([python, str(PEERS / script), "--spec", json.dumps(spec)], timeout, rss_limit_gib)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1] if runs else {"error": "not run"}  # the failure as the watcher saw it
    return {
        "seconds": statistics.median(r["seconds"] for r in ok),
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in ok),
        "elapsed_s": statistics.median(r["elapsed_s"] for r in ok),
        "watched_peak_rss_mb": max(r["watched_peak_rss_mb"] for r in ok),
        "drifted": ok[-1]["drifted"],
        "correct": all(r["drifted"] == SHIFTED for r in ok),
        "runs": len(ok),
        "all_seconds": [round(r["seconds"], 3) for r in ok],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--no-big", action="store_true", help="skip the big run")
    parser.add_argument("--peer-big", action="store_true", help="run Evidently at --big-rows too (slow, GBs)")
    parser.add_argument("--no-peer", action="store_true", help="skip Evidently")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one rep, big run at 1,000,000")
    parser.add_argument(
        "--rss-limit-gib",
        type=float,
        default=20.0,
        help="watchdog: stop a side whose RSS exceeds this many GiB (default 20; 0 for none)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.reps, args.big_rows = 100_000, 1, 1_000_000
    console = Console()
    me = sys.executable
    ref, cur = ensure_data(args.rows, console)

    # the reference profile, once (what a model version stores)
    profile_path = ref.with_suffix(".myprofile")
    start = time.perf_counter()
    code = f"import modelyard; modelyard.profile({str(ref)!r}, path={str(profile_path)!r})"
    subprocess.run([me, "-c", code], check=True)
    profile_s = time.perf_counter() - start

    peer_python: str | None = None
    peer_note = "skipped (--no-peer)"
    if not args.no_peer:
        try:
            peer_python = str(ensure_peer_env(EVIDENTLY_ENV, EVIDENTLY, console=console).python)
        except Exception as exc:  # the peer is optional: say why it is missing
            peer_note = f"could not be installed ({type(exc).__name__}: {exc})"

    base = {"numeric": NUMERIC, "categorical": CATEGORICAL, "reference": str(ref), "current": str(cur)}
    runs: dict[str, list[dict[str, Any]]] = {"modelyard": [], "modelyard (profile)": [], "evidently": []}
    limit = args.rss_limit_gib or None
    for rep in range(args.reps):
        console.print(f"[dim]rep {rep + 1}/{args.reps}[/dim]")
        runs["modelyard"].append(run_side(me, "drift_modelyard.py", base, 3600, limit))
        runs["modelyard (profile)"].append(
            run_side(me, "drift_modelyard.py", {**base, "reference": str(profile_path)}, 3600, limit)
        )
        if peer_python:
            runs["evidently"].append(run_side(peer_python, "drift_evidently.py", base, 3600, limit))
    results = {name: summarize(r) for name, r in runs.items() if r}

    big: dict[str, Any] = {}
    if not args.no_big:
        big_ref, big_cur = ensure_data(args.big_rows, console)
        big_spec = {**base, "reference": str(big_ref), "current": str(big_cur)}
        console.print(f"[dim]modelyard at {args.big_rows:,} rows[/dim]")
        big["modelyard"] = summarize([run_side(me, "drift_modelyard.py", big_spec, 7200, limit)])
        if peer_python and args.peer_big:
            console.print(f"[dim]Evidently at {args.big_rows:,} rows (watchdog at {args.rss_limit_gib:g} GiB)[/dim]")
            big["evidently"] = summarize([run_side(peer_python, "drift_evidently.py", big_spec, 7200, limit)])
        elif peer_python:
            big["evidently"] = {"error": "skipped: pass --peer-big (extrapolating its 1M figures: ~10x the time)"}

    _print(console, args, results, big, profile_s, peer_note)
    if args.json:
        payload = {"rows": args.rows, "reps": args.reps, "profile_seconds": profile_s, "results": results, "big": big}
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


def _fmt(res: dict[str, Any]) -> tuple[str, str, str]:
    if "error" in res:
        return "-", "-", f"did not finish: {res['error']}"
    verdict = "yes" if res["correct"] else f"NO: {', '.join(res['drifted'])}"
    return f"{res['seconds']:.2f}", f"{res['peak_rss_mb']:,.0f} MB", verdict


def _print(
    console: Console,
    args: argparse.Namespace,
    results: dict[str, Any],
    big: dict[str, Any],
    profile_s: float,
    peer_note: str,
) -> None:
    table = Table(title=f"Drift: {args.rows:,} rows x 25 columns, 5 shifted (median of {args.reps})")
    for col in ("side", "seconds", "peak RSS", "flags exactly the 5 shifted columns"):
        table.add_column(col, justify="left" if col in ("side", "flags exactly the 5 shifted columns") else "right")
    names = {
        "modelyard": "modelyard (two Parquet files)",
        "modelyard (profile)": "modelyard (reference profile precomputed)",
        "evidently": "Evidently 0.7.23 DataDriftPreset",
    }
    for key, res in results.items():
        table.add_row(names[key], *_fmt(res))
    for key, res in big.items():
        table.add_row(f"{names[key]} at {args.big_rows:,} rows", *_fmt(res))
    console.print(table)
    for key, res in big.items():
        if "elapsed_s" in res:
            console.print(
                f"{names[key]} at {args.big_rows:,} rows: {res['elapsed_s']:.1f}s wall (process start included), "
                f"peak RSS seen by the watcher {res['watched_peak_rss_mb']:,} MB"
            )
    console.print(f"reference profile computed once in {profile_s:.2f}s (process start included)")
    ev, my, pr = results.get("evidently", {}), results.get("modelyard", {}), results.get("modelyard (profile)", {})
    if "seconds" in ev and "seconds" in my:
        speed = ev["seconds"] / my["seconds"]
        memory = my["peak_rss_mb"] / ev["peak_rss_mb"]
        console.print(
            f"ratio: modelyard is [bold]{speed:.1f}x[/bold] faster (target >= 20x) "
            f"at [bold]{memory:.2f}x[/bold] Evidently's peak memory (target <= 0.5x)"
        )
        if "seconds" in pr:
            console.print(
                f"ratio with the reference profile precomputed: [bold]{ev['seconds'] / pr['seconds']:.1f}x[/bold] "
                f"faster (target >= 50x) at {pr['peak_rss_mb'] / ev['peak_rss_mb']:.2f}x the memory"
            )
    elif args.reps:
        console.print(f"Evidently: {ev.get('error', peer_note)}")


if __name__ == "__main__":
    sys.exit(main())
