"""Late labels: a done window's realized performance re-evaluated when its labels change.

Ground truth arrives after a window was evaluated. A monitor with a label horizon
(``MonitorSpec.label_horizon_ms``) has each run look through its newest windows for those that
were evaluated with unlabelled rows and whose last request is younger than the horizon; each is
re-read and its ``performance`` signal recomputed. When the labels it reads (their digest,
``performance.labels``) are not those the stored values were computed on, the window is taken
through its claim as a *revision lease* (``claim_window(..., revise=True)``: one evaluator wins,
a dead one's lease expires) and its result replaced (``complete_window(..., revise=True)``); the
other signals do not depend on labels and are kept. The caller then judges the alert rules again.
Two evaluators that read different label sets at once may revise one after the other; the next
run sees the difference and revises again, so the stored result converges on the labels stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from modelyard.core.errors import ModelyardError
from modelyard.core.monitoring import Monitor, WindowResult
from modelyard.monitoring.windows import LogPosition, Window, window_frame

if TYPE_CHECKING:
    from modelyard.monitoring.service import MonitoringService, RunReport
    from modelyard.monitoring.signals import Reference

__all__ = ["REVISION_SCAN", "awaits_labels", "revise_late_labels"]

#: How many of a monitor's newest windows a run looks through for ones still awaiting labels.
REVISION_SCAN = 1_000


def awaits_labels(result: WindowResult, since: int) -> bool:
    """Whether a stored window may still receive labels: evaluated with unlabelled rows, and its
    last request at or after ``since`` (the label horizon)."""
    performance = result.values.get("performance")
    if result.status != "ok" or not isinstance(performance, Mapping) or "labels" not in performance:
        return False
    return bool(performance.get("unlabelled")) and (result.last_ms or 0) >= since


def revise_late_labels(
    service: MonitoringService,
    monitor: Monitor,
    report: RunReport,
    evaluated: set[int],
    references: dict[tuple[str, int], Reference],
    *,
    limit: int,
) -> int:
    """Late labels: re-read each window of the last ``label_horizon_ms`` (by its last request)
    that still had unlabelled rows; when the labels it reads now are not those its performance
    was computed on, take the done window's revision lease, replace its ``performance`` values
    (the other signals do not depend on labels) and store the result. Returns how many."""
    from modelyard.monitoring import signals

    spec = monitor.spec
    since = service.clock() - spec.label_horizon_ms
    waiting = [
        r for r in service.store.list_window_results(monitor.name, limit=REVISION_SCAN)
        if r.window_start not in evaluated and awaits_labels(r, since)
    ][:limit]  # fmt: skip
    revised = 0
    for old in reversed(waiting):  # oldest first
        window = Window(old.window_start, old.window_end)
        position = LogPosition.from_values(old.values) or LogPosition(spec.start, 0)
        try:
            data = window_frame(
                service.stores, monitor.deployment, spec.window, window, start_ms=position.ms, offset=position.offset
            )
            reference = service.reference_for(monitor, data, None, references)
            now = signals.performance_signal(data, reference, options=spec.options.get("performance") or {})
        except Exception as exc:  # a window that cannot be re-read keeps its result
            report.errors.append(f"{monitor.name} window {old.window_start}: late labels not read: {exc}")
            continue
        before = old.values["performance"]
        if now.values.get("labels") == before.get("labels"):
            continue  # no label arrived (or changed) since it was evaluated
        claim = service.store.claim_window(
            monitor.name, old.window_start, old.window_end, owner=service.owner, at=service.clock(),
            lease_ms=service.lease_ms, revise=True,
        )  # fmt: skip
        if claim is None:
            continue  # another evaluator is revising it
        kept = [n for n in old.notes if not n.startswith(("performance: ", "late labels: "))]
        note = f"late labels: performance re-evaluated with {now.values.get('labelled', 0)} labelled row(s) " \
               f"(was {before.get('labelled', 0)})"  # fmt: skip
        result = old.model_copy(update={
            "values": {**old.values, "performance": now.values},
            "notes": (*kept, *(f"performance: {n}" for n in now.notes), note),
            "evaluated_at": service.clock(), "evaluated_by": service.owner,
        })  # fmt: skip
        try:
            service.store.complete_window(result, revise=True)
        except ModelyardError as exc:  # the lease was taken over meanwhile
            report.errors.append(f"{monitor.name} window {old.window_start}: {exc}")
            continue
        report.revised.append(result)
        revised += 1
    return revised
