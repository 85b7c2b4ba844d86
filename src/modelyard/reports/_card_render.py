"""Rendering of model cards: Markdown (plain text, for repositories and reviews) and an HTML page
(Jinja2 with autoescaping). The page either inlines plotly.js once from the installed plotly
package (self-contained: opens offline and fetches nothing) or loads it from ``plotly_src``, e.g.
the shared ``plotly.min.js`` written beside a folder of cards (see ``core.html_assets``)."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.html_assets import inline_script, plotly_js

if TYPE_CHECKING:
    from modelyard.reports.cards import ModelCard


def _time(millis: int | None) -> str:
    if millis is None:
        return ""
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def _cell(value: Any) -> str:
    text = _num(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
    return " ".join(text.replace("|", "\\|").split())


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _slice_rows(evaluation: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    slices: dict[str, dict[str, Any]] = evaluation.get("slices") or {}
    keys: list[str] = []
    for values in slices.values():
        keys += [k for k in values if k != "n" and k not in keys]
    rows = [[name, values.get("n"), *[values.get(k) for k in keys]] for name, values in slices.items()]
    return ["slice", "rows", *keys], rows


def _comparison_line(c: dict[str, Any]) -> str:
    verdict = {True: "better than", False: "worse than", None: "not significantly different from"}[c.get("better")]
    test = "McNemar's test" if c["test"] == "mcnemar" else "a paired bootstrap"
    detail = f" ({c.get('method')}, b={c.get('b')}, c={c.get('c')})" if c["test"] == "mcnemar" else ""
    ci = ""
    if c.get("ci_low") is not None:
        level = 100 * (1 - c.get("alpha", 0.05))
        ci = f", {level:.0f}% CI of the difference [{_num(c['ci_low'])}, {_num(c['ci_high'])}]"
    return (
        f"Candidate is **{verdict}** champion {c['champion']} on {c['metric']}: "
        f"{_num(c['candidate_value'])} vs {_num(c['champion_value'])} (difference {_num(c['difference'])}{ci}); "
        f"{test}{detail}, p = {_num(c['p_value'])}."
    )


def render_markdown(card: ModelCard) -> str:
    from modelyard.reports.cards import EDITABLE_FIELDS

    out = [f"# Model card: {card.model_name} version {card.version}", ""]
    if card.description:
        out += [card.description, ""]
    out += _md_table(
        ["field", "value"],
        [
            ["project", card.project],
            ["state", card.state],
            ["aliases", ", ".join(card.aliases) or "none"],
            ["flavor", card.flavor],
            ["package", card.package_digest],
            ["registered", f"{_time(card.created_at)} by {card.created_by}"],
        ],
    )
    for key, heading in EDITABLE_FIELDS.items():
        out += [f"## {heading}", "", card.fields.get(key) or "_Not written yet._", ""]
    if card.fields_updated_at is not None:
        out += [f"_Last edited {_time(card.fields_updated_at)} by {card.fields_updated_by}._", ""]
    out += ["## Training", ""]
    run = card.run
    if run is None:
        out += ["_No training run is linked to this version._", ""]
    else:
        out += [f"Run `{run['id']}`" + (f" ({run['name']})" if run.get("name") else "") + f", {run['status']}.", ""]
        for key, value in run["tags"].items():
            out += [f"- {key}: `{value}`"]
        if run["tags"]:
            out += [""]
        out += ["### Training data", ""]
        if run["inputs"]:
            out += _md_table(
                ["dataset", "version", "digest", "context"],
                [
                    [i["name"], i.get("version") or "", i.get("digest") or "", i.get("context") or ""]
                    for i in run["inputs"]
                ],
            )
        else:
            out += ["_The run recorded no dataset versions._", ""]
        for heading, values, column in (
            ("Parameters", run["params"], "param"),
            ("Training metrics", run["metrics"], "metric"),
        ):
            out += [f"### {heading}", ""]
            out += _md_table([column, "value"], [[k, v] for k, v in values.items()]) if values else ["_None._", ""]
    out += ["## Features", ""]
    if card.features:
        out += _md_table(["feature", "type"], [[f["name"] or "(tensor)", f["dtype"]] for f in card.features])
    else:
        out += ["_No signature was recorded._", ""]
    out += ["## Evaluation", ""]
    ev = card.evaluation
    if ev is None:
        out += ["_Not evaluated yet: run `modelyard evaluate`._", ""]
    else:
        when = _time(ev["created_at"])
        out += [f"{ev['task'].capitalize()} on {ev['n_rows']} rows (target `{ev['target']}`), {when}."]
        if ev.get("run_id"):
            out += [f"Logged in run `{ev['run_id']}`."]
        out += [""]
        out += _md_table(["metric", "value"], [[k, v] for k, v in ev["metrics"].items()])
        if ev.get("slices"):
            out += ["### Slices", ""]
            headers, rows = _slice_rows(ev)
            out += _md_table(headers, rows)
        if ev.get("confusion_matrix") is not None:
            out += ["### Confusion matrix (rows: actual, columns: predicted)", ""]
            classes = [str(c) for c in ev["classes"]]
            matrix = ev["confusion_matrix"]
            out += _md_table(["", *classes], [[c, *row] for c, row in zip(classes, matrix, strict=False)])
        if ev.get("comparison"):
            out += ["### Comparison with the champion", "", _comparison_line(ev["comparison"]), ""]
    return "\n".join(out).rstrip() + "\n"


TEMPLATE = "templates/model_card.html"


def _template_text() -> str:
    from importlib import resources

    return resources.files("modelyard.reports").joinpath(TEMPLATE).read_text(encoding="utf-8")


def render_html(card: ModelCard, *, plotly_src: str | None = None) -> str:
    """The card as HTML; plotly.js inlined, or with ``plotly_src`` a ``<script src>`` to it."""
    try:
        import jinja2
        import markupsafe
    except ImportError:  # pragma: no cover - a core dependency since the quickstart writes cards
        raise InvalidArgument(
            "HTML model cards need jinja2 and plotly (dependencies of modelyard): pip install jinja2 plotly"
        ) from None
    from modelyard.evaluation import plots as evaluation_plots
    from modelyard.reports.cards import EDITABLE_FIELDS, card_evaluation

    evaluation = card_evaluation(card)
    plots = list(evaluation_plots.figure_divs(evaluation).values()) if evaluation is not None else []
    plotly_script = inline_script(plotly_js()) if plots and plotly_src is None else ""
    ev = card.evaluation
    headers, rows = _slice_rows(ev) if ev else ([], [])
    comparison = _comparison_line(ev["comparison"]).replace("**", "") if ev and ev.get("comparison") else None
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(_template_text())
    return template.render(
        card=card,
        ev=ev,
        fields=EDITABLE_FIELDS,
        plots=plots,
        plotly_js=markupsafe.Markup(plotly_script),
        plotly_src=plotly_src,
        slice_headers=headers,
        slice_rows=rows,
        comparison=comparison,
        time=_time,
        num=_num,
    )
