"""The drift report: a summary table and one distribution comparison per column, as HTML (plotly)
or JSON, built from the two profiles a ``DriftResult`` compared — aggregates only, never rows.

Numeric columns are drawn as the share of each side in 30 equal-width bins over the combined range
(computed from the sketches), categorical ones as the shares of the most frequent categories
(``TOP_CATEGORIES``; the rest together as "other"). So a report's size depends on the number of
columns, not rows: a 25-column report of a million rows is some tens of KB of HTML, plus plotly.js,
inlined (``self_contained=True``: one ~5 MB file that opens offline) or, by default when written to
a path, the shared ``plotly.min.js`` beside it (as model cards and validation reports do).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.html_assets import inline_script, plotly_js, write_page, write_text_atomic
from modelyard.monitoring.drift import DriftResult
from modelyard.stats import drift as tests
from modelyard.stats.profile import OTHER, NumericProfile

__all__ = ["TOP_CATEGORIES", "drift_plots", "drift_report_dict", "render_drift_html", "write_drift_report"]

TOP_CATEGORIES = 20
NUMERIC_BINS = 30
TEMPLATE = "templates/drift_report.html"


def _round(values: Any) -> list[float]:
    return [float(f"{v:.5g}") for v in values]


def drift_plots(result: DriftResult) -> list[dict[str, Any]]:
    """Per tested column, the two sides' shares over common bins (what the report draws)."""
    ref_prof, cur_prof = result.reference_profile, result.current_profile
    if ref_prof is None or cur_prof is None:
        raise InvalidArgument("this drift result has no profiles to plot (it was read back from JSON)")
    plots = []
    for col in result.columns:
        ref, cur = ref_prof.columns[col.column], cur_prof.columns[col.column]
        title = f"{col.column} · {col.method} {_num(col.score)}{' · drifted' if col.drifted else ''}"
        bins, p, q = tests.histograms(ref, cur, bins=NUMERIC_BINS)
        p_total, q_total = float(p.sum()) or 1.0, float(q.sum()) or 1.0
        p_share, q_share = p / p_total, q / q_total
        if isinstance(bins, list):  # categories (or the few values of a discrete numeric column)
            order = sorted(range(len(bins)), key=lambda i: -(p_share[i] + q_share[i]))
            keep = [i for i in order if bins[i] != OTHER][:TOP_CATEGORIES]
            rest = [i for i in range(len(bins)) if i not in keep]
            labels = [bins[i] for i in keep]
            ref_y, cur_y = [p_share[i] for i in keep], [q_share[i] for i in keep]
            if rest:
                labels.append("other")
                ref_y.append(sum(p_share[i] for i in rest))
                cur_y.append(sum(q_share[i] for i in rest))
            plots.append(
                {
                    "type": "categorical",
                    "title": title,
                    "x": labels,
                    "reference": _round(ref_y),
                    "current": _round(cur_y),
                }
            )
        else:
            centers = (bins[:-1] + bins[1:]) / 2 if len(bins) else bins
            plots.append(
                {
                    "type": "numeric",
                    "title": title,
                    "x": _round(centers),
                    "reference": _round(p_share),
                    "current": _round(q_share),
                }
            )
    return plots


def drift_report_dict(result: DriftResult) -> dict[str, Any]:
    """The report as JSON-able data: the result and the plotted aggregates."""
    data = result.to_dict()
    if result.reference_profile is not None and result.current_profile is not None:
        data["plots"] = drift_plots(result)
        data["summaries"] = {
            c.column: {
                "reference": _summary(result.reference_profile.columns[c.column]),
                "current": _summary(result.current_profile.columns[c.column]),
            }
            for c in result.columns
        }
    return data


def _summary(prof: Any) -> dict[str, Any]:
    if isinstance(prof, NumericProfile):
        qs: Any = prof.quantiles([0.05, 0.25, 0.5, 0.75, 0.95]) if prof.n else []
        return {
            "count": prof.count,
            "missing": prof.missing,
            "mean": _finite(prof.mean if prof.n else math.nan),
            "std": _finite(prof.std),
            "quantiles": dict(zip(["p05", "p25", "p50", "p75", "p95"], _round(qs), strict=False)),
        }
    return {"count": prof.count, "missing": prof.missing, "distinct": prof.distinct}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%" if value >= 0.001 or value == 0 else f"{100 * value:.2g}%"


def render_drift_html(result: DriftResult, *, title: str | None = None, plotly_src: str | None = None) -> str:
    """The report as one HTML page: plotly.js inlined, or loaded from ``plotly_src``."""
    from importlib import resources

    import jinja2
    import markupsafe

    plots = drift_plots(result)
    plots_json = json.dumps(plots, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(resources.files("modelyard.reports").joinpath(TEMPLATE).read_text(encoding="utf-8"))
    features = [c for c in result.columns if c.role == "feature"]
    return template.render(
        title=title or "Drift report",
        result=result,
        features=len(features),
        drifted=sum(c.drifted for c in features),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        plots_json=markupsafe.Markup(plots_json),
        plotly_js=markupsafe.Markup(inline_script(plotly_js()) if plotly_src is None else ""),
        plotly_src=plotly_src,
        num=_num,
        pct=_pct,
    )


def write_drift_report(
    result: DriftResult, path: str | Path, *, title: str | None = None, self_contained: bool = False
) -> Path:
    """Write the report to ``path`` atomically: ``.json`` gives the JSON form; otherwise HTML
    whose charts load the shared ``plotly.min.js`` written beside it, or, ``self_contained=True``,
    with plotly.js inlined."""
    target = Path(path)
    if target.suffix.lower() == ".json":
        write_text_atomic(target, json.dumps(drift_report_dict(result), indent=1, allow_nan=False, default=str))
        return target
    return write_page(
        target,
        lambda src: render_drift_html(result, title=title, plotly_src=src),
        plotly_js,
        self_contained=self_contained,
    )
