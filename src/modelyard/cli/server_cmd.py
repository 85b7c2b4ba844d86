"""``modelyard server``: the tracking server (REST API v1, /metrics, the web UI) under uvicorn.

``register(app)`` adds this module's commands to the root Typer app; heavy imports stay inside
the commands so that ``modelyard --help`` stays fast.

Options reach the app through settings, not arguments: with ``--workers`` > 1 uvicorn starts
worker processes that import the app by name (``modelyard.server.app:app_from_settings``), so
the command exports its options as MODELYARD_* variables first and every worker reads the same.
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli._parsers import validate_host

FACTORY = "modelyard.server.app:app_from_settings"


def register(app: typer.Typer) -> None:
    app.command("server")(server)


def server(
    host: Annotated[
        str, typer.Option("--host", callback=validate_host, help="Interface to listen on (an address or host name).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 5000,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=512, help="Worker processes.")] = 1,
    store: Annotated[
        str | None, typer.Option("--store", help="Metadata store URI (default: MODELYARD_STORE_URI or ./.modelyard).")
    ] = None,
    artifacts: Annotated[
        str | None, typer.Option("--artifacts", help="Artifact store URI (default: MODELYARD_ARTIFACT_URI).")
    ] = None,
    auth: Annotated[bool, typer.Option("--auth", help="Require authentication (users, tokens, roles).")] = False,
    max_upload_bytes: Annotated[
        int | None,
        typer.Option("--max-upload-bytes", min=1, max=2**62, help="Largest accepted upload (default 5 GiB)."),
    ] = None,
    max_json_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-json-bytes", min=1024, max=2**40, help="Largest JSON body of any other route (default 16 MiB)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    monitor_every: Annotated[
        float | None,
        typer.Option(
            "--monitor-every", min=0.001, max=86_400, help="Run the monitors every this many seconds (default: off)."
        ),
    ] = None,
    log_retention_every: Annotated[
        float | None,
        typer.Option(
            "--log-retention-every",
            min=0,
            max=86_400,
            help="Prune the deployments' prediction logs to their retention every this many seconds "
            "(default 300; 0: off).",
        ),
    ] = None,
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /api/v1/openapi.json), /metrics and the web UI."""
    import uvicorn

    from modelyard.cli._output import console, errors_as_exit
    from modelyard.settings import export_environment, load_settings, normalize_store_uri

    values: dict[str, str] = {}
    if store:
        values["MODELYARD_STORE_URI"] = normalize_store_uri(store)
    if artifacts:
        values["MODELYARD_ARTIFACT_URI"] = artifacts
    if auth:
        values["MODELYARD_AUTH"] = "true"
    if max_upload_bytes is not None:
        values["MODELYARD_MAX_UPLOAD_BYTES"] = str(max_upload_bytes)
    if max_json_bytes is not None:
        values["MODELYARD_MAX_JSON_BYTES"] = str(max_json_bytes)
    if monitor_every is not None:
        values["MODELYARD_MONITOR_INTERVAL_SECONDS"] = repr(monitor_every)
    if log_retention_every is not None and 0 < log_retention_every < 0.001:
        raise typer.BadParameter("0 (off) or at least 0.001 seconds", param_hint="--log-retention-every")
    if log_retention_every is not None:
        values["MODELYARD_LOG_RETENTION_INTERVAL_SECONDS"] = repr(log_retention_every) if log_retention_every else "0"
    export_environment(values)
    settings = load_settings()
    if settings.store_uri.startswith(("http://", "https://")):
        raise typer.BadParameter("the server needs a database store, not another server", param_hint="--store")
    with errors_as_exit():
        # Open (and migrate) the stores once here, so a bad URI fails before any worker starts
        # and concurrent workers never race on a first migration.
        from modelyard.store import open_stores

        open_stores(settings, create=True).close()
    console.print(
        f"modelyard server on http://{host}:{port} (store {settings.store_uri}, artifacts {settings.artifact_uri}, "
        f"auth {'on' if settings.auth else 'off'}, {workers} worker{'s' if workers > 1 else ''})"
    )
    # The lifespan runs only the background loop (server/background.py): continuous monitoring
    # (MODELYARD_MONITOR_INTERVAL_SECONDS) and prediction-log retention (MODELYARD_LOG_RETENTION_INTERVAL_SECONDS).
    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        lifespan="on" if settings.monitor_interval_seconds or settings.log_retention_interval_seconds else "off",
        access_log=False,
    )
