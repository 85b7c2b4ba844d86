"""Container builds: ``modelyard build NAME@VERSION --out DIR`` writes what it takes to run a model
version on Kubernetes, without a Docker engine or a cluster at hand.

``DIR/context/`` is the Docker build context and holds nothing else than:

- ``model/``: the version's package, exported by the registry (every blob re-hashed by the
  artifact store, every file checked against ``MLmodel.json``);
- ``wheels/modelyard-<version>-py3-none-any.whl``: the modelyard that wrote the build (the one
  whose ``modelyard serve`` the image runs), packed from its installed files: the version number
  alone names no published release (a development version, a fork), so the image installs these
  exact files rather than whatever an index serves under that number;
- ``requirements.txt``: that wheel, then the package's pinned environment;
- ``entrypoint.py``: at image build, ``prepare`` stores the package in the image's own store and
  registers it (refusing a package that does not hash to the source version's manifest digest);
  at run time it executes ``modelyard serve`` on it;
- ``Dockerfile``: a ``python:<major.minor>-slim`` image of the package's Python, a non-root user,
  the requirements in their own layer.

``DIR/kubernetes/`` holds ``deployment.yaml`` (replicas, resource requests and limits, readiness
on ``/readyz``, liveness on ``/healthz``, a non-root security context), ``service.yaml`` and
``hpa.yaml`` (autoscaling/v2 on CPU utilisation).

The image's store holds the version under its own number (``NAME@N``, as in the source registry)
with the aliases it had when the build was written, and the container serves exactly ``NAME@N``;
the version and its digest are also in the image's labels, the pod's annotations and the
registered version's description.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from modelyard import _version
from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.core.registry import ModelVersion
    from modelyard.registry.service import RegistryService

__all__ = ["BuildOptions", "BuildResult", "build_image_context", "kubernetes_name"]

CONTAINER_ROOT = "/srv/modelyard"
_CPU = re.compile(r"^(?:[0-9]+m|[0-9]+(?:\.[0-9]{1,3})?)$")
_MEMORY = re.compile(r"^[0-9]+(?:Ki|Mi|Gi|Ti|K|M|G|T)?$")
# registry[:port]/path[:tag]: lowercase path components, an optional tag (no digests here).
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
_PYTHON = re.compile(r"^(3)\.([0-9]{1,2})")


@dataclass(frozen=True)
class BuildOptions:
    replicas: int = 2
    max_replicas: int | None = None  # default: 4 × replicas
    port: int = 8080
    image_name: str | None = None  # default: modelyard/<name>:<version>
    cpu: str = "500m"  # requests and limits: Guaranteed QoS, predictable latency
    memory: str = "1Gi"
    target_cpu_percent: int = 70
    workers: int = 1  # server worker processes per pod

    def checked(self) -> BuildOptions:
        if not 1 <= self.replicas <= 1000:
            raise InvalidArgument(f"replicas must be from 1 to 1000, got {self.replicas}")
        top = self.max_replicas if self.max_replicas is not None else 4 * self.replicas
        if not self.replicas <= top <= 10_000:
            raise InvalidArgument(f"max replicas must be from {self.replicas} to 10000, got {top}")
        if not 1 <= self.port <= 65535:
            raise InvalidArgument(f"port must be from 1 to 65535, got {self.port}")
        if not _CPU.match(self.cpu) or self.cpu in ("0", "0m"):
            raise InvalidArgument(f"invalid CPU quantity {self.cpu!r}: e.g. 500m, 1, 2.5")
        if not _MEMORY.match(self.memory) or int(re.sub(r"\D", "", self.memory)) == 0:
            raise InvalidArgument(f"invalid memory quantity {self.memory!r}: e.g. 512Mi, 2Gi")
        if self.image_name is not None and not _IMAGE.match(self.image_name):
            raise InvalidArgument(
                f"invalid image name {self.image_name!r}: expected [registry/]path[:tag], lowercase path"
            )
        if not 1 <= self.target_cpu_percent <= 100:
            raise InvalidArgument(f"target CPU must be from 1 to 100 percent, got {self.target_cpu_percent}")
        if not 1 <= self.workers <= 256:
            raise InvalidArgument(f"workers must be from 1 to 256, got {self.workers}")
        return BuildOptions(
            self.replicas, top, self.port, self.image_name, self.cpu, self.memory, self.target_cpu_percent, self.workers
        )


@dataclass(frozen=True)
class BuildResult:
    model: str  # NAME@N
    digest: str
    image: str
    context: Path
    manifests: tuple[Path, ...]
    context_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "digest": self.digest,
            "image": self.image,
            "context": str(self.context),
            "manifests": [str(p) for p in self.manifests],
            "context_bytes": self.context_bytes,
            "build": f"docker build -t {self.image} {self.context}",
            "deploy": f"kubectl apply -f {self.context.parent / 'kubernetes'}",
        }


def kubernetes_name(model_name: str) -> str:
    """A DNS-1123 label for a model name (``Team/Churn_v2`` -> ``team-churn-v2``), at most 63
    characters, prefixed when it would not start with a letter."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"model-{slug}".rstrip("-")
    return slug[:63].rstrip("-")


def build_image_context(
    registry: RegistryService, reference: str, out: str | os.PathLike[str], options: BuildOptions | None = None
) -> BuildResult:
    """Write ``out/context`` and ``out/kubernetes`` for the model version ``reference`` names.
    ``out`` must be empty or absent; it is written in a temporary directory beside it and renamed
    into place, so a failure leaves nothing."""
    chosen = (options or BuildOptions()).checked()
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidArgument(f"--out {os.fspath(target)!r} must be an empty or new directory")
    if not target.parent.is_dir():
        raise InvalidArgument(f"the parent of --out {os.fspath(target)!r} does not exist")
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.build-"))
    try:
        context = staging / "context"
        version = registry.export(reference, context / "model")
        mlmodel = json.loads((context / "model" / "MLmodel.json").read_text())
        source = f"{version.model_name}@{version.version}"
        slug = kubernetes_name(version.model_name)
        image = chosen.image_name or f"modelyard/{slug}:{version.version}"
        environment = dict(mlmodel.get("environment") or {})
        wheel = _modelyard_wheel(context / "wheels")
        (context / "requirements.txt").write_text(_requirements(environment, wheel.name))
        (context / "entrypoint.py").write_text(_entrypoint(version, source, chosen))
        (context / "Dockerfile").write_text(_dockerfile(version, source, environment, chosen))
        kube = staging / "kubernetes"
        kube.mkdir()
        written = []
        for kind, document in _manifests(version, source, slug, image, chosen).items():
            path = kube / f"{kind}.yaml"
            path.write_text(yaml.safe_dump(document, sort_keys=False))
            written.append(path)
        size = sum(p.stat().st_size for p in context.rglob("*") if p.is_file())
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildResult(
        model=source,
        digest=version.manifest_digest,
        image=image,
        context=target / "context",
        manifests=tuple(target / "kubernetes" / p.name for p in written),
        context_bytes=size,
    )


def _requirements(environment: dict[str, Any], wheel: str) -> str:
    pins = [str(p) for p in environment.get("requirements") or [] if not str(p).startswith("modelyard==")]
    return "\n".join([f"modelyard @ file://{CONTAINER_ROOT}/wheels/{wheel}", *pins]) + "\n"


#: Zip entries carry this time so that the same files make the same wheel (a cached image layer).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _modelyard_wheel(directory: Path) -> Path:
    """A wheel of the running modelyard (its package directory, compiled files left out), with
    the installed distribution's metadata and console script; the same files give the same bytes."""
    import base64
    import hashlib
    import importlib.metadata
    import zipfile

    root = Path(_version.__file__).resolve().parent  # the package directory (not importing the SDK)
    version = _version.__version__
    info = f"modelyard-{version}.dist-info"
    try:
        dist = importlib.metadata.distribution("modelyard")
        metadata = dist.read_text("METADATA") or ""
        entry_points = dist.read_text("entry_points.txt") or ""
    except importlib.metadata.PackageNotFoundError:
        metadata = entry_points = ""
    if f"\nVersion: {version}\n" not in metadata:  # installed metadata of another version: minimal own
        metadata = f"Metadata-Version: 2.1\nName: modelyard\nVersion: {version}\nRequires-Python: >=3.11\n"
    entry_points = entry_points or "[console_scripts]\nmodelyard = modelyard.cli.main:main\n"
    members: list[tuple[str, bytes]] = [
        (f"modelyard/{p.relative_to(root).as_posix()}", p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    ]
    wheel_file = b"Wheel-Version: 1.0\nGenerator: modelyard build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members += [
        (f"{info}/METADATA", metadata.encode()),
        (f"{info}/WHEEL", wheel_file),
        (f"{info}/entry_points.txt", entry_points.encode()),
    ]
    record = []
    for name, data in members:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    members.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    directory.mkdir(parents=True)
    path = directory / f"modelyard-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in members:
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            entry.external_attr = 0o644 << 16
            wheel.writestr(entry, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _python_tag(environment: dict[str, Any]) -> str:
    match = _PYTHON.match(str(environment.get("python") or ""))
    return f"{match.group(1)}.{match.group(2)}" if match else "3.11"


def _dockerfile(version: ModelVersion, source: str, environment: dict[str, Any], options: BuildOptions) -> str:
    labels = {
        "org.opencontainers.image.title": source,
        "org.opencontainers.image.description": f"modelyard serve {source}",
        "ai.modelyard.model": version.model_name,
        "ai.modelyard.version": str(version.version),
        "ai.modelyard.digest": version.manifest_digest,
        "ai.modelyard.flavor": version.flavor,
    }
    label_lines = " \\\n      ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
    return f"""# Written by modelyard build {_version.__version__} for {source}.
# docker build -t IMAGE .
FROM python:{_python_tag(environment)}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    MODELYARD_HOME={CONTAINER_ROOT}/home
LABEL {label_lines}

RUN useradd --create-home --uid 10001 --user-group modelyard
WORKDIR {CONTAINER_ROOT}

COPY requirements.txt ./
COPY wheels/ wheels/
RUN pip install --no-cache-dir -r requirements.txt

COPY model/ model/
COPY entrypoint.py ./
RUN python entrypoint.py prepare && chown -R modelyard:modelyard {CONTAINER_ROOT}/home

USER 10001
EXPOSE {options.port}
ENTRYPOINT ["python", "{CONTAINER_ROOT}/entrypoint.py"]
"""


def _entrypoint(version: ModelVersion, source: str, options: BuildOptions) -> str:
    return f'''"""Entrypoint of the modelyard image of {source} (written by modelyard build {_version.__version__}).

``prepare`` (at image build): store the model package in the image's own store (MODELYARD_HOME)
and register it as {source} (its number and aliases kept), refusing a package that does not hash
to {source}'s manifest digest.
Otherwise (the container's command): ``modelyard serve`` on it, on port {options.port} with
{options.workers} worker process(es); arguments given to the container are appended.
"""

import os
import sys
from pathlib import Path

MODEL = {version.model_name!r}
VERSION = {version.version!r}
ALIASES = {sorted(version.aliases)!r}
SOURCE = {source!r}
DIGEST = {version.manifest_digest!r}
PACKAGE = Path(__file__).resolve().parent / "model"
PORT = {str(options.port)!r}
WORKERS = {str(options.workers)!r}


def prepare() -> None:
    from modelyard.registry.packaging import StoredPackage, read_mlmodel
    from modelyard.registry.service import RegistryService
    from modelyard.settings import load_settings
    from modelyard.store.bundle import open_stores

    with open_stores(load_settings()) as stores:
        manifest = stores.artifacts.put_directory(PACKAGE)
        if manifest.digest != DIGEST:
            sys.exit(f"error: the model package hashes to {{manifest.digest}}, {{SOURCE}} is {{DIGEST}}")
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        package = StoredPackage(manifest=manifest, mlmodel=read_mlmodel(PACKAGE))
        registered = registry.register_package(
            MODEL, package, actor="modelyard-build", project="serving", description=f"{{SOURCE}} ({{DIGEST}})",
            version=VERSION,
        )
        for alias in ALIASES:
            registry.set_alias(MODEL, alias, VERSION, actor="modelyard-build", reason=f"an alias of {{SOURCE}}")
        shown = "".join(f", alias {{a}}" for a in ALIASES)
        print(f"registered {{MODEL}}@{{registered.version}}{{shown}} ({{DIGEST}}) in {{stores.artifacts.uri}}")


def serve(extra: list[str]) -> None:
    """``modelyard serve`` on the model; arguments given to the container come last (they win)."""
    command = ["modelyard", "serve", f"{{MODEL}}@{{VERSION}}", "--host", "0.0.0.0", "--port", PORT]
    command += ["--workers", WORKERS]
    os.execvp(command[0], [*command, *extra])


if __name__ == "__main__":
    if sys.argv[1:] == ["prepare"]:
        prepare()
    else:
        serve(sys.argv[1:])
'''


def _manifests(
    version: ModelVersion, source: str, slug: str, image: str, options: BuildOptions
) -> dict[str, dict[str, Any]]:
    labels = {
        "app.kubernetes.io/name": slug,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/managed-by": "modelyard",
    }
    pod_labels = {**labels, "modelyard.ai/version": str(version.version)}
    annotations = {"modelyard.ai/model": source, "modelyard.ai/digest": version.manifest_digest}
    resources = {"cpu": options.cpu, "memory": options.memory}

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": slug, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": slug}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001},
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "model-server",
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"name": "http", "containerPort": options.port, "protocol": "TCP"}],
                            "resources": {"requests": dict(resources), "limits": dict(resources)},
                            "startupProbe": probe("/healthz", 2, 60),
                            "readinessProbe": probe("/readyz", 5, 3),
                            "livenessProbe": probe("/healthz", 10, 3),
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": slug, "labels": labels, "annotations": annotations},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": slug},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": slug, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": slug},
            "minReplicas": options.replicas,
            "maxReplicas": options.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": options.target_cpu_percent},
                    },
                }
            ],
        },
    }
    return {"deployment": deployment, "service": service, "hpa": hpa}
