"""Packaging: a model becomes a directory of files plus ``MLmodel.json``, stored content-addressed.

Layout of a package::

    MLmodel.json        format version, flavor section, signature, environment, file hashes
    requirements.txt    the pinned environment, one ``name==version`` a line
    input_example.json  the example the signature was inferred from (when one was given)
    model.*             the flavor's files

The package is stored with ``ArtifactStore.put_directory``: its manifest digest is the model
version's identity. Loading materialises the directory (every blob re-hashed by the store),
then checks every file against the hashes in ``MLmodel.json``, and only then deserialises: a
tampered blob or a manifest edited by hand is refused before pickle or any parser sees a byte.
"""

from __future__ import annotations

import hashlib
import json
import platform
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelyard import _version
from modelyard.core.errors import IntegrityError, InvalidArgument
from modelyard.registry.flavors import Flavor, detect_flavor, get_flavor
from modelyard.registry.signature import Signature, infer_signature

if TYPE_CHECKING:
    from modelyard.artifacts.interfaces import ArtifactStore, Manifest

MLMODEL_FILE = "MLmodel.json"
REQUIREMENTS_FILE = "requirements.txt"
INPUT_EXAMPLE_FILE = "input_example.json"
FORMAT_VERSION = 1
_EXAMPLE_ROWS = 5


def check_package_stored(artifacts: ArtifactStore, manifest_digest: str, files: Sequence[tuple[str, str, int]]) -> None:
    """Raise ``InvalidArgument`` unless the package a model version is about to point at is there:
    its manifest stored, every blob it lists stored, and ``files`` ((path, digest, size) each)
    exactly the manifest's entries. The server applies it before recording a version sent by a
    client (``store_package`` has just written what the SDK registers)."""
    from modelyard.core.errors import NotFound

    try:
        manifest = artifacts.get_manifest(manifest_digest)
    except NotFound:
        raise InvalidArgument(
            f"model package manifest {manifest_digest} is not in the artifact store (upload the package first)"
        ) from None
    listed = sorted((e.path, e.digest, e.size) for e in manifest.entries)
    if sorted(files) != listed:
        raise InvalidArgument(f"the files sent are not those of model package manifest {manifest_digest}")
    missing = artifacts.missing(digest for _, digest, _ in listed)
    if missing:
        raise InvalidArgument(
            f"{len(missing)} file(s) of model package {manifest_digest} are not in the artifact store: "
            + ", ".join(missing[:3])
        )


@dataclass(frozen=True)
class StoredPackage:
    """A package written to the artifact store."""

    manifest: Manifest
    mlmodel: dict[str, Any]

    @property
    def digest(self) -> str:
        assert self.manifest.digest is not None
        return self.manifest.digest

    @property
    def flavor(self) -> str:
        return str(self.mlmodel["flavor"]["name"])

    @property
    def signature(self) -> Signature | None:
        raw = self.mlmodel.get("signature")
        return None if raw is None else Signature.from_dict(raw)


def pinned_environment(packages: Sequence[str]) -> dict[str, Any]:
    """Python version and ``name==version`` for every listed distribution that is installed."""
    pins: list[str] = []
    for name in dict.fromkeys(("modelyard", *packages)):
        try:
            pins.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            if name == "modelyard":
                pins.append(f"modelyard=={_version.__version__}")
    return {"python": platform.python_version(), "requirements": pins}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _example_json(example: Any) -> Any:
    """A few rows of the example as JSON (records for tables, nested lists for arrays)."""
    if isinstance(example, pd.DataFrame):
        return {
            "columns": [str(c) for c in example.columns],
            "data": json.loads(example.head(_EXAMPLE_ROWS).to_json(orient="values", date_format="iso")),
        }
    if isinstance(example, dict):
        return {str(k): np.asarray(v).tolist()[:_EXAMPLE_ROWS] for k, v in example.items()}
    return np.asarray(example)[:_EXAMPLE_ROWS].tolist()


def package_model(
    model: Any,
    directory: str | Path,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the package into ``directory`` (which must be empty) and return its MLmodel dict."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise InvalidArgument(f"{target} is not empty: a model package needs a directory of its own")
    chosen: Flavor = get_flavor(flavor) if flavor else detect_flavor(model)
    if not chosen.accepts(model):
        raise InvalidArgument(f"a {type(model).__name__} is not a {chosen.name} model")
    if isinstance(signature, dict):
        signature = Signature.from_dict(signature)
    if signature is None and input_example is not None:
        signature = infer_signature(input_example)
    flavor_config = chosen.save(model, target, input_example=input_example)
    environment = pinned_environment(chosen.packages)
    (target / REQUIREMENTS_FILE).write_text("\n".join(environment["requirements"]) + "\n")
    if input_example is not None:
        (target / INPUT_EXAMPLE_FILE).write_text(json.dumps(_example_json(input_example), default=str))
    files = {p.relative_to(target).as_posix(): _sha256(p) for p in sorted(target.rglob("*")) if p.is_file()}
    mlmodel: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "flavor": {"name": chosen.name, **flavor_config},
        "signature": None if signature is None else signature.to_dict(),
        "environment": environment,
        "files": files,
        "metadata": metadata or {},
    }
    (target / MLMODEL_FILE).write_text(json.dumps(mlmodel, indent=2, sort_keys=True))
    return mlmodel


def store_model(artifacts: ArtifactStore, model: Any, **options: Any) -> StoredPackage:
    """Package ``model`` into a temporary directory and store it; options as for ``package_model``."""
    with tempfile.TemporaryDirectory(prefix="modelyard-package-") as tmp:
        mlmodel = package_model(model, Path(tmp) / "model", **options)
        manifest = artifacts.put_directory(Path(tmp) / "model")
    return StoredPackage(manifest=manifest, mlmodel=mlmodel)


class LoadedModel:
    """A loaded package: ``predict`` checks the input against the signature before the model runs.

    ``native`` is the library's own object (an estimator, a Booster, an onnxruntime wrapper)."""

    def __init__(self, native: Any, flavor: Flavor, mlmodel: dict[str, Any], digest: str | None) -> None:
        self.native = native
        self.flavor = flavor.name
        self._flavor = flavor
        self.mlmodel = mlmodel
        self.digest = digest
        raw = mlmodel.get("signature")
        self.signature: Signature | None = None if raw is None else Signature.from_dict(raw)

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.mlmodel.get("environment") or {})

    def predict(self, data: Any) -> Any:
        if self.signature is not None:
            data = self.signature.enforce(data)
        return self._flavor.predict(self.native, data)

    @property
    def has_proba(self) -> bool:
        """Whether ``predict_proba`` works for this model (a classifier of the scikit-learn API)."""
        return self._flavor.has_proba(self.native)

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities (one column per class of ``class_labels``), the input checked as
        for ``predict``; ``InvalidArgument`` for a model without them."""
        if self.signature is not None:
            data = self.signature.enforce(data)
        return self._flavor.predict_proba(self.native, data)

    @property
    def class_labels(self) -> list[Any] | None:
        return self._flavor.class_labels(self.native)

    def __repr__(self) -> str:
        return f"<LoadedModel flavor={self.flavor} digest={self.digest}>"


def read_mlmodel(directory: Path) -> dict[str, Any]:
    path = directory / MLMODEL_FILE
    try:
        mlmodel = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"{directory} is not a model package: it has no {MLMODEL_FILE}")
    except ValueError as exc:
        raise IntegrityError(f"{path} is not valid JSON: {exc}")
    if not isinstance(mlmodel, dict) or mlmodel.get("format_version") != FORMAT_VERSION:
        raise InvalidArgument(f"{path}: unsupported model package format {mlmodel.get('format_version')!r}")
    return mlmodel


def verify_package(directory: Path, mlmodel: dict[str, Any]) -> None:
    """Every file listed in MLmodel.json is present with its recorded hash, and no file is unlisted."""
    listed: dict[str, str] = dict(mlmodel.get("files") or {})
    present = {
        p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() and p.name != MLMODEL_FILE
    }
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise IntegrityError(f"model package has files its manifest does not list: {', '.join(unlisted)}")
    for name, expected in sorted(listed.items()):
        path = directory / name
        if not path.is_file():
            raise IntegrityError(f"model package is missing {name}")
        actual = _sha256(path)
        if actual != expected:
            raise IntegrityError(f"model file {name} hashes to {actual}, its manifest says {expected}")


def load_directory(directory: str | Path, digest: str | None = None) -> LoadedModel:
    """Verify a package directory file by file, then deserialise it."""
    path = Path(directory)
    mlmodel = read_mlmodel(path)
    verify_package(path, mlmodel)
    section = dict(mlmodel["flavor"])
    flavor = get_flavor(str(section.pop("name")))
    return LoadedModel(flavor.load(path, section), flavor, mlmodel, digest)


def package_files_digest(files: Mapping[str, bytes], algorithm: str = "sha256") -> str:
    """The manifest digest an artifact store gives a directory holding ``files`` (path -> bytes):
    what a model version is registered under, computed without a store."""
    from modelyard.artifacts.interfaces import ManifestEntry
    from modelyard.artifacts.manifest import build_manifest, manifest_to_bytes

    entries = [
        ManifestEntry(path=path, digest=f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}", size=len(data))
        for path, data in files.items()
    ]
    return f"{algorithm}:{hashlib.new(algorithm, manifest_to_bytes(build_manifest(entries))).hexdigest()}"


def load_package_files(files: Mapping[str, bytes], manifest_digest: str) -> LoadedModel:
    """Load a package sent as bytes (to a worker that has no store: a Ray task). The files must
    hash to the registered ``manifest_digest`` before anything is written; then they are verified
    again file by file against ``MLmodel.json`` and loaded, as from the store."""
    from modelyard.artifacts.paths import parse_digest, safe_relpath

    algorithm, _ = parse_digest(manifest_digest)
    actual = package_files_digest(files, algorithm)
    if actual != manifest_digest:
        raise IntegrityError(f"model package files hash to {actual}, the registered version is {manifest_digest}")
    with tempfile.TemporaryDirectory(prefix="modelyard-load-") as tmp:
        for name, data in files.items():
            target = Path(tmp, safe_relpath(name))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return load_directory(tmp, manifest_digest)


def read_package_files(directory: str | Path) -> dict[str, bytes]:
    """Every file of a package directory (``RegistryService.export`` verified it), path -> bytes."""
    root = Path(directory)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def load_stored(artifacts: ArtifactStore, manifest_digest: str) -> LoadedModel:
    """Materialise a stored package (each blob verified by the store) and load it."""
    with tempfile.TemporaryDirectory(prefix="modelyard-load-") as tmp:
        artifacts.get_directory(manifest_digest, tmp)
        return load_directory(tmp, manifest_digest)
