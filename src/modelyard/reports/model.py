"""The model report: one HTML page (and its JSON form) for analysts and reviewers,
holding a version's card, its newest evaluation's metrics and slices, the ROC / PR curves and
confusion matrix, and its feature importance, drawn with plotly.

Aggregates only, never raw rows: the evaluation's per-row residual points are left out, and the
importance is one number per feature (its per-feature baseline values are medians / modes). Like the
drift and monitoring reports, a written page loads the shared ``plotly.min.js`` written beside it
(one copy for a folder of reports, ``core/html_assets.py``), or, ``self_contained=True``, inlines
plotly.js from the installed package (one file that opens offline); either way it fetches nothing
from the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.html_assets import inline_script

if TYPE_CHECKING:
    from modelyard.registry.service import RegistryService

#: evaluation fields that are aggregates (``curves`` is filtered: residuals are per-row points)
_EVALUATION_FIELDS = (
    "task", "n_rows", "target", "metrics", "slices", "classes", "confusion_matrix", "comparison", "model",
    "evaluation_id", "created_at", "run_id", "digest",
)  # fmt: skip
_AGGREGATE_CURVES = ("roc", "pr")


@dataclass
class ModelReport:
    card: dict[str, Any]  # ModelCard.to_dict() without its evaluation
    evaluation: dict[str, Any] | None  # the newest evaluation's aggregates
    importance: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> Importance.to_dict()

    @property
    def title(self) -> str:
        return f"Model report: {self.card['model_name']} version {self.card['version']}"

    def to_dict(self) -> dict[str, Any]:
        return {"card": self.card, "evaluation": self.evaluation, "importance": self.importance}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, default=str)

    def figures(self) -> dict[str, Any]:
        """The plotly figures by name (metrics, slices, importance per method, curves, confusion)."""
        import plotly.graph_objects as go

        figs: dict[str, Any] = {}
        ev = self.evaluation
        if ev is not None:
            metrics = {k: v for k, v in ev["metrics"].items() if v is not None}
            if metrics:
                figs["metrics"] = go.Figure(go.Bar(x=list(metrics), y=list(metrics.values())))
                figs["metrics"].update_layout(title="Metrics", height=360)
            slices = ev.get("slices") or {}
            if slices:
                keys = [k for k in next(iter(slices.values())) if k != "n"]
                fig = go.Figure([go.Bar(name=k, x=list(slices), y=[s.get(k) for s in slices.values()]) for k in keys])
                fig.update_layout(title="Metrics per slice", barmode="group", height=400)
                figs["slices"] = fig
            curves = ev.get("curves") or {}
            if "roc" in curves:
                fig = go.Figure(go.Scatter(x=curves["roc"]["fpr"], y=curves["roc"]["tpr"], mode="lines", name="ROC"))
                fig.update_layout(
                    title="ROC curve", xaxis_title="false positive rate", yaxis_title="true positive rate"
                )
                figs["roc"] = fig
            if "pr" in curves:
                fig = go.Figure(go.Scatter(x=curves["pr"]["recall"], y=curves["pr"]["precision"], mode="lines"))
                fig.update_layout(title="Precision-recall curve", xaxis_title="recall", yaxis_title="precision")
                figs["pr"] = fig
            if ev.get("confusion_matrix"):
                labels = [str(c) for c in ev.get("classes") or []]
                fig = go.Figure(go.Heatmap(z=ev["confusion_matrix"], x=labels, y=labels, colorscale="Blues"))
                fig.update_layout(title="Confusion matrix", xaxis_title="predicted", yaxis_title="actual")
                figs["confusion"] = fig
        for method, imp in self.importance.items():
            features = list(reversed(imp["features"][:30]))
            fig = go.Figure(
                go.Bar(
                    x=[f["value"] for f in features],
                    y=[f["feature"] for f in features],
                    orientation="h",
                    error_x=None
                    if method != "permutation"
                    else {"type": "data", "array": [f.get("std") or 0 for f in features]},
                )
            )
            what = (
                f"mean drop of {imp.get('metric')}" if method == "permutation" else f"mean |SHAP| ({imp.get('output')})"
            )
            fig.update_layout(title=f"Feature importance: {method} ({what})", height=max(300, 28 * len(features) + 120))
            figs[f"importance-{method}"] = fig
        return figs

    def to_html(self, *, plotly_src: str | None = None) -> str:
        """The page: plotly.js inlined (self-contained), or loaded from ``plotly_src``."""
        import jinja2
        import markupsafe

        from modelyard.core.html_assets import plotly_js

        divs = {
            name: fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"plot-{name}",
                default_width="100%",
                default_height=f"{fig.layout.height or 420}px",
                config={"displaylogo": False, "responsive": True},
            )
            for name, fig in self.figures().items()
        }
        script = inline_script(plotly_js()) if divs and plotly_src is None else ""
        template = resources.files("modelyard.reports").joinpath("templates/model_report.html").read_text("utf-8")
        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        return env.from_string(template).render(
            report=self,
            card=self.card,
            facts=self._facts(),
            ev=self.evaluation,
            plots=bool(divs),
            evaluation_plots={k: markupsafe.Markup(v) for k, v in divs.items() if not k.startswith("importance-")},
            importance_plots={k: markupsafe.Markup(v) for k, v in divs.items() if k.startswith("importance-")},
            plotly_js=markupsafe.Markup(script),
            plotly_src=plotly_src,
        )

    def _facts(self) -> list[tuple[str, str]]:
        card = self.card
        facts = [
            ("project", card["project"]), ("state", card["state"]), ("aliases", ", ".join(card["aliases"]) or "none"),
            ("flavor", card["flavor"]), ("package", card["package_digest"]), ("registered by", card["created_by"]),
        ]  # fmt: skip
        if card.get("run"):
            facts.append(("training run", f"{card['run']['name']} ({card['run']['id']})"))
        return facts

    def write_html(self, path: str | Path, *, self_contained: bool = False) -> Path:
        """Write the page atomically: loading the shared ``plotly.min.js`` written beside it, or,
        ``self_contained=True``, with plotly.js inlined (one file)."""
        from modelyard.core.html_assets import plotly_js, write_page

        return write_page(
            Path(path), lambda src: self.to_html(plotly_src=src), plotly_js, self_contained=self_contained
        )


def build_model_report(registry: RegistryService, name: str, version: int) -> ModelReport:
    """The report of a version: its card and the aggregates of its newest evaluation."""
    from modelyard.reports.cards import build_card

    card = build_card(registry, name, version).to_dict()
    full = card.pop("evaluation", None)
    evaluation: dict[str, Any] | None = None
    importance: dict[str, dict[str, Any]] = {}
    if full is not None:
        evaluation = {k: full.get(k) for k in _EVALUATION_FIELDS}
        evaluation["curves"] = {k: v for k, v in (full.get("curves") or {}).items() if k in _AGGREGATE_CURVES}
        importance = dict(full.get("importance") or {})
    return ModelReport(card=card, evaluation=evaluation, importance=importance)
