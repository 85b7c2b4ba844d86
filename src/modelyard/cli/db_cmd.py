"""``modelyard db``: create a store, upgrade its schema, check its integrity (and its blobs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from modelyard.cli._options import StoreOpt
from modelyard.cli._output import PhaseProgress, console, errors_as_exit, fail, print_json
from modelyard.cli._stores import cli_stores

db_app = typer.Typer(help="The metadata store: create it, upgrade the schema, check integrity.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("init")
def db_init(store: StoreOpt = None) -> None:
    """Create a store (the schema; for SQLite the file, in an existing directory), or check one is there."""
    with errors_as_exit():
        stores = cli_stores(store, create=True)
    console.print(f"store {stores.tracking.uri} is ready")


@db_app.command("upgrade")
def db_upgrade(store: StoreOpt = None) -> None:
    """Apply pending schema migrations (opening a store does this too, under a lock)."""
    with errors_as_exit():
        tracking = cli_stores(store).tracking
        tracking.upgrade()  # a store with no schema of its own (a server's) refuses
    console.print(f"schema of {tracking.uri} is up to date")


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


@db_app.command("check")
def db_check(
    blobs: Annotated[
        bool, typer.Option("--blobs", help="Also check that every blob the store references is in the artifact store.")
    ] = False,
    hashes: Annotated[
        bool, typer.Option("--hashes", help="With --blobs: re-hash every referenced blob and report mismatches.")
    ] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Verify the integrity of the metadata store (and with --blobs its blobs); exits 1 if a problem is found."""
    if hashes and not blobs:
        fail("--hashes re-hashes the referenced blobs: give --blobs as well", 2)
    with errors_as_exit():
        stores = cli_stores(store)
        problems = stores.tracking.check()
        checked = hashed = None
        if blobs:
            from modelyard.pipelines.blob_check import check_blobs

            with _progress() as progress:
                report = check_blobs(stores, hashes=hashes, progress=progress)
            problems = [*problems, *report.problems]
            checked, hashed = report.checked, report.hashed
    uri = stores.tracking.uri
    if json:
        extra = {} if checked is None else {"blobs_checked": checked, "blobs_hashed": hashed}
        print_json({"ok": not problems, "problems": problems, **extra})
    elif not problems:
        blob_note = (
            ""
            if checked is None
            else f" ({checked:,} referenced blobs present" + (f", {hashed:,} re-hashed)" if hashes else ")")
        )
        console.print(f"[green]ok[/]: {uri} passed every check{blob_note}")
    else:
        for problem in problems:
            console.print(f"[red]problem[/]: {problem}", markup=True, highlight=False, soft_wrap=True)
        console.print(f"{len(problems):,} problem(s) found in {uri}")
    if problems:
        raise typer.Exit(1)
