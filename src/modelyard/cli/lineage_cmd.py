"""modelyard lineage and modelyard reproduce (issues: Data, Models).

``register(app)`` adds this module's commands; heavy imports stay inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli._options import StoreOpt
from modelyard.cli._output import console, errors_as_exit, fail, print_json
from modelyard.cli._parsers import count_option
from modelyard.cli._stores import cli_settings, cli_stores

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a tree or a report.")]
FORMATS = ("tree", "mermaid", "dot")
KINDS = ("model", "dataset", "run")


def lineage(
    reference: Annotated[
        str, typer.Argument(help="NAME@VERSION of a model (churn@3, churn@champion) or a dataset (churn-raw@v2).")
    ],
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what it came from.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what came from it.")] = False,
    depth: Annotated[int, count_option("--depth", "-d", minimum=0, maximum=1000, help="Hops to follow each way.")] = 10,
    kind: Annotated[
        str | None, typer.Option("--kind", help="model, dataset or run, when the reference could name several.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="tree, mermaid or dot.")] = "tree",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show the lineage graph: dataset versions -> runs (commit, params, environment) -> model
    versions -> aliases and states."""
    from modelyard.lineage import MAX_DEPTH, LineageBuilder

    if upstream and downstream:
        fail("--upstream and --downstream exclude each other (give neither for both directions)", 2)
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", 2)
    if kind is not None and kind not in KINDS:
        fail(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}", 2)
    if depth < 0 or depth > MAX_DEPTH:
        fail(f"--depth must be from 0 to {MAX_DEPTH}, got {depth}", 2)
    direction = "upstream" if upstream else "downstream" if downstream else "both"
    with errors_as_exit():
        graph = LineageBuilder.from_stores(cli_stores(store)).build(
            reference,
            kind=kind,  # type: ignore[arg-type]
            direction=direction,  # type: ignore[arg-type]
            depth=depth,
        )
    if json:
        print_json(graph.to_dict())
    elif fmt == "mermaid":
        sys.stdout.write(graph.to_mermaid())
    elif fmt == "dot":
        sys.stdout.write(graph.to_dot())
    else:
        console.print(graph.to_tree())


def reproduce(
    reference: Annotated[str, typer.Argument(help="The model version to reproduce: NAME@VERSION (or an alias).")],
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="Reproduce from the commit even if the run had uncommitted changes.")
    ] = False,
    tolerance: Annotated[
        float, typer.Option("--tolerance", "-t", help="Largest absolute difference accepted between predictions.")
    ] = 0.0,
    data: Annotated[
        str | None,
        typer.Option("--data", help="Evaluation data: a dataset reference or a CSV/Parquet/JSON Lines file."),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where to check the code out (default: a temporary directory).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary working copy.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds the training may take (default: no limit).")
    ] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Re-run the training of a model version at its recorded commit, with its recorded params and
    dataset versions, then compare the new model's predictions with the original's. Exits 1 when
    the model was not reproduced (the report says what differed)."""
    from modelyard.data.service import DatasetService
    from modelyard.pipelines.reproduce import reproduce as run_reproduction
    from modelyard.sdk.models import RegistryClient
    from modelyard.settings import child_environment

    if tolerance < 0 or tolerance != tolerance:
        fail(f"--tolerance must be a number >= 0, got {tolerance}", 2)
    with errors_as_exit():
        stores = cli_stores(store)
        settings = cli_settings(store)
        registry = RegistryClient(stores=stores)
        datasets = DatasetService(stores.datasets, stores.artifacts, settings.home / "cache")
        try:
            report = run_reproduction(
                reference,
                registry=registry,
                datasets=datasets,
                environment=child_environment(
                    {
                        "MODELYARD_STORE_URI": registry.tracking.uri,
                        "MODELYARD_ARTIFACT_URI": registry.artifacts.uri,
                        "MODELYARD_HOME": str(settings.home),
                    }
                ),
                workdir=workdir,
                tolerance=tolerance,
                allow_dirty=allow_dirty,
                data=data,
                keep=keep,
                timeout=timeout,
            )
        finally:
            datasets.close()
    if json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.reproduced:
        raise typer.Exit(1)


def _print_report(report: Any) -> None:
    from rich.markup import escape

    colour = {"reproduced": "green", "within_tolerance": "green"}.get(report.status, "red")
    console.print(f"[bold {colour}]{escape(report.status)}[/]: {escape(report.summary)}")
    if report.reproduction_ref:
        console.print(f"original {escape(report.reference)} (run {report.original_run_id})")
        console.print(f"reproduction {escape(report.reproduction_ref)} (run {report.reproduction_run_id})")
    if report.predictions:
        p = report.predictions
        console.print(
            f"predictions on {escape(str(p.get('data')))}: {p.get('rows')} rows, {p.get('mismatched')} differ, "
            f"max |diff| {p.get('max_abs_diff')} (tolerance {p.get('tolerance')})"
        )
    for difference in report.differences:
        console.print(f"  [yellow]{escape(difference['what'])}[/]: {escape(difference['detail'])}")
    if report.log_tail and not report.reproduced:
        console.print("[dim]last lines of the training output:[/]")
        console.print(escape(report.log_tail), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)
    app.command("reproduce")(reproduce)
