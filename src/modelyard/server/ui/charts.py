"""Chart data for the run and compare pages, as JSON the browser hands straight to plotly.js.

Metric histories are downsampled here (see ``downsample``), never in the browser: the page
downloads at most ~2,000 points per series whatever the history's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from modelyard.core.tracking import Metric, Run
from modelyard.server.ui._common import json_safe
from modelyard.server.ui.downsample import DEFAULT_MAX_POINTS, downsample_series

XAxis = Literal["step", "time", "relative"]
MAX_COMPARE_RUNS = 10
MIN_COMPARE_RUNS = 2


def series_json(
    history: Sequence[Metric], *, x_axis: XAxis = "step", max_points: int = DEFAULT_MAX_POINTS
) -> dict[str, Any]:
    """One metric's history as ``{"x": [...], "y": [...], ...}``.

    ``x_axis``: ``step``; ``time`` (wall clock, ms since epoch, drawn as dates); ``relative``
    (seconds since the first point).
    """
    n = len(history)
    ys = np.fromiter((p.value for p in history), dtype=np.float64, count=n)
    if x_axis == "step":
        xs = np.fromiter((p.step for p in history), dtype=np.float64, count=n)
    else:
        xs = np.fromiter((p.timestamp for p in history), dtype=np.float64, count=n)
        if x_axis == "relative" and n:
            xs = (xs - xs.min()) / 1000.0
    result = downsample_series(xs, ys, max_points)
    x_values: list[Any] = result.x.tolist()
    if x_axis == "step":
        x_values = [int(v) for v in x_values]
    return {
        "x": x_values,
        "y": result.y.tolist(),
        "points": len(x_values),
        "total_points": result.total_points,
        "nan_points": result.nan_points,
        "inf_points": result.inf_points,
        "downsampled": result.downsampled,
        "x_axis": x_axis,
    }


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parallel_coordinates(runs: Sequence[Run], metric: str | None) -> dict[str, Any]:
    """Dimensions for a plotly ``parcoords`` trace: each param that any run has, then ``metric``.

    A param whose values are all numbers (and present in every run) is a numeric axis; any other
    param is categorical: its values become evenly spaced ticks labelled with the text, with
    ``(none)`` for runs that lack it. The metric's latest value colours the lines.
    """
    keys = sorted({k for r in runs for k in r.params})
    dimensions: list[dict[str, Any]] = []
    for key in keys:
        values = [r.params.get(key) for r in runs]
        numbers = [None if v is None else _as_number(v) for v in values]
        if all(n is not None for n in numbers):
            dimensions.append({"label": key, "values": numbers})
            continue
        labels = sorted({v if v is not None else "(none)" for v in values}, key=_natural_key)
        index = {label: i for i, label in enumerate(labels)}
        dimensions.append(
            {
                "label": key,
                "values": [index[v if v is not None else "(none)"] for v in values],
                "tickvals": list(range(len(labels))),
                "ticktext": labels,
                "range": [0, max(len(labels) - 1, 1)],
            }
        )
    color: list[float | None] = []
    if metric:
        color = [r.metrics[metric].value if metric in r.metrics else None for r in runs]
        dimensions.append({"label": metric, "values": color})
    return json_safe(
        {
            "dimensions": dimensions,
            "color": color,
            "metric": metric,
            "runs": [r.name or r.id for r in runs],
        }
    )


def _natural_key(text: str) -> tuple[int, float, str]:
    number = _as_number(text)
    return (0, number, "") if number is not None else (1, 0.0, text)
