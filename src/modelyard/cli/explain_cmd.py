"""modelyard explain: per-prediction explanations and importance drift between versions.

``modelyard explain NAME@VERSION --data FILE [--rows N] [--target COL] [--method M] [--json]``
prints the global importance and the strongest attributions of the first rows;
``modelyard explain diff NAME@A NAME@B [--json]`` compares the importance stored with two
evaluated versions (a model literally named ``diff`` is ``diff@latest``).

``register(app)`` adds the command; heavy imports stay inside it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelyard.cli._options import JsonOpt, StoreOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_value, print_json, table
from modelyard.cli._parsers import count_option

SHOWN_FEATURES = 3


def _registry(store: str | None) -> Any:
    from modelyard.cli._stores import cli_stores
    from modelyard.sdk.models import RegistryClient

    with errors_as_exit():
        return RegistryClient(stores=cli_stores(store))


def explain(
    reference: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME@ALIAS), or 'diff' to compare two versions.")],
    others: Annotated[
        list[str] | None, typer.Argument(help="With 'diff': the two versions to compare, e.g. churn@1 churn@2.")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="A CSV, Parquet or JSON Lines file with the model's features.")
    ] = None,
    rows: Annotated[
        int, count_option("--rows", "-n", help="Explain the first N rows (default 10).", maximum=100_000)
    ] = 10,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="A label column in the data: adds permutation importance.")
    ] = None,
    method: Annotated[str, typer.Option("--method", help="auto, shap (tree models) or occlusion.")] = "auto",
    top: Annotated[int, count_option("--top", help="Diff: size of the top lists compared.", maximum=1000)] = 5,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Explain a registered model's predictions on a data file, or diff two versions' importance."""
    if reference == "diff":
        if not others or len(others) != 2:
            fail("usage: modelyard explain diff NAME@A NAME@B", 2)
        if data is not None or target is not None:
            fail("explain diff compares stored importance: it takes no --data or --target", 2)
        _diff(others[0], others[1], top=top, json=json, store=store)
        return
    if others:
        fail(f"unexpected argument {others[0]!r}: explain takes one model reference (or 'diff A B')", 2)
    if data is None:
        fail("missing --data FILE: the rows to explain", 2)
    if method not in ("auto", "shap", "occlusion"):
        fail(f"invalid --method {method!r}: use auto, shap or occlusion", 2)
    from modelyard.sdk.explain import explain_model

    registry = _registry(store)
    with errors_as_exit():
        explanation = explain_model(registry, reference, data, rows=rows, target=target, method=method)
    if json:
        print_json(explanation.to_dict())
        return
    imp, expl = explanation.importance, explanation.rows
    what = f"{imp.method} importance" + (
        f" (drop of {imp.metric})" if imp.metric else f" (mean |attribution| of the {imp.output})"
    )
    console.print(f"{explanation.model}: {what} on {imp.n_rows} rows", highlight=False)
    table("Importance", ["feature", "importance"], [(f.feature, fmt_value(f.value)) for f in imp.features])
    shown = []
    for i, row in enumerate(expl.values):
        order = sorted(range(len(row)), key=lambda j: -abs(row[j]))[:SHOWN_FEATURES]
        strongest = ", ".join(f"{expl.features[j]} {row[j]:+.4g}" for j in order)
        shown.append((i, fmt_value(float(expl.outputs[i])), fmt_value(float(expl.base_values[i])), strongest))
    table(
        f"{expl.method} attributions of the {expl.output} (first {len(expl)} rows)",
        ["row", "output", "base", f"strongest {SHOWN_FEATURES}"],
        shown,
    )


def _diff(a: str, b: str, *, top: int, json: bool, store: str | None) -> None:
    from modelyard.sdk.explain import importance_drift

    registry = _registry(store)
    with errors_as_exit():
        diff = importance_drift(registry, a, b, top=top)
    if json:
        print_json(diff.to_dict())
        return
    rho = "undefined" if diff.rank_correlation is None else f"{diff.rank_correlation:.3f}"
    console.print(f"{diff.a} -> {diff.b}: {diff.method} importance, Spearman rank correlation {rho}", highlight=False)
    table(
        "Share of importance",
        ["feature", diff.a, diff.b, "change", "rank"],
        [
            (
                s.feature,
                f"{s.share_a:.1%}",
                f"{s.share_b:.1%}",
                f"{s.change:+.1%}",
                f"{s.rank_a or '-'} -> {s.rank_b or '-'}",
            )
            for s in diff.shifts
        ],
    )
    if diff.left_top or diff.entered_top:
        console.print(
            f"left the top {top}: {', '.join(diff.left_top) or '-'}; entered it: {', '.join(diff.entered_top) or '-'}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``modelyard explain``."""
    app.command("explain")(explain)
