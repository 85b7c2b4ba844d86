"""The model SDK: ``modelyard.log_model()``, ``load_model()``, ``register_model()``, ``set_alias()``,
``transition()``, and ``RegistryClient`` (the explicit registry API over the configured stores).

The fluent functions use the SDK session's stores (``modelyard.sdk.session``), so a model logged inside
``start_run`` lands in the same metadata and artifact stores as the run's metrics. Who did
something is the operating-system user unless ``actor=`` says otherwise; with auth on, the server
replaces it with the authenticated user.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import IntegrityError, InvalidArgument
from modelyard.core.registry import ModelState, ModelVersion, RegisteredModel
from modelyard.registry.service import MaintainerCheck, RegistryService, ReleaseCheck, allow_everyone
from modelyard.sdk import tracking
from modelyard.sdk.session import _session

if TYPE_CHECKING:
    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.registry.packaging import LoadedModel, StoredPackage
    from modelyard.registry.signature import Signature
    from modelyard.store.bundle import Stores


def current_user() -> str:
    """The OS user name, the default actor of SDK and CLI calls ("unknown" when there is none)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no user database entry (some containers)
        return "unknown"


def _stores_of(client: tracking.TrackingClient) -> Stores:
    if client.stores is None:
        raise InvalidArgument("this tracking client was given a tracking store only: pass stores= for the registry")
    return client.stores


class RegistryClient(RegistryService):
    """The explicit registry API over the configured stores (or the ones given).

    >>> registry = RegistryClient()                  # MODELYARD_STORE_URI, or SQLite under MODELYARD_HOME
    >>> registry.transition("churn", 3, "production", actor="ana", reason="beats v2 on recall")
    """

    def __init__(
        self,
        store_uri: str | None = None,
        artifact_uri: str | None = None,
        *,
        stores: Stores | None = None,
        artifacts: ArtifactStore | None = None,
        is_maintainer: MaintainerCheck = allow_everyone,
        release_checks: Iterable[ReleaseCheck] | None = None,
    ) -> None:
        """``release_checks``: by default the feature pin check over these stores (configured
        by the environment's settings; none for a server's stores, which check on the server)."""
        if stores is None:
            stores = _stores_of(tracking.TrackingClient(store_uri, artifact_uri, artifacts=artifacts))
        if release_checks is None:
            from modelyard.sdk import features

            settings = _session.settings(store_uri, artifact_uri)
            given = stores
            release_checks = features.release_checks(given, lambda: features.service_over(given, settings))
        super().__init__(
            stores.registry,
            stores.tracking,
            artifacts or stores.artifacts,
            is_maintainer=is_maintainer,
            release_checks=release_checks,
        )


def _build_registry() -> RegistryService:
    from modelyard.sdk import features

    stores = _session.stores()
    checks = features.release_checks(stores, features.service)
    return RegistryService(stores.registry, stores.tracking, stores.artifacts, release_checks=checks)


def _registry() -> RegistryService:
    """The registry service over the session's stores (built once, like every session service)."""
    return _session.cached("registry", _build_registry)


def log_model(
    model: Any,
    name: str,
    *,
    input_example: Any = None,
    signature: Signature | dict[str, Any] | None = None,
    flavor: str | None = None,
    description: str | None = None,
    actor: str | None = None,
) -> ModelVersion:
    """Package ``model`` in the active run and register it as the next version of ``name`` (draft).

    The flavor is detected from the model unless given ("sklearn", "xgboost", "lightgbm", "onnx",
    "pytorch", "python"); the signature is inferred from ``input_example`` unless given."""
    run = _session.current()
    return _registry().log_model(
        model,
        name,
        actor=actor or current_user(),
        run_id=run.id,
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        description=description,
    )


def load_model(reference: str, *, allow_decommissioned: bool = False) -> LoadedModel:
    """Load ``NAME@3``, ``NAME@champion``, ``NAME@latest``, ``NAME@production`` or ``NAME@staging``.

    Every file is verified against its hash before anything is deserialised (IntegrityError for
    a tampered artifact); the returned model's ``predict`` enforces the signature."""
    return _registry().load(reference, allow_decommissioned=allow_decommissioned)


def register_model(
    name: str,
    source: str | None = None,
    *,
    run_id: str | None = None,
    project: str | None = None,
    description: str | None = None,
    actor: str | None = None,
) -> RegisteredModel | ModelVersion:
    """Without ``source``: create the (empty) registered model. With ``source``, the manifest
    digest of a stored package (``StoredPackage.digest``): register it as the next version."""
    registry = _registry()
    who = actor or current_user()
    project_name = project or _session.settings().project
    if source is None:
        return registry.create_model(name, project=project_name, actor=who, description=description)
    package = _stored_package(registry.artifacts, source)
    return registry.register_package(
        name,
        package,
        actor=who,
        run_id=run_id,
        project=None if run_id else project_name,
        description=description,
    )


def _stored_package(artifacts: ArtifactStore, digest: str) -> StoredPackage:
    from modelyard.registry.packaging import MLMODEL_FILE, StoredPackage

    manifest = artifacts.get_manifest(digest)
    entry = next((e for e in manifest.entries if e.path == MLMODEL_FILE), None)
    if entry is None:
        raise InvalidArgument(f"{digest} is not a model package: it has no {MLMODEL_FILE}")
    try:
        mlmodel = json.loads(artifacts.get_bytes(entry.digest))
    except ValueError as exc:
        raise IntegrityError(f"{MLMODEL_FILE} of {digest} is not valid JSON: {exc}")
    return StoredPackage(manifest=manifest, mlmodel=mlmodel)


def set_alias(
    name: str, alias: str, version: int, *, reason: str | None = None, actor: str | None = None
) -> ModelVersion:
    """Point ``alias`` (e.g. "champion") at a version, moving it if it pointed elsewhere (recorded)."""
    return _registry().set_alias(name, alias, version, actor=actor or current_user(), reason=reason)


def transition(
    name: str, version: int, state: ModelState | str, *, reason: str | None = None, actor: str | None = None
) -> ModelVersion:
    """Move a version through draft -> staging -> production -> archived -> decommissioned."""
    return _registry().transition(name, version, state, actor=actor or current_user(), reason=reason)
