"""Feature-store benchmark: modelyard against Feast (its own virtual environment) and a hand-written
DuckDB query, on the same generated data, in one run.

    .venv/bin/python -m benchmarks.features            # 100,000 entity rows vs 1,000,000 feature rows
    .venv/bin/python -m benchmarks.features --quick    # 10,000 vs 100,000: a smoke run
    .venv/bin/python -m benchmarks.features --big      # 100,000 vs 10,000,000 feature rows (offline only)
    .venv/bin/python -m benchmarks.features --online-http   # only: over HTTP with Redis at 500 requests/s

Offline: a point-in-time join of the entity rows against two feature views (5 float features
each, a TTL of 7 days; one view covers only 80% of the drivers, so a correct join keeps rows
that have features in one view only). Each side runs in its own process (its peak memory is its
own), writes its training set with the entity rows' ``row_id``, and the benchmark checks, row by
row, that the sides return the same values wherever both return the row, and counts the rows each
drops (and how many of those had valid features in the reference). Online: after a
materialisation into each side's SQLite online store, the in-process read of 10 features (5 per
view) for 1 random entity, p50/p99, and the values compared on every entity both read.

modelyard runs twice: with its default engine choice (in memory, numpy, at these sizes) and with
the DuckDB ASOF engine forced (``modelyard-duckdb``). Every side is watched (``benchmarks/_watch.py``):
the OOM killer's first choice, stopped past ``--rss-limit-gib`` (16) or ``--side-timeout-min`` (20)
or when the machine runs low on memory; a side that does not finish is printed as its failure
(what, after how long, its last RSS) beside the others' figures.

Online over HTTP (``--online-http``, ``peers/features_http.py``): the same 10 features for 1
entity through ``POST /api/v1/features/online`` on ``modelyard server`` with the Redis online
store (``--redis``), driven by ``wrk`` at a fixed rate (``--rate``, default 500 requests/s, for
``--seconds``, over ``--connections`` connections; ``peers/_http_load.py``). A request's latency
runs from its send to the last byte of its response, or from its due time when its connection
was still busy then (the queueing a slow response causes counts: coordinated omission is
corrected); the load generator's own timer lateness is printed apart, not counted (the previous
Python client's was, and it was half the p99). The values of a sample of responses are compared
with the generated data's newest row per driver.

Targets (issue 15): PIT join >= 20x Feast and within 1.5x of the DuckDB query, 0 valid rows
dropped; online p99 >= 5x faster than Feast's; over HTTP with Redis at 500 requests/s p99 <= 2 ms.
A missed target is reported, not an error: exit 0.
Results go to ``.bench/results/features.json``.
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

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

try:
    from benchmarks._venv import BENCH_DIR, REPO_ROOT, ensure_peer_env
    from benchmarks._watch import run_watched
    from benchmarks.server_load import _free_port, modelyard_server_command
    from benchmarks.tracking import _child_env, _machine
except ModuleNotFoundError:  # run as a script: benchmarks/ itself is on sys.path
    from _venv import BENCH_DIR, REPO_ROOT, ensure_peer_env  # type: ignore[no-redef]
    from _watch import run_watched  # type: ignore[no-redef]
    from server_load import _free_port, modelyard_server_command  # type: ignore[no-redef]
    from tracking import _child_env, _machine  # type: ignore[no-redef]

FEAST_VERSION = "0.67.0"
FEAST_REQUIREMENTS = (f"feast=={FEAST_VERSION}",)
FEAST_HTTP_REQUIREMENTS = (f"feast[redis]=={FEAST_VERSION}",)
PEERS_DIR = Path(__file__).resolve().parent / "peers"
RESULTS_FILE = BENCH_DIR / "results" / "features.json"
FEATURES = {"driver_stats": [f"s{i}" for i in range(5)], "driver_trips": [f"t{i}" for i in range(5)]}
TTL = pd.Timedelta(days=7)
SIZES = {
    "full": {"entities": 100_000, "rows_per_view": 500_000, "drivers": 20_000, "online_reads": 5_000},
    "quick": {"entities": 10_000, "rows_per_view": 50_000, "drivers": 2_000, "online_reads": 1_000},
    "big": {"entities": 100_000, "rows_per_view": 5_000_000, "drivers": 200_000, "online_reads": 0},
}
OFFLINE_SIDES = ("modelyard", "modelyard-duckdb", "duckdb", "feast")


def _generate(root: Path, sizes: dict[str, int], now: pd.Timestamp) -> dict[str, Any]:
    """Two views over the last 60 days (driver_trips covers 80% of the drivers) and entity rows
    (5% of them unknown drivers), all timestamps tz-aware UTC, no ties within a view."""
    rng = np.random.default_rng(20261206)
    span_s = 60 * 86400
    paths = {}
    frames = {}
    for view, features in FEATURES.items():
        n = sizes["rows_per_view"]
        drivers = sizes["drivers"] if view == "driver_stats" else int(sizes["drivers"] * 0.8)
        frame = pd.DataFrame(
            {
                "driver_id": rng.integers(0, drivers, n, dtype=np.int64),
                "event_timestamp": now - pd.to_timedelta(rng.integers(0, span_s, n), unit="s"),
            }
        )
        for f in features:
            frame[f] = rng.normal(size=n)
        frame = frame.drop_duplicates(["driver_id", "event_timestamp"]).reset_index(drop=True)
        paths[view] = str(root / f"{view}.parquet")
        frame.to_parquet(paths[view], index=False)
        frames[view] = frame
    n = sizes["entities"]
    entities = pd.DataFrame(
        {
            "row_id": np.arange(n, dtype=np.int64),
            "driver_id": rng.integers(0, int(sizes["drivers"] * 1.05), n, dtype=np.int64),
            "event_timestamp": now - pd.to_timedelta(rng.integers(0, span_s - 5 * 86400, n), unit="s"),
        }
    )
    entity_path = root / "entities.parquet"
    entities.to_parquet(entity_path, index=False)
    # Online: drivers whose newest row in both views is within the TTL of now (both sides serve them).
    fresh = None
    for frame in frames.values():
        newest = frame.groupby("driver_id")["event_timestamp"].max()
        ids = set(newest[newest >= now - TTL].index)
        fresh = ids if fresh is None else fresh & ids
    return {
        "views": paths,
        "entities": str(entity_path),
        "online_ids": sorted(int(i) for i in (fresh or set()))[:5000],
        "feature_rows": sum(len(f) for f in frames.values()),
    }


def _run_side(
    python: Path, script: str, spec: dict[str, Any], env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """One side in its own process, watched; a side that does not finish is ``{"error": ...}``."""
    tmp = Path(tempfile.mkdtemp(prefix="modelyard-bench-features-"))
    try:
        cmd = [str(python), str(PEERS_DIR / script), "--spec", json.dumps(spec), "--tmp", str(tmp / "work")]
        return run_watched(cmd, args.side_timeout_min * 60, args.rss_limit_gib or None, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compare(reference: pd.DataFrame, side: pd.DataFrame) -> dict[str, int]:
    """Rows the side dropped (and of those, rows with a valid feature in the reference), and
    values that differ on the rows both return."""
    columns = [f for fs in FEATURES.values() for f in fs]
    ref = reference.set_index("row_id")
    got = side.set_index("row_id")
    dropped = ref.index.difference(got.index)
    valid = ref.loc[dropped, columns].notna().any(axis=1)
    common = ref.index.intersection(got.index)
    a = ref.loc[common, columns].to_numpy(dtype=float)
    b = got.loc[common, columns].to_numpy(dtype=float)
    same = np.isclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)
    return {
        "rows": len(got),
        "dropped": len(dropped),
        "valid_dropped": int(valid.sum()),
        "compared_rows": len(common),
        "differing_values": int((~same).sum()),
        "duplicated_rows": int(got.index.duplicated().sum()),
    }


def _online_compare(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> dict[str, int]:
    keys = set(a) & set(b)
    differing = 0
    for key in keys:
        x = np.array([np.nan if v is None else v for v in a[key]], dtype=float)
        y = np.array([np.nan if v is None else v for v in b[key]], dtype=float)
        differing += int((~np.isclose(x, y, rtol=1e-6, equal_nan=True)).sum())
    return {"compared_entities": len(keys), "differing_values": differing}


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    size = "big" if args.big else "quick" if args.quick else "full"
    sizes = SIZES[size]
    feast = ensure_peer_env(f"feast-{FEAST_VERSION}", FEAST_REQUIREMENTS, console=console)
    # The modelyard side runs this checkout's source (not whatever is installed).
    ours_env = _child_env({"PYTHONPATH": str(REPO_ROOT / "src")})
    sides = {
        "modelyard": (Path(sys.executable), "features_modelyard.py", ours_env, {}),
        "modelyard-duckdb": (Path(sys.executable), "features_modelyard.py", ours_env, {"engine": "duckdb"}),
        "duckdb": (Path(sys.executable), "features_duckdb.py", _child_env({}), {}),
        "feast": (feast.python, "features_feast.py", _child_env({"FEAST_USAGE": "False"}), {}),
    }
    data = Path(tempfile.mkdtemp(prefix="modelyard-bench-features-data-"))
    now = pd.Timestamp.now(tz="UTC").floor("s")
    try:
        with console.status(f"generating data ({size})"):
            generated = _generate(data, sizes, now)
        spec = {**generated, "online_reads": sizes["online_reads"], "end_ms": int(now.timestamp() * 1000) + 1000}
        offline: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        failures: dict[str, dict[str, Any]] = {}
        frames: dict[str, pd.DataFrame] = {}
        for rep in range(args.reps):
            order = list(sides) if rep % 2 == 0 else list(reversed(sides))
            for name in order:
                python, script, env, extra = sides[name]
                out = data / f"{name}.parquet"
                with console.status(f"offline {name} (rep {rep + 1}/{args.reps})"):
                    result = _run_side(python, script, {**spec, **extra, "mode": "offline", "out": str(out)}, env, args)
                if "error" in result:
                    console.print(f"[red]✗ {name}: {result['error']}[/red]")
                    failures[name] = result
                    continue
                offline[name].append(result)
                frames[name] = pd.read_parquet(out)
                out.unlink(missing_ok=True)
        checks = {}
        if "duckdb" in frames:
            for name in ("modelyard", "modelyard-duckdb", "feast"):
                if name in frames:
                    checks[name] = _compare(frames["duckdb"], frames[name])
        if "modelyard" in frames and "feast" in frames:
            both = _compare(frames["modelyard"], frames["feast"])
            checks["modelyard_vs_feast"] = {k: both[k] for k in ("compared_rows", "differing_values")}
        online = {}
        for name in ("modelyard", "feast") if sizes["online_reads"] else ():
            python, script, env, extra = sides[name]
            with console.status(f"online {name}"):
                result = _run_side(python, script, {**spec, **extra, "mode": "online"}, env, args)
            if "error" in result:
                console.print(f"[red]✗ online {name}: {result['error']}[/red]")
            else:
                online[name] = result
        online_check = (
            _online_compare(online["modelyard"]["values"], online["feast"]["values"]) if len(online) == 2 else {}
        )
    finally:
        shutil.rmtree(data, ignore_errors=True)
    summary: dict[str, dict[str, Any]] = {
        name: {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "runs_s": [round(r["seconds"], 3) for r in runs],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "rows": runs[-1]["rows"],
            **({"engine": runs[-1]["engine"]} if "engine" in runs[-1] else {}),
        }
        for name, runs in offline.items()
        if runs
    }
    for name, failure in failures.items():
        if name not in summary:
            summary[name] = {"error": failure["error"], "watched_peak_rss_mb": failure.get("watched_peak_rss_mb")}
    return {
        "size": size,
        "sizes": {**sizes, "feature_rows": generated["feature_rows"]},
        "reps": args.reps,
        "limits": {"rss_limit_gib": args.rss_limit_gib, "side_timeout_min": args.side_timeout_min},
        "offline": summary,
        "checks": checks,
        "online": {name: {k: v for k, v in r.items() if k != "values"} for name, r in online.items()},
        "online_check": online_check,
    }


def _report(results: dict[str, Any], console: Console) -> None:
    sizes = results["sizes"]
    off = results["offline"]
    table = Table(
        title=f"PIT join: {sizes['entities']:,} entity rows vs {sizes['feature_rows']:,} feature rows in 2 views",
        header_style="bold cyan",
    )
    for col in ("side", "seconds", "peak RSS", "rows", "dropped", "valid dropped", "differing values"):
        table.add_column(col, justify="left" if col == "side" else "right")
    for name in OFFLINE_SIDES:
        if name not in off or "error" in off[name]:
            table.add_row(name, "failed", "", "", "", "", "")
            continue
        check = results["checks"].get(name, {})
        reference = name == "duckdb"
        label = f"{name} ({off[name]['engine']})" if name == "modelyard" and "engine" in off[name] else name
        table.add_row(
            label,
            f"{off[name]['seconds']:.3f}",
            f"{off[name]['peak_rss_mb']:,.0f} MB",
            f"{off[name]['rows']:,}",
            f"{check.get('dropped', 0):,}" if not reference else "(reference)",
            f"{check.get('valid_dropped', 0):,}" if not reference else "",
            f"{check.get('differing_values', 0):,}" if not reference else "",
        )
    console.print(table)
    for name in OFFLINE_SIDES:
        if "error" in off.get(name, {}):
            console.print(f"[red]{name} did not finish: {off[name]['error']}[/red]")
    ok = {name: r for name, r in off.items() if "error" not in r}
    if "modelyard" in ok:
        m = ok["modelyard"]["seconds"]
        if "feast" in ok:
            ratio = ok["feast"]["seconds"] / m
            console.print(
                f"modelyard vs Feast: {ratio:.1f}x faster (target >= 20x: {'met' if ratio >= 20 else 'MISSED'})"
            )
        elif "feast" in off:
            console.print(f"modelyard vs Feast: modelyard {m:.2f} s; Feast failed ({off['feast']['error']})")
        if "duckdb" in ok:
            ratio = m / ok["duckdb"]["seconds"]
            console.print(
                f"modelyard vs hand-written DuckDB: {ratio:.2f}x its time "
                f"(target <= 1.5x: {'met' if ratio <= 1.5 else 'MISSED'})"
            )
        if "modelyard-duckdb" in ok:
            console.print(f"modelyard, DuckDB engine forced: {ok['modelyard-duckdb']['seconds']:.3f} s")
        valid = results["checks"].get("modelyard", {}).get("valid_dropped")
        if valid is not None:
            console.print(f"modelyard valid rows dropped: {valid} (target 0: {'met' if valid == 0 else 'MISSED'})")
    if "modelyard_vs_feast" in results["checks"]:
        c = results["checks"]["modelyard_vs_feast"]
        console.print(
            f"modelyard vs Feast on {c['compared_rows']:,} rows both return: {c['differing_values']:,} values differ"
        )
    on = results["online"]
    if on:
        table = Table(
            title="online read: 10 features, 1 entity, in-process (SQLite online store)", header_style="bold cyan"
        )
        for col in ("side", "p50", "p99", "max", "reads", "materialize"):
            table.add_column(col, justify="left" if col == "side" else "right")
        for name, r in on.items():
            table.add_row(
                name,
                f"{r['p50_us']:.1f} µs",
                f"{r['p99_us']:.1f} µs",
                f"{r['max_us']:.0f} µs",
                f"{r['n']:,}",
                f"{r['materialize_s']:.2f} s",
            )
        console.print(table)
        if len(on) == 2:
            ratio = on["feast"]["p99_us"] / on["modelyard"]["p99_us"]
            console.print(
                f"online p99: {ratio:.1f}x faster than Feast (target >= 5x: {'met' if ratio >= 5 else 'MISSED'})"
            )
            oc = results["online_check"]
            console.print(
                f"online values compared on {oc['compared_entities']:,} entities: {oc['differing_values']} differ"
            )


HTTP_TARGET_P99_MS = 2.0


def run_online_http(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Online over HTTP with Redis (``peers/features_http.py``), on the quick size's data."""
    sizes = SIZES["quick" if args.quick else "full"]
    data = Path(tempfile.mkdtemp(prefix="modelyard-bench-features-http-"))
    now = pd.Timestamp.now(tz="UTC").floor("s")
    try:
        with console.status("generating data"):
            generated = _generate(data, sizes, now)
        spec = {
            **generated,
            "end_ms": int(now.timestamp() * 1000) + 1000,
            "redis": args.redis,
            "rate": args.rate,
            "seconds": args.seconds,
            "connections": args.connections,
        }
        # the side fills in {root}, its own directory: the store it materialised, the server's files
        spec["port"] = _free_port()
        spec["server_command"] = modelyard_server_command(
            spec["port"], args.workers, "sqlite:///{root}/m.db", Path("{root}") / "artifacts"
        )
        env = _child_env({"PYTHONPATH": str(REPO_ROOT / "src")})
        with console.status(f"online over HTTP: {args.rate:g} requests/s for {args.seconds:g} s"):
            result = _run_side(Path(sys.executable), "features_http.py", spec, env, args)
        feast: dict[str, Any] = {"error": "not run (--no-feast)"}
        if not args.no_feast:
            try:
                name = f"feast-redis-{FEAST_VERSION}"
                python = ensure_peer_env(name, FEAST_HTTP_REQUIREMENTS, console=console).python
            except RuntimeError as exc:
                feast = {"error": f"its environment could not be built: {str(exc).splitlines()[0]}"}
            else:
                spec["port"] = _free_port()
                with console.status(f"Feast's feature server over HTTP: {args.rate:g} requests/s"):
                    feast = _run_side(python, "features_feast_http.py", {**spec, "workers": args.workers}, env, args)
        expected = _expected_online(generated["views"], generated["online_ids"])
        for side in (result, feast):
            if "values" in side:
                side["check"] = _online_compare(expected, side.pop("values"))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    sizes = {**sizes, "feature_rows": generated["feature_rows"]}
    return {"online_http": result, "online_http_feast": feast, "sizes": sizes}


def _expected_online(views: dict[str, str], ids: list[int]) -> dict[str, list[Any]]:
    """What an online read of the 10 features must return for each of ``ids`` (all fresh in both
    views): each view's newest row per driver, from the generated files themselves."""
    columns = []
    for view, features in FEATURES.items():
        frame = pd.read_parquet(views[view])
        newest = frame.sort_values("event_timestamp").groupby("driver_id").tail(1).set_index("driver_id")
        columns.append(newest.loc[ids, features])
    table = pd.concat(columns, axis=1)
    return {str(i): [float(v) for v in row] for i, row in zip(ids, table.to_numpy(), strict=True)}


def _http_line(name: str, r: dict[str, Any]) -> str:
    check = r.get("check", {"compared_entities": 0, "differing_values": 0})
    return (
        f"{name}: p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms, max {r['max_us'] / 1000:.1f} ms "
        f"(wrk's own histogram, from the send: p50 {r['wrk_p50_us'] / 1000:.2f} ms, "
        f"p99 {r['wrk_p99_us'] / 1000:.2f} ms); "
        f"{r['n']:,} requests ({r['achieved_rate']:.0f}/s), {r['errors']} errors; values checked on "
        f"{check['compared_entities']} responses, {check['differing_values']} differ; CPU: server "
        f"{r['server_cpu_s']:.1f} s ({r['server_cpu_s'] / max(r['n'], 1) * 1e6:.0f} us/request), wrk "
        f"{r['client_cpu_s']:.1f} s; wrk sent on a free connection {r['late_p50_us'] / 1000:.2f} ms (p50) / "
        f"{r['late_p99_us'] / 1000:.2f} ms (p99) after the due time (its millisecond timers; not counted)"
    )


def _report_http(results: dict[str, Any], console: Console) -> None:
    r = results.get("online_http")
    if r is None or "error" in r:
        console.print(f"[red]online over HTTP: failed: {(r or {}).get('error', 'no result')}[/red]")
        return
    console.print(
        f"online over HTTP (Redis), 10 features for 1 entity, {r['rate']:g} requests/s paced by wrk for "
        f"{r['seconds']:g} s over {r['connections']} connections; latency from the send, or from the due time "
        "behind a busy connection:"
    )
    console.print(_http_line("modelyard", r))
    feast = results.get("online_http_feast") or {"error": "not run"}
    if "error" in feast:
        console.print(f"Feast {FEAST_VERSION} feature server: {feast['error']}")
    else:
        console.print(_http_line(f"Feast {FEAST_VERSION} feature server", feast))
        console.print(f"p99: modelyard {feast['p99_us'] / r['p99_us']:.1f}x faster than Feast")
    check = r.get("check", {"differing_values": 0})
    met = r["p99_us"] / 1000 <= HTTP_TARGET_P99_MS and r["errors"] == 0 and check["differing_values"] == 0
    console.print(f"target p99 <= {HTTP_TARGET_P99_MS:g} ms: {'met' if met else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 entity rows vs 100,000 feature rows")
    parser.add_argument(
        "--big", action="store_true", help="100,000 entity rows vs 10,000,000 feature rows, offline only"
    )
    parser.add_argument("--reps", type=int, default=1, help="offline repetitions per side (median)")
    parser.add_argument("--rss-limit-gib", type=float, default=16, help="stop a side past this RSS (0: no limit)")
    parser.add_argument("--side-timeout-min", type=float, default=20, help="stop a side running longer than this")
    parser.add_argument("--online-http", action="store_true", help="only the online read over HTTP with Redis")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis for --online-http")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s for --online-http")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of --online-http")
    parser.add_argument(
        "--connections", type=int, default=16, help="kept-alive connections (one wrk thread each) for --online-http"
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes for --online-http")
    parser.add_argument("--no-feast", action="store_true", help="--online-http without Feast's feature server")
    args = parser.parse_args()
    console = Console()
    started = time.time()
    if args.online_http:
        if shutil.which("wrk") is None:  # the load generator (peers/_http_load.py)
            print(
                "benchmarks.features --online-http: wrk is not installed: `make bench` installs it when run as "
                "root (scripts/wrk.sh), or install it yourself: sudo apt-get install wrk",
                file=sys.stderr,
            )
            raise SystemExit(2)
        results = run_online_http(args, console)
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
        results["machine"] = {**_machine(), "uptime": uptime, "shared": True}
        _report_http(results, console)
        console.print(f"[dim]machine: {results['machine'].get('cpu')} x{os.cpu_count()}, {uptime} (shared)[/dim]")
        out = RESULTS_FILE.with_name("features_online_http.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str))
        console.print(f"results: {out}")
        return
    results = run(args, console)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    results["machine"] = {**_machine(), "uptime": uptime, "shared": True}
    results["seconds"] = time.time() - started
    _report(results, console)
    console.print(f"[dim]machine: {results['machine'].get('cpu')} x{os.cpu_count()}, {uptime} (shared)[/dim]")
    target = RESULTS_FILE.with_name("features-big.json") if args.big else RESULTS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"results: {target}")


if __name__ == "__main__":
    main()
