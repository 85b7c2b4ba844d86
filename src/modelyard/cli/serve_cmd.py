"""``modelyard serve NAME@ALIAS [NAME2@ALIAS ...]``: the model server (serving/app.py) under uvicorn.

Every model is loaded (from hash-verified artifacts) before the server listens: a reference that
does not resolve, or an artifact that fails verification, is one line on stderr and exit 1.
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli._parsers import validate_host


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Models to serve: NAME@VERSION, NAME@ALIAS, NAME@production...")
    ] = None,
    deployment: Annotated[
        list[str] | None,
        typer.Option("--deployment", "-d", help="Serve this deployment from the store, kept current (repeatable)."),
    ] = None,
    log_predictions: Annotated[
        bool,
        typer.Option("--log-predictions/--no-log-predictions", help="Log deployments' predictions (default on)."),
    ] = True,
    host: Annotated[
        str, typer.Option("--host", callback=validate_host, help="Interface to listen on (an address or host name).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on (0: any free one).")
    ] = 8080,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=256, help="Worker processes.")] = 1,
    store: Annotated[
        str | None, typer.Option("--store", help="Metadata store URI (default: MODELYARD_STORE_URI or ./.modelyard).")
    ] = None,
    artifacts: Annotated[
        str | None, typer.Option("--artifacts", help="Artifact store URI (default: MODELYARD_ARTIFACT_URI).")
    ] = None,
    batch: Annotated[bool, typer.Option("--batch/--no-batch", help="Adaptive micro-batching.")] = False,
    max_batch_rows: Annotated[
        int, typer.Option("--max-batch-rows", min=1, max=1_000_000, help="Most rows per model call (batching).")
    ] = 64,
    max_latency_ms: Annotated[
        float,
        typer.Option(
            "--max-latency-ms", min=0.1, max=600_000, help="Latency budget per request (batching): later means 503."
        ),
    ] = 100.0,
    max_wait_ms: Annotated[
        float, typer.Option("--max-wait-ms", min=0, max=600_000, help="Hold an idle batch this long to let it fill.")
    ] = 0.0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1024, max=2**34, help="Largest request body (default 32 MiB).")
    ] = 32 * 1024**2,
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Run scikit-learn models on ONNX Runtime (checked equal at load).")
    ] = False,
    sink: Annotated[
        str | None, typer.Option("--sink", help="Prediction sink factory, module:callable (called with the stores).")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
    ray: Annotated[bool, typer.Option("--ray", help="Run as a Ray Serve deployment (replicas on Ray).")] = False,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="With --ray: ray://host:10001 or auto (default: a local Ray).")
    ] = None,
    replicas: Annotated[int, typer.Option("--replicas", min=1, max=10_000, help="With --ray: replicas.")] = 1,
    min_replicas: Annotated[
        int | None, typer.Option("--min-replicas", min=0, max=10_000, help="With --ray: autoscale from this many.")
    ] = None,
    max_replicas: Annotated[
        int | None, typer.Option("--max-replicas", min=1, max=10_000, help="With --ray: autoscale up to this many.")
    ] = None,
    target_ongoing_requests: Annotated[
        float,
        typer.Option("--target-ongoing-requests", min=0.01, max=10_000, help="With --ray: requests per replica."),
    ] = 2.0,
    cpus_per_replica: Annotated[
        float, typer.Option("--cpus-per-replica", min=0.01, max=1024, help="With --ray: CPUs reserved per replica.")
    ] = 1.0,
) -> None:
    """Serve registered models over modelyard's protocol (/v1), MLflow's (/invocations) and KServe V2 (/v2)."""
    from dataclasses import replace

    from modelyard.cli._output import console, errors_as_exit, fail
    from modelyard.cli._stores import cli_settings

    if not refs and not deployment:
        fail("give models to serve (NAME@ALIAS ...) or --deployment NAME", 2)
    if refs and deployment:
        fail("serve models (NAME@ALIAS ...) or deployments (--deployment NAME), not both at once", 2)
    with errors_as_exit():
        from modelyard.core.errors import InvalidArgument
        from modelyard.serving.batching import BatchConfig
        from modelyard.serving.workers import ServeConfig
        from modelyard.serving.workers import serve as run

        settings = cli_settings(store)
        if artifacts:
            settings = replace(settings, artifact_uri=artifacts, artifact_uri_explicit=True)
        batching = (
            BatchConfig(max_batch_rows=max_batch_rows, max_latency_ms=max_latency_ms, max_wait_ms=max_wait_ms)
            if batch
            else None
        )
        config = ServeConfig(
            refs=tuple(refs or ()),
            deployments=tuple(deployment or ()),
            log_predictions=log_predictions,
            settings=settings,
            host=host,
            port=port,
            workers=workers,
            batching=batching,
            max_body_bytes=max_body_bytes,
            onnx=onnx,
            log_level=log_level,
            sink=sink,
        )

        def announce(line: str) -> None:
            console.print(line, highlight=False, soft_wrap=True)
            console.file.flush()  # seen at once by whoever started the server, even through a pipe

        if ray:
            from modelyard.serving.ray_serve import RayServeOptions, serve_on_ray

            if workers != 1:
                raise InvalidArgument("--ray scales with --replicas (and --min/--max-replicas), not --workers")
            options = RayServeOptions(
                address=ray_address,
                replicas=replicas,
                min_replicas=min_replicas,
                max_replicas=max_replicas,
                target_ongoing_requests=target_ongoing_requests,
                cpus_per_replica=cpus_per_replica,
            ).checked()
            serve_on_ray(config, options, announce=announce)
        elif ray_address is not None or min_replicas is not None or max_replicas is not None or replicas != 1:
            raise InvalidArgument("--ray-address, --replicas, --min-replicas and --max-replicas need --ray")
        else:
            run(config, announce=announce)
