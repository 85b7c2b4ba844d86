"""The HTML validation report: a pass/fail table and one plot per column (the current version
over the reference when there is one). plotly.js is inlined once from the installed package, so
a report is one self-contained file that opens offline; or, with ``plotly_src``, loaded from there
(the server's copy, or the shared ``plotly.min.js`` beside a folder of reports)."""

from __future__ import annotations

import html
import itertools
from typing import TYPE_CHECKING, Any

from modelyard.core.html_assets import inline_script, plotly_js

if TYPE_CHECKING:
    from modelyard.data.validation.suite import ValidationReport

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d232b;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px} .sub{color:#5b6673;margin-bottom:16px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.ok{background:#1f883d}.bad{background:#cf222e}
table{border-collapse:collapse;width:100%;background:#fff;margin:12px 0 24px;font-size:13px}
th,td{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7} .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:8px}
code{font-size:12px;color:#57606a}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _column_figure(name: str, report: ValidationReport) -> Any:
    import plotly.graph_objects as go

    col = report.profile.columns[name]
    ref = report.reference_profile.columns.get(name) if report.reference_profile else None
    fig = go.Figure()
    if col.histogram:
        edges = col.histogram["edges"]
        centers = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        total = sum(col.histogram["counts"]) or 1
        fig.add_bar(x=centers, y=[c / total for c in col.histogram["counts"]], name="current", opacity=0.75)
        if ref is not None and ref.histogram:
            r_edges = ref.histogram["edges"]
            r_total = sum(ref.histogram["counts"]) or 1
            fig.add_bar(
                x=[(a + b) / 2 for a, b in itertools.pairwise(r_edges)],
                y=[c / r_total for c in ref.histogram["counts"]],
                name="reference",
                opacity=0.5,
            )
        fig.update_layout(barmode="overlay")
    elif col.top:
        total = sum(col.top.values()) or 1
        fig.add_bar(x=list(col.top), y=[v / total for v in col.top.values()], name="current")
        if ref is not None and ref.top:
            r_total = sum(ref.top.values()) or 1
            fig.add_bar(x=list(ref.top), y=[v / r_total for v in ref.top.values()], name="reference")
    else:
        return None
    fig.update_layout(
        title=f"{name} ({col.kind})",
        height=280,
        margin={"l": 40, "r": 10, "t": 40, "b": 30},
        yaxis_title="share",
        legend={"orientation": "h"},
    )
    return fig


def render_html(report: ValidationReport, title: str | None = None, *, plotly_src: str | None = None) -> str:
    rows = []
    for r in report.results:
        badge = '<span class="badge ok">pass</span>' if r.success else '<span class="badge bad">fail</span>'
        observed = ", ".join(f"{k}={_fmt(v)}" for k, v in r.observed.items())
        examples = ", ".join(_fmt(v) for v in r.failing_examples)
        rows.append(
            f"<tr><td>{badge}</td><td>{html.escape(r.expectation)}</td><td>{r.failing_count}</td>"
            f"<td><code>{observed}</code></td><td><code>{examples}</code></td></tr>"
        )
    figures = []
    for name in report.profile.columns:
        fig = _column_figure(name, report)
        if fig is None:
            continue
        figures.append('<div class="card">' + fig.to_html(full_html=False, include_plotlyjs=False) + "</div>")
    script = ""
    if figures:
        script = (
            f'<script src="{html.escape(plotly_src)}"></script>'
            if plotly_src is not None
            else f"<script>{inline_script(plotly_js())}</script>"
        )
    status = '<span class="badge ok">PASSED</span>' if report.success else '<span class="badge bad">FAILED</span>'
    profile_rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{c.kind}</td><td>{c.dtype}</td><td>{c.nulls}</td><td>{c.distinct}</td>"
        f"<td>{_fmt(c.min)}</td><td>{_fmt(c.max)}</td><td>{_fmt(c.mean) if c.mean is not None else ''}</td></tr>"
        for c in report.profile.columns.values()
    )
    heading = html.escape(title or f"Validation of {report.suite}")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{heading}</title><style>{_STYLE}</style>
{script}</head>
<body><h1>{heading} {status}</h1>
<div class="sub">{report.rows} rows · {len(report.results)} expectations · {len(report.failed)} failed</div>
<table><tr><th></th><th>expectation</th><th>failing rows</th><th>observed</th><th>examples</th></tr>
{"".join(rows)}</table>
<h2>Profile</h2>
<table><tr><th>column</th><th>kind</th><th>dtype</th><th>nulls</th><th>distinct</th><th>min</th><th>max</th><th>mean</th></tr>
{profile_rows}</table>
<div class="grid">{"".join(figures)}</div></body></html>"""
