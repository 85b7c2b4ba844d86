"""modelyard models report: a version's model report (card, metrics, slices, importance).

``modelyard models report NAME@VERSION -o report.html`` writes the HTML page loading a shared
``plotly.min.js`` written beside it, as the drift and monitoring reports do; ``--self-contained``
inlines plotly.js (one ~5 MB file). ``--json`` prints the report's JSON form (``-o`` then writes
the JSON). Aggregates only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli._output import console, errors_as_exit, fail, print_json


def report(
    reference: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@ALIAS, NAME@latest, NAME@production")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the report to this file (HTML, or JSON with --json).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="The JSON form instead of HTML.")] = False,
    self_contained: Annotated[
        bool, typer.Option("--self-contained", help="Inline plotly.js (one ~5 MB file) instead of sharing it.")
    ] = False,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URI (default: MODELYARD_STORE_URI or ./.modelyard).")
    ] = None,
) -> None:
    """Write a model version's report: card, metrics, slices and feature importance (HTML or JSON)."""
    from modelyard.cli._stores import cli_stores
    from modelyard.reports.model import build_model_report
    from modelyard.sdk.models import RegistryClient

    if output is None and not json:
        fail("missing --output FILE (or --json to print the JSON form)", 2)
    if self_contained and json:
        fail("--self-contained applies to the HTML report, not the JSON form", 2)
    target = None if output is None else Path(output)
    if target is not None and not target.parent.is_dir():
        fail(f"cannot write {output!r}: directory {str(target.parent)!r} does not exist", 2)
    with errors_as_exit():
        registry = RegistryClient(stores=cli_stores(store))
        version = registry.resolve(reference)
        model_report = build_model_report(registry, version.model_name, version.version)
    if json and target is None:
        print_json(model_report.to_dict())
        return
    assert target is not None
    try:
        if json:
            from modelyard.core.html_assets import write_text_atomic

            write_text_atomic(target, model_report.to_json())
        else:
            model_report.write_html(target, self_contained=self_contained)
    except OSError as exc:
        fail(f"cannot write {output!r}: {exc.strerror or exc}", 1)
    console.print(f"wrote {output}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``modelyard models report`` to the models group."""
    from modelyard.cli.models_cmd import models_app

    models_app.command("report")(report)
