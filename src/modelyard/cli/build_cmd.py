"""modelyard build: a Docker build context and Kubernetes manifests for a model version (issue 13,
item 6). No Docker engine or cluster is needed to write them.

``register(app)`` adds the command; heavy imports stay inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli._options import StoreOpt
from modelyard.cli._output import console, errors_as_exit, print_json
from modelyard.cli._parsers import count_option


def build(
    model: Annotated[str, typer.Argument(help="The model version: NAME@VERSION (or an alias).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (must be empty or new).")],
    replicas: Annotated[int, count_option("--replicas", maximum=1000, help="Pods (the autoscaler's minimum).")] = 2,
    max_replicas: Annotated[
        int | None, count_option("--max-replicas", maximum=10_000, help="The autoscaler's maximum (default 4×).")
    ] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port the server listens on.")] = 8080,
    image_name: Annotated[
        str | None, typer.Option("--image-name", help="Image to build and run (default modelyard/NAME:VERSION).")
    ] = None,
    cpu: Annotated[str, typer.Option("--cpu", help="CPU per pod, requested and limit (500m, 2).")] = "500m",
    memory: Annotated[str, typer.Option("--memory", help="Memory per pod, requested and limit (1Gi).")] = "1Gi",
    workers: Annotated[int, count_option("--workers", maximum=256, help="Server worker processes per pod.")] = 1,
    target_cpu: Annotated[
        int, count_option("--target-cpu", maximum=100, help="CPU utilisation (%) the autoscaler aims at.")
    ] = 70,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    store: StoreOpt = None,
) -> None:
    """Write DIR/context (Dockerfile, the verified model package, its pinned requirements, an
    entrypoint running `modelyard serve`) and DIR/kubernetes (Deployment, Service, autoscaler)."""
    from modelyard.cli._stores import cli_stores
    from modelyard.registry.service import RegistryService
    from modelyard.serving.build import BuildOptions, build_image_context

    options = BuildOptions(
        replicas=replicas,
        max_replicas=max_replicas,
        port=port,
        image_name=image_name,
        cpu=cpu,
        memory=memory,
        target_cpu_percent=target_cpu,
        workers=workers,
    )
    with errors_as_exit():
        stores = cli_stores(store)
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        result = build_image_context(registry, model, out, options)
    if json:
        print_json(result.to_dict())
        return
    console.print(
        f"wrote the build context of {result.model} ({result.context_bytes:,} bytes) and "
        f"{len(result.manifests)} Kubernetes manifests\n"
        f"  docker build -t {result.image} {result.context}\n"
        f"  kubectl apply -f {result.context.parent / 'kubernetes'}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("build")(build)
