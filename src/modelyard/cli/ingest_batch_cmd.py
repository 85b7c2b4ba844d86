"""``modelyard ingest batch``: a file or a database query becomes the next version of a dataset.

``register(app)`` adds this module's commands; heavy imports stay inside the commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli._output import PhaseProgress, console, err_console, errors_as_exit, fail, print_json

if TYPE_CHECKING:
    from modelyard.data.ingest import IngestResult


@contextmanager
def _progress() -> Iterator[PhaseProgress]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        yield PhaseProgress(progress)


def _print_result(result: IngestResult) -> None:
    if result.schema_changes.lines():
        console.print(f"[yellow]schema changed[/] since the previous version of {result.target}:")
        for line in result.schema_changes.lines():
            console.print(f"  {line}", highlight=False)
    for row in result.malformed[:10]:
        err_console.print(f"[yellow]malformed[/] {row.describe()}", highlight=False)
    if result.version is None:
        mark = result.previous_watermark
        since = f" ({mark.column} > {mark.value})" if mark is not None else ""
        console.print(f"no new rows in {result.source}{since}; {result.target} unchanged")
        return
    v = result.version
    verb = "ingested" if result.created else "unchanged, already"
    console.print(f"{verb} [bold]{v.ref}[/]: {result.rows:,} rows from {result.source}", highlight=False)
    if result.quarantine_version is not None:
        console.print(
            f"[yellow]quarantined[/] {result.quarantined:,} rows in [bold]{result.quarantine_version.ref}[/]",
            highlight=False,
        )
    if result.watermark is not None:
        console.print(f"watermark {result.watermark.column} = {result.watermark.value}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("batch")
    def batch(
        source: Annotated[str, typer.Option("--source", help="A file or directory, or a SQLAlchemy URL.")],
        to: Annotated[str, typer.Option("--to", help="Dataset to add the version to.")],
        format: Annotated[
            str | None, typer.Option("--format", help="csv, parquet or jsonl (default: from the file name).")
        ] = None,
        query: Annotated[str | None, typer.Option("--query", help="SQL query (database sources).")] = None,
        incremental_on: Annotated[
            str | None, typer.Option("--incremental-on", help="Watermark column: take only rows newer than last time.")
        ] = None,
        suite: Annotated[Path | None, typer.Option("--suite", help="Validate on the way in (suite YAML).")] = None,
        on_invalid: Annotated[
            str, typer.Option("--on-invalid", help="fail: write nothing; quarantine: set bad rows aside.")
        ] = "fail",
        quarantine: Annotated[
            str | None, typer.Option("--quarantine", help="Quarantine dataset (default: NAME.quarantine).")
        ] = None,
        message: Annotated[str | None, typer.Option("--message", "-m", help="What this version is.")] = None,
        report: Annotated[Path | None, typer.Option("--report", help="Write the validation report (HTML).")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        store: Annotated[str | None, typer.Option("--store", help="Store URI.")] = None,
    ) -> None:
        """Ingest a file, a directory or a SQL query as the next version of a dataset."""
        from modelyard.cli._stores import dataset_service
        from modelyard.core.errors import IngestRejected, InvalidArgument, ModelyardError
        from modelyard.data.ingest import BatchIngestor, open_source
        from modelyard.data.validation import Suite

        if on_invalid not in ("fail", "quarantine"):
            fail(f"--on-invalid {on_invalid!r}: expected fail or quarantine", 2)
        if suite is not None and not suite.is_file():
            fail(f"cannot read suite {suite}: no such file", 2)
        with errors_as_exit():
            service = dataset_service(store, create=True)
            loaded = Suite.from_yaml(suite) if suite is not None else None
            src = open_source(source, format=format, query=query)
        try:
            with _progress() as progress:
                result = BatchIngestor(service).ingest(
                    src,
                    to,
                    incremental_on=incremental_on,
                    suite=loaded,
                    on_invalid=on_invalid,  # type: ignore[arg-type]
                    quarantine=quarantine,
                    message=message,
                    progress=progress,
                    profile_report=report is not None,
                )
        except IngestRejected as exc:
            if report is not None and exc.report is not None:
                exc.report.to_html(report, title=f"Validation of {to} on ingest (rejected)")
            if json:
                print_json(
                    {
                        "error": str(exc),
                        "validation": exc.report.to_dict() if exc.report else None,
                        "malformed": [{"file": m.file, "line": m.line, "reason": m.reason} for m in exc.malformed],
                    }
                )
            fail(str(exc), 1)
        except ModelyardError as exc:
            fail(str(exc), 2 if isinstance(exc, InvalidArgument) else 1)
        if report is not None and result.report is not None:
            result.report.to_html(report, title=f"Validation of {to} on ingest")
        if json:
            print_json(result.as_dict())
        else:
            _print_result(result)
