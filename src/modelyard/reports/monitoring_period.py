"""The monitoring period report: what a deployment's monitors saw over a period, for analysts —
drift per column and the dataset's drift share over time, data quality breaches, realized and
estimated performance with their confidence bands, service health per variant, and the alerts
that fired or resolved with their history. One HTML page drawn with plotly, or JSON for programs.

Built from the ``MonitoringStore``'s window results and alert history only: aggregates, never a
logged row (a window result already holds only numbers per signal). The windows of the period are
grouped into at most ``max_points`` buckets in time order (``DEFAULT_MAX_POINTS``), so a report's
size depends on the number of columns and buckets, not on the traffic: a year of one-minute
windows over millions of predictions draws the same few hundred points per series. In a bucket:

* drift per column is the share of the bucket's windows where the column drifted (the heatmap),
  the dataset's drift share and the realized/estimated metrics are means over its windows, a
  metric's band runs from the lowest lower bound to the highest upper bound of its windows;
* data quality shares are means, breaches (failed expectations, schema violations) are sums;
* latency percentiles are means of the windows' percentiles, the error rate is errors / requests
  summed over the bucket, throughput the mean of the windows' requests per second.

Besides the charts, each monitor lists its newest windows one by one (``TABLE_WINDOWS`` at most,
newest first: status, requests, a headline of its values, its notes), so a spike seen on a chart
can be traced to the window that holds it.

Like the drift report, the page loads the shared ``plotly.min.js`` written beside it by default
(``self_contained=True`` inlines plotly.js: one ~5 MB file that opens offline). The web UI draws
the same figures on its monitoring dashboard (``server/ui/monitoring_pages.py``) and a compact
subset of them (``COMPACT_CHARTS``) on a deployment's page (``server/ui/deployments_pages.py``).
``modelyard monitor report`` and ``modelyard.monitoring_report`` write it.
The figures themselves are drawn in ``reports/_monitoring_charts.py`` (``COMPACT_CHARTS`` is
importable from here).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.html_assets import inline_script, plotly_js, write_page, write_text_atomic
from modelyard.core.monitoring import Alert, AlertEvent, Monitor, Silence, WindowResult
from modelyard.monitoring.signals import lookup
from modelyard.reports._monitoring_charts import (
    COMPACT_CHARTS,
    PERCENTILES,
    QUALITY_COUNTS,
    QUALITY_SHARES,
    TITLES,
    is_compact,
    iso,
    report_figures,
)

if TYPE_CHECKING:
    from modelyard.store.monitoring import MonitoringStore

__all__ = [
    "COMPACT_CHARTS",
    "DEFAULT_MAX_POINTS",
    "MAX_WINDOWS",
    "TABLE_WINDOWS",
    "MonitoringReport",
    "alert_dict",
    "alert_order",
    "build_monitoring_report",
    "describe_window",
    "headline",
    "write_monitoring_report",
]

#: Buckets per series at most (windows beyond that are grouped).
DEFAULT_MAX_POINTS = 300
#: Window results read per monitor at most (the store's largest page over HTTP).
MAX_WINDOWS = 10_000
#: Columns drawn in the drift heatmap at most (the most often drifted first).
MAX_DRIFT_COLUMNS = 60
#: Windows listed one by one per monitor at most (the newest of the period).
TABLE_WINDOWS = 200
TEMPLATE = "templates/monitoring_period.html"


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.5g}")


@dataclass
class _Buckets:
    """Windows in time order cut into consecutive groups of (nearly) equal size."""

    results: list[WindowResult]
    times: list[int]  # the time of each window (its end, or its last request for count windows)
    edges: list[int]  # start index of each bucket

    @classmethod
    def of(cls, results: list[WindowResult], times: list[int], max_points: int) -> _Buckets:
        n = len(results)
        count = min(n, max_points)
        edges = [int(i) for i in np.linspace(0, n, count + 1)[:-1].round()] if count else []
        return cls(results, times, sorted(set(edges)))

    def __len__(self) -> int:
        return len(self.edges)

    @property
    def x(self) -> list[str | None]:
        if not self.edges:
            return []
        ends = [*self.edges[1:], len(self.results)]
        return [iso(self.times[end - 1]) for end in ends]

    def reduce(self, values: np.ndarray, how: str) -> list[float | None]:
        """``values`` (one per window, NaN where undefined) reduced per bucket."""
        if not len(self):
            return []
        finite = np.isfinite(values)
        idx = np.asarray(self.edges)
        counts = np.add.reduceat(finite.astype(np.int64), idx)
        if how in ("mean", "sum"):
            sums = np.add.reduceat(np.where(finite, values, 0.0), idx)
            out = sums / np.maximum(counts, 1) if how == "mean" else sums
        elif how == "min":
            out = np.minimum.reduceat(np.where(finite, values, np.inf), idx)
        elif how == "max":
            out = np.maximum.reduceat(np.where(finite, values, -np.inf), idx)
        else:  # pragma: no cover - programming error
            raise ValueError(how)
        return [_round(float(v)) if c else None for v, c in zip(out, counts, strict=True)]

    def series(self, path: str | Callable[[Mapping[str, Any]], float | None], how: str = "mean") -> list[float | None]:
        getter = path if callable(path) else (lambda values: lookup(values, path))  # type: ignore[misc]
        values = np.array([np.nan if (v := getter(r.values)) is None else v for r in self.results], dtype=np.float64)
        return self.reduce(values, how)

    def present(self, path: str) -> bool:
        return any(lookup(r.values, path) is not None for r in self.results)


def _duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def describe_window(spec: Mapping[str, Any]) -> str:
    """A window spec in words: "tumbling 5m windows", "sliding 1h windows every 5m", "tumbling
    windows of 1000 requests"."""
    if spec.get("by") == "count":
        every = f" every {spec['step']}" if spec.get("kind") == "sliding" and spec.get("step") else ""
        return f"{spec.get('kind', 'tumbling')} windows of {spec['size']} requests{every}"
    every = f" every {_duration(int(spec['step']))}" if spec.get("kind") == "sliding" and spec.get("step") else ""
    return f"{spec.get('kind', 'tumbling')} {_duration(int(spec['size']))} windows{every}"


def _period_filter(monitor: Monitor, start_ms: int, end_ms: int) -> Callable[[WindowResult], int | None]:
    """The time a result is drawn at, or None when it falls outside the period."""
    by_time = monitor.spec.window.by == "time"

    def time_of(r: WindowResult) -> int | None:
        if by_time:
            return r.window_end if r.window_end > start_ms and r.window_start < end_ms else None
        if r.last_ms is None or r.first_ms is None:
            return None
        return r.last_ms if r.last_ms >= start_ms and r.first_ms < end_ms else None

    return time_of


def _metric_names(results: Iterable[WindowResult], group: str) -> list[str]:
    names: set[str] = set()
    for r in results:
        values = r.values.get(group)
        if isinstance(values, Mapping):
            names.update(k for k in values if f"{k}_lower" in values and not k.endswith(("_lower", "_upper")))
    return sorted(names)


def headline(values: Mapping[str, Any]) -> str:
    """A window's values in a few words: "errors 1.0% · p95 ms 9.5 · drifted 50.0% · accuracy 0.92"."""
    parts = []
    for path, label, pct in (
        ("health.error_rate", "errors", True), ("health.p95_ms", "p95 ms", False),
        ("quality.out_of_range_share", "out of range", True), ("quality.unseen_category_share", "unseen", True),
        ("drift.share_drifted", "drifted", True), ("performance.accuracy", "accuracy", False),
        ("performance.rmse", "rmse", False), ("estimated.accuracy", "est. accuracy", False),
    ):  # fmt: skip
        value = lookup(values, path)
        if value is not None:
            parts.append(f"{label} {value:.1%}" if pct else f"{label} {value:.4g}")
    return " · ".join(parts)


def _window_rows(results: Sequence[WindowResult], by_time: bool, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` windows, newest first, as the windows' table shows them."""
    rows = []
    for r in list(reversed(results))[:count]:
        if by_time:
            span = f"{iso(r.window_start)} → {iso(r.window_end)}"
        else:
            span = f"requests {r.window_start}–{r.window_end}" + (f" ({iso(r.last_ms)})" if r.last_ms else "")
        rows.append({"window": span, "window_start": r.window_start, "window_end": r.window_end, "status": r.status,
                     "rows": r.rows, "headline": headline(r.values), "notes": list(r.notes)})  # fmt: skip
    return rows


def _monitor_section(
    store: MonitoringStore,
    monitor: Monitor,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    max_points: int,
    last: int,
    table_windows: int = TABLE_WINDOWS,
) -> dict[str, Any]:
    spec = monitor.spec.window
    if spec.by == "time":
        limit = min(MAX_WINDOWS, max(1, -(-(max(now_ms, end_ms) - start_ms) // spec.stride) + 2))
    else:
        limit = MAX_WINDOWS
    limit = min(limit, last)
    fetched = store.list_window_results(monitor.name, limit=limit)
    time_of = _period_filter(monitor, start_ms, end_ms)
    kept = sorted(((t, r) for r in fetched if (t := time_of(r)) is not None), key=lambda p: (p[0], p[1].window_start))
    truncated = len(fetched) >= limit and bool(kept) and (time_of(fetched[-1]) is not None)
    results = [r for _, r in kept]
    buckets = _Buckets.of(results, [t for t, _ in kept], max_points)
    status = {s: sum(r.status == s for r in results) for s in ("ok", "no_traffic", "error")}
    section: dict[str, Any] = {
        "monitor": monitor.name,
        "deployment": monitor.deployment,
        "window": spec.model_dump(mode="json"),
        "window_text": describe_window(spec.model_dump(mode="json")),
        "signals": list(monitor.spec.signals),
        "rules": [r.model_dump(mode="json", exclude={"notifiers"}) for r in monitor.spec.rules],
        "windows": {"total": len(results), **status, "requests": int(sum(r.rows for r in results))},
        "first_window": iso(kept[0][0]) if kept else None,
        "last_window": iso(kept[-1][0]) if kept else None,
        "buckets": len(buckets),
        "truncated": truncated,
        "errors": _notes([r for r in results if r.status == "error"]),
        "x": buckets.x,
        "requests": buckets.reduce(np.array([float(r.rows) for r in results], dtype=np.float64), "sum"),
        "recent_windows": _window_rows(results, spec.by == "time", table_windows),
    }
    ok = [r for r in results if r.status == "ok"]
    if any(isinstance(r.values.get("drift"), Mapping) and r.values["drift"] for r in ok):
        section["drift"] = _drift(buckets, ok)
    if buckets.present("quality.rows"):
        section["quality"] = {
            **{k: buckets.series(f"quality.{k}") for k in QUALITY_SHARES},
            **{k: buckets.series(f"quality.{k}", "sum") for k in QUALITY_COUNTS},
        }
    for group in ("performance", "estimated"):
        names = _metric_names(ok, group)
        if names:
            section[group] = {
                name: {
                    "value": buckets.series(f"{group}.{name}"),
                    "lower": buckets.series(f"{group}.{name}_lower", "min"),
                    "upper": buckets.series(f"{group}.{name}_upper", "max"),
                    "baseline": _last(ok, f"{group}.{name}_baseline"),
                }
                for name in names
            }
            if group == "performance":
                section[group + "_labelled"] = buckets.series("performance.labelled", "sum")
    if buckets.present("health.requests"):
        section["health"] = _health(buckets, ok)
    return section


def _notes(results: Sequence[WindowResult]) -> list[dict[str, Any]]:
    return [{"window_end": iso(r.window_end), "notes": list(r.notes)[:3]} for r in results[-20:]]


def _last(results: Sequence[WindowResult], path: str) -> float | None:
    for r in reversed(results):
        value = lookup(r.values, path)
        if value is not None:
            return _round(value)
    return None


def _drift(buckets: _Buckets, ok: list[WindowResult]) -> dict[str, Any]:
    drifted_count: dict[str, int] = {}
    for r in ok:
        for name, col in ((r.values.get("drift") or {}).get("columns") or {}).items():
            drifted_count[name] = drifted_count.get(name, 0) + bool(isinstance(col, Mapping) and col.get("drifted"))
    columns = sorted(drifted_count, key=lambda c: (-drifted_count[c], c))[:MAX_DRIFT_COLUMNS]
    # one pass over the windows: 1 where a column drifted, 0 where it was tested and did not
    row = {name: i for i, name in enumerate(columns)}
    matrix = np.full((len(columns), len(buckets.results)), np.nan)
    for j, r in enumerate(buckets.results):
        for name, col in ((r.values.get("drift") or {}).get("columns") or {}).items():
            if name in row and isinstance(col, Mapping) and "drifted" in col:
                matrix[row[name], j] = 1.0 if col["drifted"] else 0.0
    return {
        "share_drifted": buckets.series("drift.share_drifted"),
        "dataset_drift": buckets.series("drift.dataset_drift"),
        "prediction_drift": buckets.series("drift.prediction_drift"),
        "columns": columns,
        "omitted_columns": max(0, len(drifted_count) - len(columns)),
        "column_drifted": [buckets.reduce(matrix[i], "mean") for i in range(len(columns))],
        "drifted_windows": {c: drifted_count[c] for c in columns},
    }


def _health(buckets: _Buckets, ok: list[WindowResult]) -> dict[str, Any]:
    variants = sorted({v for r in ok for v in ((r.values.get("health") or {}).get("variants") or {})})
    requests = buckets.series("health.requests", "sum")
    errors = buckets.series("health.errors", "sum")
    out: dict[str, Any] = {
        **{k: buckets.series(f"health.{k}") for k in PERCENTILES},
        "requests": requests,
        "errors": errors,
        "error_rate": _rate(errors, requests),
        "throughput_rps": buckets.series("health.throughput_rps"),
        "variants": {},
    }
    for name in variants:
        v_requests = buckets.series(f"health.variants.{name}.requests", "sum")
        v_errors = buckets.series(f"health.variants.{name}.errors", "sum")
        out["variants"][name] = {
            "requests": v_requests,
            "error_rate": _rate(v_errors, v_requests),
            "throughput_rps": buckets.series(f"health.variants.{name}.throughput_rps"),
            "p95_ms": buckets.series(f"health.variants.{name}.p95_ms"),
        }
    return out


def _rate(num: list[float | None], den: list[float | None]) -> list[float | None]:
    return [_round(a / b) if a is not None and b else None for a, b in zip(num, den, strict=True)]


def _in_period_alert(alert: Alert, start_ms: int, end_ms: int, fingerprints: set[str]) -> bool:
    if alert.fingerprint in fingerprints:
        return True
    active_until = alert.resolved_at if alert.state == "resolved" and alert.resolved_at is not None else end_ms
    return alert.first_seen < end_ms and active_until >= start_ms


def alert_order(alert: Alert) -> tuple[bool, int, int]:
    """Firing alerts first, the most severe first, then the most recently seen."""
    return (alert.state != "firing", -{"critical": 2, "warning": 1}.get(alert.severity, 0), -alert.last_seen)


def _silence_applies(silence: Silence, monitors: set[str], start_ms: int, end_ms: int) -> bool:
    monitor = silence.matchers.get("monitor")
    return silence.start < end_ms and silence.end > start_ms and (monitor is None or monitor in monitors)


@dataclass
class MonitoringReport:
    """A deployment's (or one monitor's) monitoring over ``[start_ms, end_ms)``; see the module
    docstring for what a bucket holds."""

    subject: str
    deployment: str
    start_ms: int
    end_ms: int
    generated_ms: int
    monitors: list[dict[str, Any]]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    silences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Monitoring report: {self.subject}"

    @property
    def firing(self) -> int:
        return sum(a["state"] == "firing" for a in self.alerts)

    def counts(self) -> dict[str, int]:
        kinds = [e["kind"] for e in self.events]
        return {
            k: kinds.count(k) for k in ("firing", "resolved", "notified", "notify_failed", "action", "action_failed")
        }

    def summary(self) -> dict[str, int]:
        """Windows by status, requests, alerts fired and resolved, over every monitor of the report."""
        counts = self.counts()
        windows = [m["windows"] for m in self.monitors]
        return {
            "windows": sum(w["total"] for w in windows),
            "with_traffic": sum(w["ok"] for w in windows),
            "no_traffic": sum(w["no_traffic"] for w in windows),
            "errors": sum(w["error"] for w in windows),
            "requests": sum(w["requests"] for w in windows),
            "alerts_fired": counts["firing"],
            "alerts_resolved": counts["resolved"],
        }

    def _chart_entry(self, key: str, figure: Mapping[str, Any]) -> dict[str, Any]:
        title = figure["layout"]["title"]["text"]
        if key == "alerts":
            return {"key": key, "monitor": None, "group": "alerts", "title": title}
        index, name = key.split("-", 1)
        return {
            "key": key,
            "monitor": self.monitors[int(index)]["monitor"],
            "group": name.split("-")[0],
            "title": title,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "deployment": self.deployment,
            "period": {"start": iso(self.start_ms), "end": iso(self.end_ms), "start_ms": self.start_ms,
                       "end_ms": self.end_ms},
            "generated": iso(self.generated_ms),
            "monitors": self.monitors,
            "alerts": self.alerts,
            "events": self.events,
            "event_counts": self.counts(),
            "summary": self.summary(),
            "charts": [self._chart_entry(key, fig) for key, fig in self.figures().items()],
            "silences": self.silences,
        }  # fmt: skip

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(
            self.to_dict(), indent=indent, allow_nan=False, separators=(",", ":") if indent is None else None
        )

    # -- figures --------------------------------------------------------------------------------

    def figures(self) -> dict[str, dict[str, Any]]:
        """plotly figures as ``{key: {"data": [...], "layout": {...}}}`` (what the page and the
        web UI hand to ``Plotly.newPlot``), keyed ``"<monitor index>-<chart>"`` plus ``alerts``."""
        return report_figures(self.monitors, self.events)

    def compact_figures(self) -> dict[str, dict[str, Any]]:
        """The figures a compact view shows (``COMPACT_CHARTS`` of each monitor, no heatmap nor
        alert history), same keys as ``figures``."""
        return {key: fig for key, fig in self.figures().items() if key != "alerts" and is_compact(key.split("-", 1)[1])}

    # -- HTML -----------------------------------------------------------------------------------

    def to_html(self, *, plotly_src: str | None = None) -> str:
        """The page: plotly.js inlined (self-contained), or loaded from ``plotly_src``."""
        from importlib import resources

        import jinja2
        import markupsafe

        figures = self.figures()
        figures_json = json.dumps(figures, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        script = inline_script(plotly_js()) if figures and plotly_src is None else ""
        template = resources.files("modelyard.reports").joinpath(TEMPLATE).read_text(encoding="utf-8")
        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        return env.from_string(template).render(
            report=self,
            period=(iso(self.start_ms), iso(self.end_ms)),
            generated=iso(self.generated_ms),
            counts=self.counts(),
            charts={
                i: [k.split("-", 1)[1] for k in figures if k.startswith(f"{i}-")] for i in range(len(self.monitors))
            },
            has_alert_chart="alerts" in figures,
            titles=TITLES,
            figures_json=markupsafe.Markup(figures_json),
            plots=bool(figures),
            plotly_js=markupsafe.Markup(script),
            plotly_src=plotly_src,
            iso=iso,
        )

    def write_html(self, path: str | Path, *, self_contained: bool = False) -> Path:
        """Write the page atomically: loading the shared ``plotly.min.js`` written beside it, or,
        ``self_contained=True``, with plotly.js inlined."""
        return write_page(
            Path(path), lambda src: self.to_html(plotly_src=src), plotly_js, self_contained=self_contained
        )


# -- building -----------------------------------------------------------------------------------


def build_monitoring_report(
    store: MonitoringStore,
    subject: str,
    *,
    start_ms: int,
    end_ms: int,
    now_ms: int | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    last: int = MAX_WINDOWS,
    table_windows: int = TABLE_WINDOWS,
) -> MonitoringReport:
    """The report of ``subject`` — a monitor's name, or a deployment (every monitor watching
    it) — over ``[start_ms, end_ms)``, reading at most the newest ``last`` windows of each
    monitor (the report says when older windows of the period were left out), and listing the
    newest ``table_windows`` of each one by one. NotFound when no
    monitor matches; InvalidArgument for an empty period."""
    from modelyard.core.tracking import now_millis

    if end_ms <= start_ms:
        raise InvalidArgument(f"the period ends ({iso(end_ms)}) before it starts ({iso(start_ms)})")
    if not 1 <= last <= MAX_WINDOWS:
        raise InvalidArgument(f"last must be between 1 and {MAX_WINDOWS}")
    if table_windows < 0:
        raise InvalidArgument("table_windows must not be negative")
    if max_points < 2:
        raise InvalidArgument("max_points must be at least 2")
    now = now_millis() if now_ms is None else now_ms
    monitors = store.list_monitors(subject)
    deployment = subject
    if not monitors:
        try:
            monitor = store.get_monitor(subject)
        except NotFound:
            raise NotFound(f"no monitor is named {subject!r} nor watches a deployment {subject!r}") from None
        monitors, deployment = [monitor], monitor.deployment
    sections = [_monitor_section(store, m, start_ms, end_ms, now, max_points, last, table_windows) for m in monitors]
    names = {m.name for m in monitors}
    events: list[AlertEvent] = []
    alerts: list[Alert] = []
    for m in monitors:
        events.extend(
            e for e in store.list_alert_events(monitor=m.name, limit=MAX_WINDOWS) if start_ms <= e.at < end_ms
        )
    fingerprints = {e.fingerprint for e in events}
    for m in monitors:
        alerts.extend(
            a for a in store.list_alerts(monitor=m.name) if _in_period_alert(a, start_ms, end_ms, fingerprints)
        )
    alerts.sort(key=alert_order)
    silences = [s for s in store.list_silences() if _silence_applies(s, names, start_ms, end_ms)]
    return MonitoringReport(
        subject=subject, deployment=deployment, start_ms=start_ms, end_ms=end_ms, generated_ms=now,
        monitors=sections,
        alerts=[alert_dict(a, now, silences) for a in alerts],
        events=[{**e.model_dump(mode="json"), "at": iso(e.at)} for e in sorted(events, key=lambda e: (e.at, e.seq))],
        silences=[{**s.model_dump(mode="json"), "active": s.start <= now < s.end} for s in silences],
    )  # fmt: skip


def alert_dict(alert: Alert, now: int, silences: Sequence[Silence]) -> dict[str, Any]:
    """An alert as the report shows it: times in ISO-8601, ``silenced_now`` when a silence holds it."""
    data = alert.model_dump(mode="json")
    data["silenced_now"] = any(s.matches(alert, now) for s in silences)
    for key in ("first_seen", "last_seen", "resolved_at"):
        data[key] = iso(data[key])
    return data


def write_monitoring_report(report: MonitoringReport, path: str | Path, *, self_contained: bool = False) -> Path:
    """``.json``: the JSON form; otherwise the HTML page (see ``MonitoringReport.write_html``)."""
    target = Path(path)
    if target.suffix.lower() == ".json":
        write_text_atomic(target, report.to_json(indent=1))
        return target
    return report.write_html(target, self_contained=self_contained)
