"""Demo data for the UI tests: projects, runs with params/metrics/tags/inputs and artifacts of
every previewable kind (text, PNG, SVG, CSV, Parquet, binary), plus one 100,000-point history.

Used by the browser tests and by the HTML page tests in tests/integration.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from modelyard.core.tracking import Metric, RunInput, RunStatus
from modelyard.tracking.service import TrackingService

T0 = 1_763_800_000_000  # a fixed start time (ms), so the pages are the same on every run
LONG_HISTORY_POINTS = 100_000
_BATCH = 10_000


@dataclass
class Seeded:
    project: str = "churn"
    other_project: str = "fraud"
    run_ids: dict[str, str] = field(default_factory=dict)  # run name -> id

    @property
    def baseline(self) -> str:
        return self.run_ids["baseline"]

    @property
    def long(self) -> str:
        return self.run_ids["long-history"]


def png_bytes(width: int = 48, height: int = 32) -> bytes:
    """A small, valid RGB PNG (a gradient), written by hand so no imaging library is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 160))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60" viewBox="0 0 120 60">'
    b'<rect width="120" height="60" fill="#eef"/><circle cx="30" cy="30" r="20" fill="#36c"/>'
    b'<text x="60" y="35" font-size="12">ok</text></svg>'
)


def parquet_bytes(rows: int = 120) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "customer_id": list(range(rows)),
            "tenure_months": [i % 48 for i in range(rows)],
            "churned": [i % 3 == 0 for i in range(rows)],
            "segment": [("smb", "mid", "ent")[i % 3] for i in range(rows)],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _curve(step: int, steps: int, lr: float, depth: int, seed: int) -> tuple[float, float]:
    progress = step / max(steps - 1, 1)
    loss = 0.25 + 0.9 * math.exp(-progress * 40 * lr * (1 + depth / 10)) + 0.02 * math.sin(step * 0.7 + seed)
    acc = 0.95 - 0.5 * math.exp(-progress * 30 * lr * (1 + depth / 8)) - 0.01 * math.cos(step * 0.3 + seed)
    return loss, acc


def _log_points(tracking: TrackingService, run_id: str, points: list[Metric]) -> None:
    for start in range(0, len(points), _BATCH):
        tracking.log_batch(run_id, metrics=points[start : start + _BATCH])


def ensure_ui(app: Any) -> Any:
    """Mount the UI on an app from ``create_app`` unless the app factory already did."""
    from modelyard.server.ui import register

    if not any(getattr(route, "name", None) == "ui-static" for route in app.routes):
        register(app)
    return app


def seed_demo(tracking: TrackingService, *, runs: int = 30, steps: int = 60) -> Seeded:
    seeded = Seeded()
    models = ("rf", "gbm", "logreg")
    lrs = (0.1, 0.03, 0.01)
    for i in range(runs):
        name = "baseline" if i == 0 else f"trial-{i:02d}"
        model, lr, depth = models[i % 3], lrs[(i // 3) % 3], 2 + i % 7
        start = T0 + i * 60_000
        run = tracking.create_run(
            seeded.project, name=name, start_time=start, tags={"team": "growth" if i % 2 else "risk", "stage": "dev"}
        )
        seeded.run_ids[name] = run.id
        points: list[Metric] = []
        for step in range(steps):
            loss, acc = _curve(step, steps, lr, depth, i)
            ts = start + step * 500
            points += [Metric("loss", loss, step, ts), Metric("accuracy", acc, step, ts)]
        points.append(Metric("val loss", points[-2].value + 0.05, steps - 1, start + steps * 500))
        tracking.log_batch(run.id, metrics=points, params={"model": model, "lr": lr, "max_depth": depth})
        status = RunStatus.FAILED if i == 5 else RunStatus.FINISHED
        if i != 7:  # one run stays RUNNING
            tracking.end_run(run.id, status, end_time=start + steps * 500 + 1_000)
    baseline = seeded.baseline
    tracking.log_inputs(
        baseline,
        [
            RunInput(
                name="customers",
                version="3",
                digest="sha256:" + "ab" * 32,
                context="training",
                source="warehouse.customers",
            )
        ],
    )
    tracking.set_notes(baseline, "First model of the churn study.")
    tracking.log_bytes(baseline, b"hello from the baseline run\n" * 3, "notes.txt")
    tracking.log_bytes(baseline, b"model: rf\nlr: 0.1\nmax_depth: 2\n", "config/train.yaml")
    tracking.log_bytes(baseline, png_bytes(), "plots/gradient.png")
    tracking.log_bytes(baseline, SVG, "plots/shape.svg")
    tracking.log_bytes(
        baseline,
        b"id,score,label\n" + b"".join(f"{k},{k / 100:.2f},{k % 2}\n".encode() for k in range(80)),
        "predictions.csv",
    )
    tracking.log_bytes(baseline, parquet_bytes(), "data/features.parquet")
    tracking.log_bytes(baseline, bytes(range(256)) * 8, "model/weights.bin")

    long_run = tracking.create_run(seeded.project, name="long-history", start_time=T0 - 3_600_000)
    seeded.run_ids["long-history"] = long_run.id
    points = [
        Metric("loss", 1.0 / (1 + s / 1000) + (5.0 if s == 54_321 else 0.0), s, T0 - 3_600_000 + s)
        for s in range(LONG_HISTORY_POINTS)
    ]
    points.append(Metric("loss", float("nan"), LONG_HISTORY_POINTS, T0))
    _log_points(tracking, long_run.id, points)
    tracking.log_params(long_run.id, {"model": "gbm", "lr": 0.001, "max_depth": 12})
    tracking.end_run(long_run.id, end_time=T0 - 3_000_000)

    for i in range(3):
        other = tracking.create_run(seeded.other_project, name=f"fraud-{i}", start_time=T0 + i)
        tracking.log_batch(other.id, metrics=[Metric("auc", 0.8 + i / 100, 0, T0 + i)], params={"k": i})
        tracking.end_run(other.id, end_time=T0 + 10_000)
    return seeded


def bulk_runs(store: Any, project: str, count: int, *, seed: int = 3) -> None:
    """``count`` finished runs with 3 params and 2 metrics each, inserted in one transaction.

    Through the public API each run costs two write transactions (create_run, log_batch): 20,000
    transactions for 10,000 runs, tens of seconds on a busy machine. The SQL store's own tables
    are written here instead (runs, params, metric history and latest metrics, consistently), so
    that a 10,000-run project takes about a second to build. SQL stores only.
    """
    import random

    from modelyard.core.ids import new_id
    from modelyard.store.sql import schema

    rng = random.Random(seed)
    project_id = store.get_or_create_project(project).id
    runs, params, metrics = [], [], []
    for i in range(count):
        run_id, start = new_id(), T0 + i * 1000
        runs.append(
            {
                "id": run_id,
                "project_id": project_id,
                "name": f"sweep-{i:05d}",
                "status": "FINISHED",
                "start_time": start,
                "end_time": start + 500,
                "parent_run_id": None,
                "lifecycle_stage": "active",
                "notes": None,
            }
        )
        for key, value in (("lr", rng.choice(("0.1", "0.01", "0.001"))), ("depth", str(i % 12)), ("seed", str(i))):
            params.append({"run_id": run_id, "key": key, "value": value})
        for key in ("accuracy", "loss"):
            metrics.append(
                {"run_id": run_id, "key": key, "value": rng.random(), "is_nan": False, "step": 0, "timestamp": start}
            )
    with store.engine.begin() as conn:
        conn.execute(schema.runs.insert(), runs)
        conn.execute(schema.params_table.insert(), params)
        conn.execute(schema.metrics_table.insert(), metrics)
        conn.execute(schema.latest_metrics.insert(), metrics)
