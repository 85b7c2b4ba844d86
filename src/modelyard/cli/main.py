"""``modelyard`` — the command line entry point."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from modelyard._version import __version__
from modelyard.cli import (
    _boundary,
    auth_cmd,
    build_cmd,
    cards_cmd,
    data_cmd,
    db_cmd,
    deploy_cmd,
    drift_cmd,
    explain_cmd,
    features_cmd,
    ingest_cmd,
    lineage_cmd,
    model_report_cmd,
    models_cmd,
    monitor_alerts_cmd,
    monitor_cmd,
    monitor_report_cmd,
    predict_cmd,
    serve_cmd,
    server_cmd,
)
from modelyard.cli._options import JsonOpt, StoreOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, print_json, table
from modelyard.cli._parsers import count_option

app = typer.Typer(
    name="modelyard",
    help="modelyard: experiment tracking, data, registry, serving and monitoring in one tool.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_boundary.BoundaryGroup,
)
projects_app = typer.Typer(help="Projects (experiments).", no_args_is_help=True)
runs_app = typer.Typer(help="Runs: list, show, compare, delete, restore.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
app.add_typer(runs_app, name="runs")

StaleOpt = Annotated[
    str, typer.Option("--stale-after", help="A RUNNING run with no heartbeat for this long is stale (90s, 10m, 2h).")
]
OlderThanOpt = Annotated[
    str, typer.Option("--older-than", help="Mark runs with no heartbeat for this long (90s, 10m, 2h).")
]


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"modelyard {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of an unexpected error (or MODELYARD_DEBUG=1).")
    ] = False,
) -> None:
    """modelyard command line."""
    if debug:
        _boundary.DEBUG_FLAG["on"] = True


def _client(store: str | None, *, create: bool = False) -> Any:
    """The tracking API over the command's stores (``cli_stores``: an existing store unless ``create``)."""
    from modelyard.cli._stores import cli_stores
    from modelyard.sdk.tracking import TrackingClient

    with errors_as_exit():
        return TrackingClient(stores=cli_stores(store, create=create))


# -- projects ---------------------------------------------------------------------------------
@projects_app.command("list")
def projects_list(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List projects."""
    client = _client(store)
    with errors_as_exit():
        projects = client.list_projects()
    if json:
        print_json([p.model_dump(mode="json") for p in projects])
        return
    table("Projects", ["name", "id", "created"], [(p.name, p.id, fmt_time(p.created_at)) for p in projects])


# -- runs -------------------------------------------------------------------------------------
def _run_dict(run: Any) -> dict[str, Any]:
    data: dict[str, Any] = run.model_dump(mode="json")
    data["metrics"] = {k: _json_float(m.value) for k, m in run.metrics.items()}
    return data


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


@runs_app.command("list")
def runs_list(
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project name (default: all).")] = None,
    filter: Annotated[
        str | None, typer.Option("--filter", "-f", help="e.g. \"metrics.acc > 0.9 AND params.model = 'rf'\"")
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help="e.g. 'metrics.acc DESC' (repeatable)")
    ] = None,
    max_results: Annotated[int, count_option("--max-results", "-n", maximum=50_000)] = 100,
    deleted: Annotated[bool, typer.Option("--deleted", help="List deleted runs instead.")] = False,
    stale_after: StaleOpt = "10m",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List runs, filtered and ordered like search_runs; a RUNNING run with no heartbeat for
    --stale-after is shown as RUNNING (stale)."""
    from modelyard.auth.timeparse import parse_duration_ms
    from modelyard.core.tracking import now_millis
    from modelyard.tracking.service import is_stale

    with errors_as_exit():
        stale_ms = parse_duration_ms(stale_after)
    client = _client(store)
    with errors_as_exit():
        runs, _ = client.search_runs(
            [project] if project else None,
            filter=filter,
            order_by=order_by,
            max_results=max_results,
            deleted_only=deleted,
        )
    now = now_millis()
    stale = {r.id for r in runs if is_stale(r, now, stale_ms)}
    if json:
        print_json([{**_run_dict(r), "stale": r.id in stale} for r in runs])
        return
    metric_keys = sorted({k for r in runs for k in r.metrics})[:6]
    rows = [
        (
            r.id,
            r.name or "",
            f"{r.status.value} (stale)" if r.id in stale else r.status.value,
            fmt_time(r.start_time),
            *[r.metrics[k].value if k in r.metrics else None for k in metric_keys],
        )
        for r in runs
    ]
    table(f"Runs ({len(runs)})", ["run_id", "name", "status", "started", *metric_keys], rows)


@runs_app.command("show")
def runs_show(run_id: str, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Show one run: attributes, params, latest metrics, tags, inputs and artifacts."""
    client = _client(store)
    with errors_as_exit():
        run = client.get_run(run_id)
        artifacts = client.list_artifacts(run_id)
    if json:
        data = _run_dict(run)
        data["artifacts"] = [a.model_dump(mode="json") for a in artifacts]
        print_json(data)
        return
    table(
        f"Run {run.id}",
        ["field", "value"],
        [
            ("name", run.name),
            ("status", run.status.value),
            ("project_id", run.project_id),
            ("start", fmt_time(run.start_time)),
            ("end", fmt_time(run.end_time)),
            ("parent", run.parent_run_id),
            ("notes", run.notes),
        ],
    )
    if run.params:
        table("Params", ["key", "value"], sorted(run.params.items()))
    if run.metrics:
        table(
            "Metrics (latest)", ["key", "value", "step"], [(k, m.value, m.step) for k, m in sorted(run.metrics.items())]
        )
    if run.tags:
        table("Tags", ["key", "value"], sorted(run.tags.items()))
    if run.inputs:
        table("Inputs", ["name", "version", "context"], [(i.name, i.version, i.context) for i in run.inputs])
    if artifacts:
        table("Artifacts", ["path", "size", "digest"], [(a.path, a.size, a.digest[:19]) for a in artifacts])


@runs_app.command("compare")
def runs_compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Compare runs side by side: params and latest metrics, differences highlighted."""
    if len(run_ids) < 2:
        fail("compare needs at least two run ids")
    client = _client(store)
    with errors_as_exit():
        runs = [client.get_run(r) for r in run_ids]
    if json:
        print_json([_run_dict(r) for r in runs])
        return
    rows: list[tuple[Any, ...]] = []
    for kind, getter in (("params", lambda r: r.params), ("metrics", lambda r: r.metric_values())):
        keys = sorted({k for r in runs for k in getter(r)})
        for key in keys:
            values = [getter(r).get(key) for r in runs]
            marker = "*" if len({str(v) for v in values}) > 1 else ""
            rows.append((f"{marker}{kind}.{key}", *values))
    table("Comparison (* differs)", ["key", *[(r.name or r.id[:8]) for r in runs]], rows)


def _set_lifecycle(run_ids: list[str], store: str | None, stage: str) -> None:
    """Check every id first, so that one unknown id changes nothing, then move them all."""
    from modelyard.core.tracking import LifecycleStage

    client = _client(store)
    run_ids = list(dict.fromkeys(run_ids))  # an id given twice is one run, counted once
    with errors_as_exit():
        for run_id in run_ids:
            client.get_run(run_id)
        for run_id in run_ids:
            client.store.set_run_lifecycle(run_id, LifecycleStage(stage))
    console.print(f"{'deleted' if stage == 'deleted' else 'restored'} {len(run_ids)} run(s)")


@runs_app.command("mark-dead")
def runs_mark_dead(
    older_than: OlderThanOpt = "10m",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the stale runs.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Mark KILLED the RUNNING runs with no heartbeat for --older-than (their process died);
    audited when auth is on."""
    from modelyard.auth.timeparse import parse_duration_ms

    with errors_as_exit():
        older_ms = parse_duration_ms(older_than)
    client = _client(store)
    with errors_as_exit():
        runs = client.stale_runs(older_ms) if dry_run else client.mark_dead(older_ms)
        if runs and not dry_run:
            _audit_marked(store, runs, older_ms)
    if json:
        print_json([_run_dict(r) for r in runs])
        return
    verb = "stale" if dry_run else "marked KILLED"
    table(
        f"Runs {verb} ({len(runs)})",
        ["run_id", "name", "project_id", "started", "last heartbeat"],
        [(r.id, r.name or "", r.project_id, fmt_time(r.start_time), fmt_time(r.heartbeat_at)) for r in runs],
    )


def _audit_marked(store: str | None, runs: list[Any], older_ms: int) -> None:
    """With auth on and a database store, each run marked is an audit entry (a server audits its own)."""
    from modelyard.auth import AuditLog
    from modelyard.cli._stores import cli_settings, cli_stores
    from modelyard.cli.auth_cmd import cli_actor

    settings = cli_settings(store)
    if not settings.auth or settings.store_uri.startswith(("http://", "https://")):
        return
    audit = AuditLog(cli_stores(store).auth)
    for run in runs:
        details = {"project_id": run.project_id, "older_than_ms": older_ms}
        audit.record(cli_actor(), "kill_stale_run", "run", run.id, details)


@runs_app.command("delete")
def runs_delete(run_ids: list[str], store: StoreOpt = None) -> None:
    """Soft-delete runs (restore brings them back)."""
    _set_lifecycle(run_ids, store, "deleted")


@runs_app.command("restore")
def runs_restore(run_ids: list[str], store: StoreOpt = None) -> None:
    """Restore soft-deleted runs."""
    _set_lifecycle(run_ids, store, "active")


@app.command("quickstart")
def quickstart(
    project: Annotated[str, typer.Option(help="Project to track the runs in.")] = "quickstart",
    store: StoreOpt = None,
) -> None:
    """The lifecycle demo: version and validate data, train and track 5 models, evaluate, promote, load, trace."""
    from modelyard.cli.quickstart import run_quickstart

    with errors_as_exit():
        run_quickstart(project=project, store=store)


for _module in (
    db_cmd,
    server_cmd,
    serve_cmd,
    auth_cmd,
    data_cmd,
    features_cmd,
    ingest_cmd,
    models_cmd,
    cards_cmd,
    lineage_cmd,
    predict_cmd,
    build_cmd,
    deploy_cmd,
    drift_cmd,
    explain_cmd,
    model_report_cmd,
    monitor_cmd,
    monitor_alerts_cmd,
    monitor_report_cmd,
):
    _module.register(app)


def main() -> None:
    """The console script: the Typer app, with the last line of defence against tracebacks.

    A missing optional package (``modelyard[postgres]``, ``[s3]``, ...) reaches here as an
    ImportError or MissingExtra from wherever it was first needed; it becomes one line naming the
    ``pip install`` to run (``core.extras``) and exit code 1."""
    from modelyard.core.errors import MissingExtra
    from modelyard.core.extras import missing_extra

    try:
        app()
    except MissingExtra as exc:
        _exit_with(str(exc))
    except ImportError as exc:
        hint = missing_extra(exc)
        _exit_with(
            str(hint)
            if hint is not None
            else f"{exc}: a dependency of modelyard is missing or broken (pip install --force-reinstall modelyard)"
        )


def _exit_with(message: str) -> None:
    import sys

    try:
        fail(message, 1)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)


if __name__ == "__main__":
    main()
