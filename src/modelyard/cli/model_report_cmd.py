"""modelyard models report: a version's model report (card, metrics, slices, importance).

``modelyard models report NAME@VERSION -o report.html`` writes the HTML page loading a shared
``plotly.min.js`` written beside it, as the drift and monitoring reports do; ``--self-contained``
inlines plotly.js (one ~5 MB file). ``--json`` prints the report's JSON form (``-o`` then writes
the JSON). Aggregates only.
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli._output import console, errors_as_exit
from modelyard.cli._report_output import JsonFormOpt, OutputOpt, SelfContainedOpt, emit_report, report_target


def report(
    reference: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@ALIAS, NAME@latest, NAME@production")],
    output: OutputOpt = None,
    json: JsonFormOpt = False,
    self_contained: SelfContainedOpt = False,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URI (default: MODELYARD_STORE_URI or ./.modelyard).")
    ] = None,
) -> None:
    """Write a model version's report: card, metrics, slices and feature importance (HTML or JSON)."""
    from modelyard.cli._stores import cli_stores
    from modelyard.reports.model import build_model_report
    from modelyard.sdk.models import RegistryClient

    target, json = report_target(output, json, self_contained)
    with errors_as_exit():
        registry = RegistryClient(stores=cli_stores(store))
        version = registry.resolve(reference)
        model_report = build_model_report(registry, version.model_name, version.version)
    emit_report(model_report, target, as_json=json, to_json=model_report.to_json, self_contained=self_contained)
    if target is None:
        return
    console.print(f"wrote {output}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``modelyard models report`` to the models group."""
    from modelyard.cli.models_cmd import models_app

    models_app.command("report")(report)
