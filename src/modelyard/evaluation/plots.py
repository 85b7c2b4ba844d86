"""Plots of an evaluation: confusion matrix, ROC and precision-recall curves (classification),
residuals against predictions and their histogram (regression).

Figures are built with plotly from the numbers kept in the ``EvaluationResult`` (curves are thinned
to at most 1,000 points), so a model card can redraw them later from the stored JSON. Artifacts are
each figure's plotly JSON, plus one HTML page; the HTML carries no copy of plotly.js (the web UI
serves it from the installed package, and a model card's HTML export inlines it once), so each
evaluation stays a few kilobytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from modelyard.evaluation import EvaluationResult

PLOTS_DIR = "evaluation/plots"


def _go() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover - plotly is in the server extra
        raise InvalidArgument("evaluation plots need plotly (a dependency of modelyard): pip install plotly") from None
    return go


def figures(result: EvaluationResult) -> dict[str, Figure]:
    """The figures of an evaluation, by name (``confusion_matrix``, ``roc``, ``pr``, ``residuals``...)."""
    go = _go()
    out: dict[str, Figure] = {}
    layout = {"template": "plotly_white", "width": 480, "height": 380, "margin": {"l": 60, "r": 20, "t": 50, "b": 50}}
    if result.confusion_matrix is not None and result.classes is not None:
        names = [str(c) for c in result.classes]
        matrix = result.confusion_matrix
        heatmap = go.Heatmap(z=matrix, x=names, y=names, colorscale="Blues", text=matrix, texttemplate="%{text}")
        fig = go.Figure(heatmap)
        fig.update_traces(showscale=False)
        fig.update_layout(title="Confusion matrix", xaxis_title="predicted", yaxis_title="actual", **layout)
        fig.update_yaxes(autorange="reversed", type="category")
        fig.update_xaxes(type="category")
        out["confusion_matrix"] = fig
    roc = result.curves.get("roc")
    if roc:
        auc = result.metrics.get("roc_auc")
        fig = go.Figure(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name="model"))
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash"}))
        title = "ROC curve" if auc is None else f"ROC curve (AUC {auc:.3f})"
        fig.update_layout(title=title, xaxis_title="false positive rate", yaxis_title="true positive rate", **layout)
        out["roc"] = fig
    pr = result.curves.get("pr")
    if pr:
        ap = result.metrics.get("average_precision")
        fig = go.Figure(go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", name="model"))
        title = "Precision-recall curve" if ap is None else f"Precision-recall curve (AP {ap:.3f})"
        fig.update_layout(title=title, xaxis_title="recall", yaxis_title="precision", **layout)
        out["pr"] = fig
    residuals = result.curves.get("residuals")
    if residuals:
        fig = go.Figure(
            go.Scatter(x=residuals["predicted"], y=residuals["residual"], mode="markers", marker={"size": 5})
        )
        fig.add_hline(y=0, line_dash="dash")
        fig.update_layout(title="Residuals", xaxis_title="predicted", yaxis_title="actual - predicted", **layout)
        out["residuals"] = fig
        hist = go.Figure(go.Histogram(x=residuals["residual"], nbinsx=40))
        hist.update_layout(title="Residual distribution", xaxis_title="actual - predicted", **layout)
        out["residual_histogram"] = hist
    return out


def figure_divs(result: EvaluationResult) -> dict[str, str]:
    """Each figure as an HTML fragment that expects plotly.js to be loaded once on the page."""
    return {
        name: fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{name}", config={"displaylogo": False})
        for name, fig in figures(result).items()
    }


def render_artifacts(result: EvaluationResult) -> dict[str, bytes]:
    """Run artifacts: ``evaluation/plots/<name>.json`` per figure and ``evaluation/plots/index.html``."""
    figs = figures(result)
    out = {f"{PLOTS_DIR}/{name}.json": fig.to_json().encode() for name, fig in figs.items()}
    if figs:
        divs = "\n".join(figure_divs(result).values())
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Evaluation</title>"
            "<!-- plotly.js is not embedded: load it from the modelyard server or the plotly package -->"
            "<script src='plotly.min.js'></script></head>"
            f"<body>{divs}</body></html>"
        )
        out[f"{PLOTS_DIR}/index.html"] = page.encode()
    return out
