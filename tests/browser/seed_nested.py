"""Nested runs for the UI tests: two sweeps with child runs and top-level runs around them."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelyard.core.tracking import Metric
from modelyard.tracking.service import TrackingService
from tests.browser.seed import T0

PROJECT = "tuning"


@dataclass
class Nested:
    ids: dict[str, str] = field(default_factory=dict)  # run name -> id
    children: dict[str, list[str]] = field(default_factory=dict)  # parent name -> child names


def seed_nested(tracking: TrackingService, *, plain: int = 0) -> Nested:
    """Two sweeps with children (``sweep-a``: 3 trials, ``sweep-b``: 2), a run without children,
    and ``plain`` more top-level runs older than all of them."""
    nested = Nested()
    for i in range(plain):
        run = tracking.create_run(PROJECT, name=f"plain-{i:02d}", start_time=T0 - 1_000_000 + i)
        tracking.end_run(run.id, end_time=T0 - 900_000)
    start = T0
    for sweep, trials in (("sweep-a", 3), ("sweep-b", 2)):
        parent = tracking.create_run(PROJECT, name=sweep, start_time=start)
        nested.ids[sweep] = parent.id
        nested.children[sweep] = []
        for t in range(trials):
            start += 1000
            name = f"{sweep}-trial-{t}"
            child = tracking.create_run(PROJECT, name=name, parent_run_id=parent.id, start_time=start)
            tracking.log_batch(
                child.id,
                metrics=[Metric("cv_score", 0.5 + t / 10 + (0.2 if sweep == "sweep-b" else 0), 0, start)],
                params={"C": str(10**t)},
            )
            tracking.end_run(child.id, end_time=start + 500)
            nested.ids[name] = child.id
            nested.children[sweep].append(name)
        tracking.log_params(parent.id, {"search": "grid"})
        tracking.end_run(parent.id, end_time=start + 1000)
        start += 10_000
    solo = tracking.create_run(PROJECT, name="solo", start_time=start)
    tracking.end_run(solo.id, end_time=start + 10)
    nested.ids["solo"] = solo.id
    return nested
