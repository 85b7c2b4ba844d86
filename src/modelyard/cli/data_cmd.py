"""``modelyard data``: dataset versioning from the command line (ingestion joins later).

``register(app)`` adds this module's commands to the root Typer app; heavy imports stay inside
the commands so that ``modelyard --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli import data_validate_cmd
from modelyard.cli._options import JsonOpt, StoreOpt
from modelyard.cli._output import PhaseProgress, console, errors_as_exit, fmt_time, print_json, table

if TYPE_CHECKING:
    from modelyard.data.changes import DatasetDiff
    from modelyard.data.service import DatasetService

data_app = typer.Typer(
    help="Versioned datasets: add, list, show, diff, checkout, status, push/pull.", no_args_is_help=True
)

RemoteOpt = Annotated[str, typer.Option("--remote", help="Remote artifact store, e.g. s3://bucket/prefix.")]


def _service(store: str | None, *, create: bool = False) -> DatasetService:
    """The dataset service over an existing store; ``create``: ``data add`` may start one."""
    from modelyard.cli._stores import dataset_service

    with errors_as_exit():
        return dataset_service(store, create=create)


def _size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


@contextmanager
def _progress() -> Iterator[PhaseProgress]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        yield PhaseProgress(progress)


def _print_diff(diff: DatasetDiff, json: bool) -> None:
    if json:
        print_json(diff.as_dict())
        return
    if diff.is_clean:
        console.print(f"[green]no changes[/]: {diff.new} matches {diff.old} ({diff.unchanged:,} files)")
        return
    rows = [("added", c.path, "", _size(c.new_size)) for c in diff.added]
    rows += [("removed", c.path, _size(c.old_size), "") for c in diff.removed]
    rows += [("modified", c.path, _size(c.old_size), _size(c.new_size)) for c in diff.modified]
    table(f"{diff.old} → {diff.new}", ["change", "path", "old size", "new size"], rows[:1000])
    console.print(
        f"{len(diff.added):,} added, {len(diff.removed):,} removed, {len(diff.modified):,} modified, "
        f"{diff.unchanged:,} unchanged" + (f" (showing 1,000 of {len(rows):,})" if len(rows) > 1000 else "")
    )


@data_app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="A file or a directory.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    message: Annotated[str | None, typer.Option("--message", "-m", help="What this version is.")] = None,
    parent: Annotated[
        list[str] | None, typer.Option("--parent", help="A version this one was derived from (repeatable).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="KEY=VALUE used to derive it (repeatable).")
    ] = None,
    code: Annotated[str | None, typer.Option("--code", help="What derived it (script, commit).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Record PATH as the next immutable version of a dataset."""
    params = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from modelyard.cli._output import fail

            fail(f"--param {item!r}: expected KEY=VALUE", 2)
        params[key] = value
    service = _service(store, create=True)
    with errors_as_exit(), _progress() as progress:
        result = service.add(
            path, name=name, message=message, parents=parent or [], params=params, code=code, progress=progress
        )
    v = result.version
    if json:
        print_json({**v.as_dict(), "created": result.created, "files_read": result.files_read})
        return
    verb = "added" if result.created else "unchanged, already"
    console.print(
        f"{verb} [bold]{v.ref}[/] ({v.file_count:,} files, {_size(v.total_size)}, {v.manifest_digest[:19]}); "
        f"read {result.files_read:,} of {result.files_read + result.files_cached:,} files "
        "(the others unchanged since the stat cache saw them)"
    )


@data_app.command("list")
def list_(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List datasets with their latest version."""
    service = _service(store)
    with errors_as_exit():
        summaries = service.list_datasets()
    if json:
        print_json(
            [
                {"name": s.name, "versions": s.version_count, "latest": s.latest.as_dict() if s.latest else None}
                for s in summaries
            ]
        )
        return
    rows = [
        (
            s.name,
            s.version_count,
            f"v{s.latest.version}" if s.latest else "",
            s.latest.file_count if s.latest else "",
            _size(s.latest.total_size) if s.latest else "",
            fmt_time(s.latest.created_at) if s.latest else "",
        )
        for s in summaries
    ]
    table("Datasets", ["name", "versions", "latest", "files", "size", "updated"], rows)


@data_app.command("versions")
def versions(
    name: str,
    removed: Annotated[bool, typer.Option("--removed", help="Include removed versions.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List the versions of a dataset."""
    service = _service(store)
    with errors_as_exit():
        found = service.versions(name, include_removed=removed)
    if json:
        print_json([v.as_dict() for v in found])
        return
    rows = [
        (
            v.ref + (" (removed)" if v.removed_at else ""),
            v.manifest_digest[:19],
            v.file_count,
            _size(v.total_size),
            fmt_time(v.created_at),
            ", ".join(map(str, v.parents)),
            v.message or "",
        )
        for v in found
    ]
    table(f"Versions of {name}", ["version", "digest", "files", "size", "created", "parents", "message"], rows)


@data_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME@vN, NAME@latest or NAME@<hash>.")],
    files: Annotated[bool, typer.Option("--files", help="Also list the files.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show one version: digest, size, source, lineage (and its files with --files)."""
    service = _service(store)
    with errors_as_exit():
        v = service.resolve(ref)
        entries = service.files(v) if files else {}
    if json:
        data = v.as_dict()
        if files:
            data["files"] = [{"path": p, "digest": d, "size": s} for p, (d, s) in entries.items()]
        print_json(data)
        return
    fields = [
        ("ref", v.ref),
        ("digest", v.manifest_digest),
        ("kind", v.kind),
        ("files", f"{v.file_count:,}"),
        ("size", _size(v.total_size)),
        ("created", fmt_time(v.created_at)),
        ("message", v.message),
        ("source", v.source),
        ("parents", ", ".join(map(str, v.parents))),
        ("code", v.code),
        ("params", ", ".join(f"{k}={val}" for k, val in sorted(v.params.items()))),
    ]
    table(f"Dataset version {v.ref}", ["field", "value"], fields)
    if files:
        table("Files", ["path", "size", "digest"], [(p, _size(s), d[:19]) for p, (d, s) in entries.items()])


@data_app.command("diff")
def diff(old: str, new: str, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Files added, removed and modified from OLD to NEW (e.g. churn@v1 churn@v2)."""
    service = _service(store)
    with errors_as_exit():
        result = service.diff(old, new)
        schema = service.schema_diff(old, new)
    if json:
        print_json({**result.as_dict(), "schema": None if schema is None else schema.as_dict()})
        return
    _print_diff(result, json)
    if schema is not None and not schema.is_empty:
        console.print("[bold]schema[/]: " + "; ".join(schema.lines()))


@data_app.command("status")
def status(
    ref: Annotated[str, typer.Argument(help="NAME (latest) or NAME@vN.")],
    path: Annotated[Path | None, typer.Argument(help="Files to compare (default: where it was added from).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Compare files on disk with a version; exits 1 when they differ."""
    service = _service(store)
    with errors_as_exit(), _progress() as progress:
        result = service.status(ref, path, progress=progress)
    _print_diff(result, json)
    if not result.is_clean:
        raise typer.Exit(1)


@data_app.command("checkout")
def checkout(
    ref: str,
    dest: Path,
    clean: Annotated[bool, typer.Option("--clean", help="Delete files under DEST the version lacks.")] = False,
    store: StoreOpt = None,
) -> None:
    """Write a version's files to DEST (verified; files already identical are skipped)."""
    service = _service(store)
    with errors_as_exit(), _progress() as progress:
        version = service.resolve(ref)
        written = service.checkout(version, dest, clean=clean, progress=progress)
    console.print(f"checked out [bold]{version.ref}[/] to {written}")


@data_app.command("remove")
def remove(ref: str, store: StoreOpt = None) -> None:
    """Remove a version from listings (its number is never reused; lineage keeps it)."""
    service = _service(store)
    with errors_as_exit():
        removed = service.remove(ref)
    console.print(f"removed {removed.ref}")


def _sync(direction: str, remote: str, refs: list[str] | None, store: str | None, json: bool) -> None:
    from modelyard.artifacts import open_artifact_store
    from modelyard.data.sync import pull, push
    from modelyard.settings import load_settings

    service = _service(store)
    with errors_as_exit(), _progress() as progress:
        settings = load_settings()
        target = open_artifact_store(remote, settings.s3_storage_options(), durable=settings.durable_writes)
        result = (push if direction == "push" else pull)(service, target, refs or [], progress=progress)
    if json:
        print_json(result.as_dict())
        return
    console.print(
        f"{direction}ed {result.blobs_copied:,} blobs ({_size(result.bytes_copied)}) of {result.versions:,} "
        f"version(s); {result.blobs_present:,} already there"
    )


@data_app.command("push")
def push_cmd(
    refs: Annotated[list[str] | None, typer.Argument(help="Versions to push (default: all).")] = None,
    remote: RemoteOpt = ...,  # type: ignore[assignment]
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Copy dataset files the remote lacks to it (when the artifact store is local)."""
    _sync("push", remote, refs, store, json)


@data_app.command("pull")
def pull_cmd(
    refs: Annotated[list[str] | None, typer.Argument(help="Versions to pull (default: all).")] = None,
    remote: RemoteOpt = ...,  # type: ignore[assignment]
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Copy dataset files the local store lacks from the remote."""
    _sync("pull", remote, refs, store, json)


def register(app: typer.Typer) -> None:
    data_validate_cmd.register(data_app)
    app.add_typer(data_app, name="data")
