"""The monitoring period report: what a monitor saw over a period, for analysts — one chart per
signal group over the windows (service health, data quality, drift with its per-column scores,
realized and estimated performance with their confidence bands), the windows' table and the
alerts' history. HTML (plotly) or JSON, built from the stored window results: aggregates only,
never a logged row, so its size depends on the number of windows, not of requests.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelyard.core.html_assets import PLOTLY_FILE, inline_script, write_shared_script, write_text_atomic
from modelyard.core.monitoring import AlertEvent, Monitor, WindowResult

__all__ = ["monitoring_report_dict", "render_monitoring_html", "series", "write_monitoring_report"]

TEMPLATE = "templates/monitoring_report.html"
#: What each chart draws: (group, title, [(value path, label)]).
CHARTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("health", "Traffic", (("requests", "requests"),)),
    ("health", "Error rate", (("error_rate", "error rate"),)),
    ("health", "Latency (ms)", (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"))),
    (
        "quality",
        "Data quality (share of rows)",
        (
            ("missing_share", "missing values"),
            ("out_of_range_share", "out of range"),
            ("unseen_category_share", "unseen categories"),
            ("null_violation_share", "nulls where none were"),
        ),
    ),
    ("drift", "Drift (share of drifted columns)", (("share_drifted", "share drifted"),)),
)
_METRICS = ("accuracy", "f1", "roc_auc", "precision", "recall", "rmse", "mae", "r2")


def _get(values: dict[str, Any], group: str, key: str) -> float | None:
    value = (values.get(group) or {}).get(key)
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


def _x(monitor: Monitor, result: WindowResult) -> Any:
    if monitor.spec.window.by == "time":
        return dt.datetime.fromtimestamp(result.window_start / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return result.window_start


def series(monitor: Monitor, results: Sequence[WindowResult]) -> list[dict[str, Any]]:
    """The charts of the report: per chart a title and its lines (x, y, and the band when the
    values have one), from the results (oldest first) of the groups the monitor computes."""
    ordered = sorted(results, key=lambda r: r.window_start)
    xs = [_x(monitor, r) for r in ordered]
    charts: list[dict[str, Any]] = []
    for group, title, paths in CHARTS:
        if group not in monitor.spec.signals:
            continue
        traces = [{"name": label, "x": xs, "y": [_get(r.values, group, key) for r in ordered]} for key, label in paths]
        charts.append({"group": group, "title": title, "lines": traces})
    if "drift" in monitor.spec.signals:
        columns = sorted({c for r in ordered for c in ((r.values.get("drift") or {}).get("columns") or {})})
        if columns:
            lines: list[dict[str, Any]] = []
            for column in columns:
                scores = []
                for r in ordered:
                    entry = ((r.values.get("drift") or {}).get("columns") or {}).get(column) or {}
                    score = entry.get("score")
                    scores.append(float(score) if isinstance(score, int | float) else None)
                lines.append({"name": column, "x": xs, "y": scores})
            charts.append({"group": "drift", "title": "Drift score per column", "lines": lines})
    for group, title in (("performance", "Realized performance"), ("estimated", "Estimated performance")):
        if group not in monitor.spec.signals:
            continue
        present = [m for m in _METRICS if any(_get(r.values, group, m) is not None for r in ordered)]
        bands = [
            {
                "name": metric, "x": xs, "y": [_get(r.values, group, metric) for r in ordered],
                "lower": [_get(r.values, group, f"{metric}_lower") for r in ordered],
                "upper": [_get(r.values, group, f"{metric}_upper") for r in ordered],
            }
            for metric in present
        ]  # fmt: skip
        if bands:
            charts.append({"group": group, "title": title, "lines": bands})
    return charts


def monitoring_report_dict(
    monitor: Monitor, results: Sequence[WindowResult], events: Sequence[AlertEvent]
) -> dict[str, Any]:
    """The report as JSON-able data: the monitor, its windows' values, the charts, the alert history."""
    ordered = sorted(results, key=lambda r: r.window_start)
    return {
        "monitor": monitor.model_dump(mode="json"),
        "windows": [r.model_dump(mode="json") for r in ordered],
        "charts": series(monitor, ordered),
        "alert_events": [e.model_dump(mode="json") for e in events],
        "summary": _summary(ordered, events),
    }


def _summary(results: Sequence[WindowResult], events: Sequence[AlertEvent]) -> dict[str, Any]:
    statuses = [r.status for r in results]
    return {
        "windows": len(results),
        "with_traffic": statuses.count("ok"),
        "no_traffic": statuses.count("no_traffic"),
        "errors": statuses.count("error"),
        "requests": sum(r.rows for r in results),
        "alerts_fired": sum(1 for e in events if e.kind == "firing"),
        "alerts_resolved": sum(1 for e in events if e.kind == "resolved"),
    }


def _fmt_time(millis: int) -> str:
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def plotly_js() -> str:
    """plotly.js from the installed plotly package (never a CDN)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def render_monitoring_html(
    monitor: Monitor,
    results: Sequence[WindowResult],
    events: Sequence[AlertEvent],
    *,
    title: str | None = None,
    plotly_src: str | None = None,
) -> str:
    """The report as one HTML page: plotly.js inlined, or loaded from ``plotly_src``."""
    from importlib import resources

    import jinja2
    import markupsafe

    ordered = sorted(results, key=lambda r: r.window_start)
    charts = series(monitor, ordered)
    charts_json = json.dumps(charts, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(resources.files("modelyard.reports").joinpath(TEMPLATE).read_text(encoding="utf-8"))
    return template.render(
        title=title or f"Monitoring report: {monitor.name}",
        monitor=monitor,
        results=list(reversed(ordered)),
        events=list(events),
        summary=_summary(ordered, events),
        by_time=monitor.spec.window.by == "time",
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        charts_json=markupsafe.Markup(charts_json),
        charts=charts,
        plotly_js=markupsafe.Markup(inline_script(plotly_js()) if plotly_src is None else ""),
        plotly_src=plotly_src,
        fmt_time=_fmt_time,
        headline=_headline,
    )


def _headline(values: dict[str, Any]) -> str:
    parts = []
    for group, key, label, pct in (
        ("health", "error_rate", "errors", True), ("health", "p95_ms", "p95 ms", False),
        ("quality", "out_of_range_share", "out of range", True), ("quality", "unseen_category_share", "unseen", True),
        ("drift", "share_drifted", "drifted", True), ("performance", "accuracy", "accuracy", False),
        ("performance", "rmse", "rmse", False), ("estimated", "accuracy", "est. accuracy", False),
    ):  # fmt: skip
        value = _get(values, group, key)
        if value is not None:
            parts.append(f"{label} {value:.1%}" if pct else f"{label} {value:.4g}")
    return " · ".join(parts)


def write_monitoring_report(
    monitor: Monitor,
    results: Sequence[WindowResult],
    events: Sequence[AlertEvent],
    path: str | Path,
    *,
    title: str | None = None,
    self_contained: bool = False,
) -> Path:
    """Write the report to ``path`` atomically: ``.json`` gives the JSON form; otherwise HTML
    whose charts load the shared ``plotly.min.js`` written beside it, or, ``self_contained=True``,
    with plotly.js inlined."""
    target = Path(path)
    if target.suffix.lower() == ".json":
        data = monitoring_report_dict(monitor, results, events)
        write_text_atomic(target, json.dumps(data, indent=1, allow_nan=False, default=str))
        return target
    html = render_monitoring_html(
        monitor, results, events, title=title, plotly_src=None if self_contained else PLOTLY_FILE
    )
    if not self_contained:
        write_shared_script(target, plotly_js())
    write_text_atomic(target, html)
    return target
