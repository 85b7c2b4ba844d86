"""modelyard predict: batch scoring of a CSV or Parquet file (or a dataset version) with a registered
model version, locally or on a Ray cluster (issue 13, item 5).

``register(app)`` adds the command; heavy imports stay inside it so that ``modelyard --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli._options import StoreOpt
from modelyard.cli._output import PhaseProgress, console, errors_as_exit, fail, print_json
from modelyard.cli._parsers import count_option

EXECUTORS = ("local", "ray")


@contextmanager
def _progress() -> Iterator[PhaseProgress]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        yield PhaseProgress(progress)


def predict(
    model: Annotated[str, typer.Argument(help="The model version: NAME@VERSION, NAME@ALIAS, NAME@production.")],
    input: Annotated[
        str,
        typer.Option("--input", "-i", help="A .csv or .parquet file, or a dataset version (churn-new@v3)."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .csv or .parquet file to write.")],
    proba: Annotated[
        bool, typer.Option("--proba", help="Class probabilities (one proba_<class> column each) instead of labels.")
    ] = False,
    chunk_rows: Annotated[
        int, count_option("--chunk-rows", maximum=10_000_000, help="Rows scored per chunk (memory per chunk).")
    ] = 50_000,
    executor: Annotated[str, typer.Option("--executor", "-e", help="local or ray.")] = "local",
    workers: Annotated[
        int | None,
        count_option("--workers", "-w", maximum=4096, help="Chunks scored at once (local: threads; ray: tasks)."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="ray://host:10001 or auto (default: a local Ray instance)."),
    ] = None,
    prediction_column: Annotated[
        str, typer.Option("--prediction-column", help="Name of the prediction column.")
    ] = "prediction",
    register_output: Annotated[
        str | None,
        typer.Option("--register-output", help="Add the output as a version of this dataset (lineage: run -> it)."),
    ] = None,
    project: Annotated[str, typer.Option("--project", "-p", help="Project of the scoring run.")] = "batch-scoring",
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    store: StoreOpt = None,
) -> None:
    """Score a file with a registered model version: the output holds the input's columns plus the
    predictions. The scoring is recorded as a run (lineage: model version -> run <- dataset version)."""
    from modelyard.cli._stores import cli_stores, dataset_service
    from modelyard.compute import open_executor
    from modelyard.registry.service import RegistryService
    from modelyard.serving.batch import BatchScorer
    from modelyard.tracking.service import TrackingService

    if executor not in EXECUTORS:
        fail(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}", 2)
    if ray_address is not None and executor != "ray":
        fail("--ray-address needs --executor ray", 2)
    with errors_as_exit():
        stores = cli_stores(store)
        scorer = BatchScorer(
            RegistryService(stores.registry, stores.tracking, stores.artifacts),
            TrackingService(stores.tracking, stores.artifacts),
            dataset_service(store),
        )
        job = scorer.plan(
            model,
            input,
            output,
            proba=proba,
            chunk_rows=chunk_rows,
            project=project,
            prediction_column=prediction_column,
            register_output=register_output,
        )
        with (
            open_executor(executor, max_workers=workers, address=ray_address) as pool,
            _progress() as progress,
        ):
            result = scorer.run(job, executor=pool, progress=progress)
    if json:
        print_json(result.to_dict())
        return
    registered = f", registered as {result.output_dataset}" if result.output_dataset else ""
    console.print(
        f"scored {result.rows:,} rows with {result.model_name}@{result.model_version} in {result.chunks} chunk(s) "
        f"-> {result.output}{registered} (run {result.run_id})",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
