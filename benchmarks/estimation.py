"""Label-free performance estimation: modelyard's CBPE-style estimator vs NannyML's CBPE.

One synthetic binary problem with covariate shift (the inputs move, P(y | x) does not, so the
estimate is valid for both tools): a logistic model trained on its own data, a labelled reference,
and analysis chunks whose shift grows from 0 to ``--max-shift``. Both tools fit on the reference
and estimate ROC AUC, F1, accuracy, precision and recall per chunk from the scores alone; the
labels of the chunks, kept aside, give the realized metrics. Printed side by side: the mean
absolute estimation error against the realized metric, how often the realized metric lay inside
each tool's band, and the median time of fit + estimate over ``--reps`` runs, with the ratios.

    .venv/bin/python -m benchmarks.estimation [--quick] [--reps 5] [--no-peer]

NannyML 0.13.1 runs in its own environment (.bench/venvs). It imports statsmodels without
declaring it, and statsmodels 0.14 fails to import under pandas 3 (``deprecate_kwarg``), so the
environment pins statsmodels 0.14.5 and pandas 2.3.3 beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

NANNYML_REQUIREMENTS = ("nannyml==0.13.1", "statsmodels==0.14.5", "pandas==2.3.3")
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "nannyml_estimation.py"
METRICS = ("roc_auc", "f1", "accuracy", "precision", "recall")


def _sample(n: int, shift: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 4)) + np.array([shift, -shift / 2, 0.0, shift / 3])
    logit = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] - 0.3 * x[:, 3] - 0.2
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


def make_data(reference_rows: int, chunks: int, chunk_size: int, max_shift: float, seed: int = 0) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x_train, y_train = _sample(20_000, 0.0, rng)
    model = LogisticRegression().fit(x_train, y_train)
    x_ref, y_ref = _sample(reference_rows, 0.0, rng)
    ref_score = model.predict_proba(x_ref)[:, 1]
    scores, labels = [], []
    for shift in np.linspace(0.0, max_shift, chunks):
        x, y = _sample(chunk_size, float(shift), rng)
        scores.append(model.predict_proba(x)[:, 1])
        labels.append(y)
    return {
        "ref_score": ref_score, "ref_pred": (ref_score >= 0.5).astype(np.int64), "ref_label": y_ref,
        "ana_score": np.concatenate(scores), "ana_label": np.concatenate(labels),
        "ana_pred": (np.concatenate(scores) >= 0.5).astype(np.int64), "chunk_size": np.int64(chunk_size),
    }  # fmt: skip


def realized_per_chunk(data: dict[str, Any]) -> dict[str, list[float]]:
    from modelyard.monitoring.performance import realized

    size = int(data["chunk_size"])
    out: dict[str, list[float]] = {m: [] for m in METRICS}
    for start in range(0, len(data["ana_score"]), size):
        sl = slice(start, start + size)
        res = realized(
            "classification", data["ana_label"][sl], data["ana_pred"][sl], data["ana_score"][sl],
            classes=[0, 1], metrics=METRICS, n_resamples=9,
        )  # fmt: skip
        for m in METRICS:
            out[m].append(float(res[m].value) if res[m].value is not None else float("nan"))
    return out


def run_modelyard(data: dict[str, Any], reps: int) -> tuple[float, dict[str, dict[str, list[float]]]]:
    from modelyard.monitoring.estimation import fit_estimator

    size = int(data["chunk_size"])
    timings = []
    estimates: dict[str, dict[str, list[float]]] = {}
    for _ in range(reps):
        start = time.perf_counter()
        estimator = fit_estimator("classification", data["ref_score"], data["ref_label"], predictions=data["ref_pred"])
        per_chunk = []
        for at in range(0, len(data["ana_score"]), size):
            sl = slice(at, at + size)
            per_chunk.append(estimator.estimate(data["ana_score"][sl], predictions=data["ana_pred"][sl]))
        timings.append(time.perf_counter() - start)
        estimates = {
            m: {
                "value": [c[m].value for c in per_chunk],
                "lower": [c[m].lower for c in per_chunk],
                "upper": [c[m].upper for c in per_chunk],
            }
            for m in METRICS
        }
    return statistics.median(timings), estimates


def run_peer(data: dict[str, Any], reps: int, console: Console) -> tuple[dict[str, Any] | None, str]:
    from benchmarks._venv import ensure_peer_env

    try:
        env = ensure_peer_env("nannyml-0.13.1", NANNYML_REQUIREMENTS, console=console)
    except Exception as exc:  # the peer is optional: say why it is missing
        return None, f"could not be installed ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, **{k: v for k, v in data.items() if k != "ana_label"})  # the peer never sees labels
        proc = subprocess.run(
            [str(env.python), str(PEER_SCRIPT), str(path), str(reps)],
            capture_output=True, text=True, timeout=3600, check=False,
        )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return None, f"failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
    return json.loads(lines[-1]), "ok"


def score(estimates: dict[str, dict[str, list[Any]]], real: dict[str, list[float]]) -> tuple[float, float, int]:
    """(mean absolute error of the estimates, share of chunks whose realized value is in the band,
    number of (chunk, metric) pairs compared)."""
    errors, inside = [], []
    for m in METRICS:
        for value, lo, hi, r in zip(
            estimates[m]["value"], estimates[m]["lower"], estimates[m]["upper"], real[m], strict=True
        ):
            if value is None or r is None or not np.isfinite(r) or not np.isfinite(value):
                continue
            errors.append(abs(float(value) - r))
            if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
                inside.append(float(lo) <= r <= float(hi))
    return float(np.mean(errors)), float(np.mean(inside)) if inside else float("nan"), len(errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run: 5,000 reference rows, 6 chunks of 2,000")
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--max-shift", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip NannyML")
    args = parser.parse_args(argv)
    if args.quick:
        args.reference_rows, args.chunks, args.chunk_size, args.reps = 5_000, 6, 2_000, 3
    console = Console()
    data = make_data(args.reference_rows, args.chunks, args.chunk_size, args.max_shift)
    real = realized_per_chunk(data)
    my_s, mine = run_modelyard(data, args.reps)
    my_err, my_cov, pairs = score(mine, real)
    peer, note = (None, "skipped (--no-peer)") if args.no_peer else run_peer(data, args.reps, console)

    title = (
        f"Estimation without labels: {args.reference_rows:,} reference rows, {args.chunks} chunks × "
        f"{args.chunk_size:,} (shift 0 → {args.max_shift}), {len(METRICS)} metrics, median of {args.reps}"
    )
    table = Table(title=title)
    for col in ("tool", "mean |estimate − realized|", "realized inside band", "fit + estimate (s)"):
        table.add_column(col, justify="left" if col == "tool" else "right")
    table.add_row("modelyard (95% band)", f"{my_err:.4f}", f"{my_cov:.0%}", f"{my_s:.3f}")
    if peer is not None:
        peer_err, peer_cov, peer_pairs = score(peer["estimates"], real)
        table.add_row(f"NannyML {peer['version']} CBPE (±3σ band)", f"{peer_err:.4f}", f"{peer_cov:.0%}",
                      f"{peer['median_s']:.3f}")  # fmt: skip
    console.print(table)
    per_metric = Table(title="mean |estimate − realized| per metric")
    per_metric.add_column("metric")
    per_metric.add_column("modelyard", justify="right")
    if peer is not None:
        per_metric.add_column("NannyML", justify="right")
    for m in METRICS:
        row = [m]
        mine_m = float(np.mean([abs(v - r) for v, r in zip(mine[m]["value"], real[m], strict=True) if v is not None]))
        row.append(f"{mine_m:.4f}")
        if peer is not None:
            vals = peer["estimates"][m]["value"]
            peer_m = float(np.nanmean([abs(v - r) for v, r in zip(vals, real[m], strict=True)]))
            row.append(f"{peer_m:.4f}")
        per_metric.add_row(*row)
    console.print(per_metric)
    if peer is None:
        console.print(f"NannyML: {note}")
        return 0
    console.print(
        f"error ratio (modelyard / NannyML): [bold]{my_err / peer_err:.3f}[/bold] (≤ 1 means no worse); "
        f"speed ratio (NannyML / modelyard): [bold]{peer['median_s'] / my_s:.1f}x[/bold]; "
        f"pairs compared: {pairs} / {peer_pairs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
