"""The plotly figures of the monitoring period report (``reports/monitoring_period.py``), kept apart
from how the report is built: each figure is a plain ``{"data": [...], "layout": {...}}`` dict drawn
from a monitor's section of the report (its bucketed series), which the report page and the web UI
hand to ``Plotly.newPlot`` as they are. Which of them a compact view (a deployment's page) shows is
``COMPACT_CHARTS``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

#: The charts of a monitor a compact view shows (the deployment page): the rest is on the dashboard.
#: A name ending with "-" stands for every chart it begins (one per metric).
COMPACT_CHARTS = ("drift-share", "quality", "performance-", "estimated-", "health-errors", "health-latency")


def is_compact(chart: str) -> bool:
    """Whether a compact view shows ``chart`` (a chart name without its monitor index)."""
    return any(chart.startswith(c) if c.endswith("-") else chart == c for c in COMPACT_CHARTS)


#: A section's data quality series: shares of rows (means per bucket), breaches (sums per bucket).
QUALITY_SHARES = ("missing_share", "out_of_range_share", "unseen_category_share", "null_violation_share")
QUALITY_COUNTS = ("failed_expectations", "schema_violations", "missing_columns")
#: A section's latency series.
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")
_EVENT_COLORS = {"firing": "#cf222e", "resolved": "#1f883d", "updated": "#bf8700"}


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as an ISO 8601 UTC time (milliseconds, ``Z``); None stays None."""
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def report_figures(monitors: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every figure of a report, keyed ``"<monitor index>-<chart>"`` plus ``alerts`` (when there are events)."""
    figs: dict[str, dict[str, Any]] = {}
    for i, section in enumerate(monitors):
        figs.update({f"{i}-{k}": v for k, v in section_figures(section).items()})
    if events:
        figs["alerts"] = events_figure(events)
    return figs


#: Chart titles by chart name (the page's headings).
TITLES = {
    "drift-columns": "Drift per column",
    "drift-share": "Dataset drift share",
    "quality": "Data quality",
    "quality-breaches": "Data quality breaches",
    "health-latency": "Latency",
    "health-errors": "Error rate",
    "health-throughput": "Throughput",
}


def _line(name: str, x: list[Any], y: list[Any], **extra: Any) -> dict[str, Any]:
    return {"type": "scatter", "mode": "lines+markers" if len(x) < 60 else "lines", "name": name, "x": x, "y": y,
            "connectgaps": False, **extra}  # fmt: skip


def _band(name: str, x: list[Any], lower: list[Any], upper: list[Any], color: str) -> list[dict[str, Any]]:
    return [
        {"type": "scatter", "mode": "lines", "x": x, "y": upper, "line": {"width": 0}, "showlegend": False,
         "hoverinfo": "skip", "name": f"{name} upper"},
        {"type": "scatter", "mode": "lines", "x": x, "y": lower, "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": color, "name": f"{name} band", "hoverinfo": "skip"},
    ]  # fmt: skip


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "xaxis": {"type": "date"}, "legend": {"orientation": "h", "y": -0.25},
            "height": 300, **extra}  # fmt: skip


_PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d")


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def section_figures(s: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    x = s["x"]
    figs: dict[str, dict[str, Any]] = {}
    drift = s.get("drift")
    if drift:
        if drift["columns"]:
            figs["drift-columns"] = {
                "data": [{"type": "heatmap", "x": x, "y": drift["columns"], "z": drift["column_drifted"],
                          "zmin": 0, "zmax": 1, "colorscale": [[0, "#f2f4f7"], [1, "#cf222e"]],
                          "colorbar": {"title": {"text": "drifted"}, "tickformat": ".0%"},
                          "hovertemplate": "%{y}<br>%{x}<br>drifted in %{z:.0%} of windows<extra></extra>"}],
                "layout": _layout("Drift per column (share of windows drifted)",
                                  height=max(260, 22 * len(drift["columns"]) + 140),
                                  yaxis={"automargin": True, "autorange": "reversed"}),
            }  # fmt: skip
        traces = [_line("share of columns drifted", x, drift["share_drifted"])]
        traces.append(_line("windows with dataset drift", x, drift["dataset_drift"], line={"dash": "dot"}))
        if any(v is not None for v in drift["prediction_drift"]):
            traces.append(_line("windows with prediction drift", x, drift["prediction_drift"], line={"dash": "dash"}))
        figs["drift-share"] = {
            "data": traces,
            "layout": _layout("Dataset drift share", yaxis={"range": [0, 1.05], "tickformat": ".0%"}),
        }
    quality = s.get("quality")
    if quality:
        figs["quality"] = {
            "data": [_line(k.replace("_", " "), x, quality[k]) for k in QUALITY_SHARES],
            "layout": _layout("Data quality (share of rows)", yaxis={"rangemode": "tozero", "tickformat": ".1%"}),
        }
        figs["quality-breaches"] = {
            "data": [{"type": "bar", "name": k.replace("_", " "), "x": x, "y": quality[k]} for k in QUALITY_COUNTS],
            "layout": _layout("Data quality breaches (failed expectations, schema violations)", barmode="stack"),
        }
    for group, label in (("performance", "realized"), ("estimated", "estimated without labels")):
        for j, (name, m) in enumerate(sorted((s.get(group) or {}).items())):
            color = _PALETTE[j % len(_PALETTE)]
            traces = [*_band(name, x, m["lower"], m["upper"], _rgba(color, 0.18)),
                      _line(f"{name} ({label})", x, m["value"], line={"color": color})]  # fmt: skip
            if m.get("baseline") is not None:
                traces.append(_line("baseline", [x[0], x[-1]] if x else [], [m["baseline"]] * (2 if x else 0),
                                    mode="lines", line={"dash": "dot", "color": "#5b6673"}))  # fmt: skip
            figs[f"{group}-{name}"] = {"data": traces, "layout": _layout(f"{name.replace('_', ' ')}: {label}")}
    health = s.get("health")
    if health:
        figs["health-latency"] = {
            "data": [_line(k.removesuffix("_ms"), x, health[k]) for k in PERCENTILES],
            "layout": _layout("Latency percentiles (ms)", yaxis={"rangemode": "tozero"}),
        }
        variants = health["variants"]
        figs["health-errors"] = {
            "data": [_line("endpoint", x, health["error_rate"], line={"color": "#1d232b"})]
            + [_line(v, x, d["error_rate"]) for v, d in variants.items()],
            "layout": _layout("Error rate per variant", yaxis={"rangemode": "tozero", "tickformat": ".1%"}),
        }
        figs["health-throughput"] = {
            "data": [_line(v, x, d["throughput_rps"]) for v, d in variants.items()]
            or [_line("endpoint", x, health["throughput_rps"])],
            "layout": _layout("Throughput per variant (requests/s)", yaxis={"rangemode": "tozero"}),
        }
    return figs


def events_figure(events: list[dict[str, Any]]) -> dict[str, Any]:
    traces = []
    for kind in sorted({e["kind"] for e in events}):
        chosen = [e for e in events if e["kind"] == kind]
        traces.append(
            {"type": "scatter", "mode": "markers", "name": kind, "x": [e["at"] for e in chosen],
             "y": [f"{e['monitor']}/{e['rule']}" for e in chosen],
             "marker": {"size": 10, "color": _EVENT_COLORS.get(kind, "#8c959f"),
                        "symbol": "triangle-up" if kind == "firing" else "circle"}}
        )  # fmt: skip
    rules = {f"{e['monitor']}/{e['rule']}" for e in events}
    # events often share an instant (one run fires several rules): pad the axis to minutes
    times = [dt.datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp() * 1000 for e in events]
    pad = max((max(times) - min(times)) * 0.05, 5 * 60_000)
    xaxis = {"type": "date", "range": [iso(int(min(times) - pad)), iso(int(max(times) + pad))]}
    return {"data": traces, "layout": _layout("Alert history", height=max(220, 40 * len(rules) + 140), xaxis=xaxis,
                                              yaxis={"automargin": True, "type": "category"})}  # fmt: skip
