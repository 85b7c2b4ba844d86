"""The registry service: models, versions, the lifecycle state machine, approvals, aliases, history.

It receives its stores in its constructor. The rules live here; the store applies each change
with a compare-and-set in one transaction, together with its audit event.

Lifecycle::

    draft ──> staging ──> production ──> archived ──> decommissioned
      │  <──────┘  │                      │  │
      │            └──────> archived      │  └──> staging / production (rollback)
      └──> archived, decommissioned (abandoned drafts)

Staging and production hold at most one version each: promoting a version archives the one it
replaces (a recorded event with reason "replaced by version N"), so ``NAME@production`` always
names one version and "what was in production on date D" has one answer.

Approvals: a project policy may require N approvals before production. An approval counts when
its approver is a maintainer of the model's project, asked through ``is_maintainer(project_id,
user)`` both when approving and again when promoting (a revoked maintainer's approval stops
counting). The default allows everyone, which is right while auth is off; the auth subsystem
plugs its role check in here. Authors cannot approve their own version.

Release checks: before an approval is recorded and before a version moves to production, every
``release_checks`` callable is given the version and may refuse it by raising (``ReleaseBlocked``).
They are how rooms below the registry add their own conditions without the registry importing
them, as ``on_decommission`` lets serving react to a decommission: the feature store's check
(``features.release.FeaturePinCheck``) refuses a version whose pinned feature views no longer
resolve or whose online features differ from the offline join. Whoever builds the service wires
them (the SDK and the CLI over local stores; the server, which re-runs the rules for HTTP
clients, over its own).

Decommissioning removes the version's aliases, calls every ``on_decommission`` hook (serving
registers one to undeploy), and schedules the artifacts for deletion after the project's
retention period; ``purge_expired`` deletes blobs no other version or run still uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import (
    AlreadyExists,
    ApprovalRequired,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from modelyard.core.registry import (
    ModelApproval,
    ModelEvent,
    ModelFile,
    ModelState,
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
)
from modelyard.core.tracking import now_millis
from modelyard.core.validation import validate_entity_name, validate_name
from modelyard.registry.uri import ModelRef, parse_model_ref, validate_alias
from modelyard.store.models import ModelRegistryStore

if TYPE_CHECKING:
    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.registry import packaging
    from modelyard.store.interfaces import TrackingStore

MaintainerCheck = Callable[[str, str], bool]
DecommissionHook = Callable[[ModelVersion], None]
#: Called with a version before it is approved or promoted to production; refuses by raising.
ReleaseCheck = Callable[[ModelVersion], None]
DAY_MS = 86_400_000
SYSTEM_ACTOR = "modelyard"

#: The state machine: the states each state may move to.
TRANSITIONS: dict[ModelState, frozenset[ModelState]] = {
    ModelState.DRAFT: frozenset({ModelState.STAGING, ModelState.ARCHIVED, ModelState.DECOMMISSIONED}),
    ModelState.STAGING: frozenset({ModelState.PRODUCTION, ModelState.DRAFT, ModelState.ARCHIVED}),
    ModelState.PRODUCTION: frozenset({ModelState.ARCHIVED}),
    ModelState.ARCHIVED: frozenset({ModelState.STAGING, ModelState.PRODUCTION, ModelState.DECOMMISSIONED}),
    ModelState.DECOMMISSIONED: frozenset(),
}
#: States that hold one version at a time; the replaced version is archived.
EXCLUSIVE_STATES = frozenset({ModelState.STAGING, ModelState.PRODUCTION})


def allow_everyone(project_id: str, user: str) -> bool:
    """The default maintainer check while auth is off: every user is a maintainer."""
    return True


def _actor(user: str | None, kind: str = "user") -> str:
    if user is None or not str(user).strip():
        raise InvalidArgument(f"a {kind} name is required (who is doing this?)")
    return validate_name(str(user).strip(), f"{kind} name")


def parse_state(state: ModelState | str) -> ModelState:
    try:
        return ModelState(str(state).lower())
    except ValueError:
        names = ", ".join(s.value for s in ModelState)
        raise InvalidArgument(f"unknown model state {state!r}; expected one of {names}") from None


class RegistryService:
    """The explicit registry API; the SDK face, the CLI and the server build one."""

    def __init__(
        self,
        store: ModelRegistryStore,
        tracking: TrackingStore,
        artifacts: ArtifactStore | None = None,
        *,
        is_maintainer: MaintainerCheck = allow_everyone,
        clock: Callable[[], int] = now_millis,
        on_decommission: Iterable[DecommissionHook] = (),
        release_checks: Iterable[ReleaseCheck] = (),
    ) -> None:
        self.store = store
        self.tracking = tracking
        self._artifacts = artifacts
        self.is_maintainer = is_maintainer
        self.clock = clock
        self.on_decommission = list(on_decommission)
        self.release_checks = list(release_checks)

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            raise InvalidArgument("no artifact store is configured")
        return self._artifacts

    # -- models -------------------------------------------------------------------------------
    def create_model(self, name: str, *, project: str, actor: str, description: str | None = None) -> RegisteredModel:
        validate_entity_name(name, "model name")
        if "@" in name or name.startswith("models:/"):
            raise InvalidArgument(f"invalid model name {name!r}: '@' and 'models:/' are reserved for references")
        project_id = self.tracking.get_or_create_project(validate_name(project, "project name")).id
        return self.store.create_registered_model(
            name, project_id, created_by=_actor(actor), description=description, at=self.clock()
        )

    def get_or_create_model(self, name: str, *, project: str, actor: str) -> RegisteredModel:
        try:
            return self.store.get_registered_model(name)
        except NotFound:
            pass
        try:
            return self.create_model(name, project=project, actor=actor)
        except AlreadyExists:
            return self.store.get_registered_model(name)  # a concurrent creator won the race

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        project_id = None if project is None else self.tracking.get_project_by_name(project).id
        return self.store.list_registered_models(project_id)

    # -- versions -----------------------------------------------------------------------------
    def register_package(
        self,
        name: str,
        package: packaging.StoredPackage,
        *,
        actor: str,
        run_id: str | None = None,
        project: str | None = None,
        description: str | None = None,
        version_id: str | None = None,
        version: int | None = None,
    ) -> ModelVersion:
        """Register a stored package as the next version of ``name`` (created if missing, in the
        run's project, else ``project``), or as ``version`` (a version copied from another
        store keeps its number; see ``ModelRegistryStore.create_model_version``)."""
        actor = _actor(actor)
        if run_id is not None:
            project_name = self.tracking.get_project(self.tracking.get_run(run_id).project_id).name
        elif project is not None:
            project_name = project
        else:
            raise InvalidArgument("register a model version with a run_id or a project")
        self.get_or_create_model(name, project=project_name, actor=actor)
        signature = package.signature
        files = [ModelFile(path=e.path, digest=e.digest, size=e.size) for e in package.manifest.entries]
        return self.store.create_model_version(
            name,
            manifest_digest=package.digest,
            flavor=package.flavor,
            files=files,
            created_by=actor,
            at=self.clock(),
            run_id=run_id,
            signature=None if signature is None else signature.to_json(),
            description=description,
            version_id=version_id,
            version=version,
        )

    def log_model(
        self,
        model: Any,
        name: str,
        *,
        actor: str,
        run_id: str | None = None,
        project: str | None = None,
        input_example: Any = None,
        signature: Any = None,
        flavor: str | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Package, store and register ``model`` as the next version of ``name`` (state draft)."""
        from modelyard.registry import packaging  # numpy and pandas: only when a model is packaged

        validate_name(name, "model name")
        if run_id is not None:
            self.tracking.get_run(run_id)  # NotFound before anything is written
        package = packaging.store_model(
            self.artifacts,
            model,
            flavor=flavor,
            input_example=input_example,
            signature=signature,
            metadata={"run_id": run_id} if run_id else None,
        )
        return self.register_package(
            name, package, actor=actor, run_id=run_id, project=project, description=description
        )

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.store.get_model_version(name, version)

    def list_versions(self, name: str, states: Sequence[ModelState | str] | None = None) -> list[ModelVersion]:
        wanted = None if states is None else [parse_state(s) for s in states]
        return self.store.list_model_versions(name, wanted)

    def resolve(self, reference: str | ModelRef) -> ModelVersion:
        """The version a reference names; NotFound (saying which part) when there is none."""
        ref = parse_model_ref(reference) if isinstance(reference, str) else reference
        if ref.kind == "version":
            return self.store.get_model_version(ref.name, ref.version)
        if ref.kind == "alias":
            return self.store.get_model_version(ref.name, self.store.get_model_alias(ref.name, ref.value))
        if ref.kind == "state":
            found = self.store.list_model_versions(ref.name, [ModelState(ref.value)])
            if not found:
                raise NotFound(f"model {ref.name!r} has no version in {ref.value}")
            return found[0]
        live = [v for v in self.store.list_model_versions(ref.name) if v.state is not ModelState.DECOMMISSIONED]
        if not live:
            raise NotFound(f"model {ref.name!r} has no version that is not decommissioned")
        return live[0]

    def load(self, reference: str | ModelRef, *, allow_decommissioned: bool = False) -> packaging.LoadedModel:
        """Resolve, fetch every file verified, check the package's own hashes, then deserialise."""
        from modelyard.registry import packaging

        version = self.resolve(reference)
        if version.state is ModelState.DECOMMISSIONED and not allow_decommissioned:
            raise InvalidArgument(f"version {version.version} of model {version.model_name!r} is decommissioned")
        return packaging.load_stored(self.artifacts, version.manifest_digest)

    def export(self, reference: str | ModelRef, directory: str | Path) -> ModelVersion:
        """Write the package of the version ``reference`` names into ``directory`` (which must be
        empty or absent), each blob re-hashed by the store and then every file checked against
        ``MLmodel.json``: what a container build or a remote worker is given. Nothing is
        deserialised. Decommissioned versions are refused."""
        from modelyard.registry import packaging

        version = self.resolve(reference)
        if version.state is ModelState.DECOMMISSIONED:
            raise InvalidArgument(f"version {version.version} of model {version.model_name!r} is decommissioned")
        target = Path(directory)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise InvalidArgument(f"{target} is not an empty directory")
        target.mkdir(parents=True, exist_ok=True)
        self.artifacts.get_directory(version.manifest_digest, target)
        packaging.verify_package(target, packaging.read_mlmodel(target))
        return version

    # -- lifecycle ----------------------------------------------------------------------------
    def transition(
        self, name: str, version: int, state: ModelState | str, *, actor: str, reason: str | None = None
    ) -> ModelVersion:
        """Move a version to ``state``: IllegalTransition, ApprovalRequired, ReleaseBlocked or
        Conflict change nothing."""
        target = parse_state(state)
        if target is ModelState.DECOMMISSIONED:
            return self.decommission(name, version, actor=actor, reason=reason)
        actor = _actor(actor)
        current = self.store.get_model_version(name, version)
        self._check_transition(current, target)
        if target is ModelState.PRODUCTION:
            self._check_approvals(current)
            self._check_release(current)
        return self.store.transition_model_version(
            name,
            version,
            from_state=current.state,
            to_state=target,
            actor=actor,
            reason=reason,
            at=self.clock(),
            displaced_to=ModelState.ARCHIVED if target in EXCLUSIVE_STATES else None,
        )

    @staticmethod
    def _check_transition(current: ModelVersion, target: ModelState) -> None:
        allowed = TRANSITIONS[current.state]
        if target not in allowed:
            options = ", ".join(sorted(s.value for s in allowed)) or "nothing (it is final)"
            raise IllegalTransition(
                f"illegal transition of model {current.model_name!r} version {current.version}: "
                f"{current.state.value} -> {target.value}; from {current.state.value} it may move to {options}"
            )

    def _project_id(self, name: str) -> str:
        return self.store.get_registered_model(name).project_id

    def _check_approvals(self, current: ModelVersion) -> None:
        project_id = self._project_id(current.model_name)
        needed = self.store.get_registry_policy(project_id).required_approvals
        if needed <= 0:
            return
        approvers = [
            a.approver
            for a in self.store.list_model_approvals(current.model_name, current.version)
            if self.is_maintainer(project_id, a.approver)
        ]
        if len(approvers) < needed:
            have = f" (approved by {', '.join(approvers)})" if approvers else ""
            raise ApprovalRequired(
                f"version {current.version} of model {current.model_name!r} needs {needed} approval(s) from "
                f"maintainers before production and has {len(approvers)}{have}"
            )

    def _check_release(self, current: ModelVersion) -> None:
        for check in self.release_checks:
            check(current)

    def approve(self, name: str, version: int, *, approver: str, comment: str | None = None) -> ModelApproval:
        """Record a maintainer's approval; PermissionDenied for non-maintainers and for the author,
        ReleaseBlocked when a release check refuses the version (nothing recorded)."""
        approver = _actor(approver, "approver")
        current = self.store.get_model_version(name, version)
        if current.state in (ModelState.PRODUCTION, ModelState.DECOMMISSIONED):
            raise InvalidArgument(f"version {version} of model {name!r} is {current.state.value}: nothing to approve")
        if not self.is_maintainer(self._project_id(name), approver):
            raise PermissionDenied(f"{approver!r} is not a maintainer of the project of model {name!r}")
        if approver == current.created_by:
            raise PermissionDenied(f"{approver!r} registered version {version} of model {name!r} and cannot approve it")
        self._check_release(current)
        return self.store.add_model_approval(name, version, approver, comment=comment, at=self.clock())

    def approvals(self, name: str, version: int) -> list[ModelApproval]:
        return self.store.list_model_approvals(name, version)

    def decommission(self, name: str, version: int, *, actor: str, reason: str | None = None) -> ModelVersion:
        """Retire a version for good: aliases removed, deployments told, artifacts kept for the
        project's retention period and then purged by ``purge_expired``."""
        actor = _actor(actor)
        current = self.store.get_model_version(name, version)
        self._check_transition(current, ModelState.DECOMMISSIONED)
        now = self.clock()
        days = self.store.get_registry_policy(self._project_id(name)).retention_days
        done = self.store.transition_model_version(
            name,
            version,
            from_state=current.state,
            to_state=ModelState.DECOMMISSIONED,
            actor=actor,
            reason=reason,
            at=now,
            purge_after=None if days is None else now + days * DAY_MS,
        )
        for hook in self.on_decommission:
            hook(done)
        return done

    def purge_expired(self, *, actor: str = SYSTEM_ACTOR, now: int | None = None) -> list[ModelVersion]:
        """Delete the artifacts of decommissioned versions whose retention has ended, except blobs
        another version or a run still references (content addressing shares identical files)."""
        now = self.clock() if now is None else now
        purged: list[ModelVersion] = []
        for version in self.store.list_versions_to_purge(now):
            files = self.store.list_model_files(version.model_name, version.version)
            digests = [f.digest for f in files] + [version.manifest_digest]
            in_use = self.store.digests_in_use(digests, excluding_version_id=version.id)
            for digest in dict.fromkeys(digests):
                if digest not in in_use:
                    self.artifacts.delete(digest)
            purged.append(
                self.store.mark_model_version_purged(version.model_name, version.version, actor=actor, at=now)
            )
        return purged

    # -- aliases ------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, *, actor: str, reason: str | None = None) -> ModelVersion:
        alias = validate_alias(alias)
        actor = _actor(actor)
        target = self.store.get_model_version(name, version)
        if target.state is ModelState.DECOMMISSIONED:
            raise InvalidArgument(f"version {version} of model {name!r} is decommissioned: it cannot get an alias")
        self.store.set_model_alias(name, alias, version, actor=actor, reason=reason, at=self.clock())
        return self.store.get_model_version(name, version)

    def delete_alias(self, name: str, alias: str, *, actor: str, reason: str | None = None) -> None:
        self.store.delete_model_alias(name, validate_alias(alias), actor=_actor(actor), reason=reason, at=self.clock())

    # -- history and policy -------------------------------------------------------------------
    def history(self, name: str, version: int | None = None) -> list[ModelEvent]:
        return self.store.list_model_events(name, version)

    def in_state_at(self, name: str, state: ModelState | str, at: int) -> list[ModelVersion]:
        """Which versions were in ``state`` at ``at`` (ms since the epoch): "what was in production on D"."""
        return self.store.versions_in_state_at(name, parse_state(state), at)

    def get_policy(self, project: str) -> RegistryPolicy:
        return self.store.get_registry_policy(self.tracking.get_project_by_name(project).id)

    def set_policy(
        self,
        project: str,
        *,
        actor: str,
        required_approvals: int | None = None,
        retention_days: int | str | None = "keep",
    ) -> RegistryPolicy:
        """Change a project's policy (maintainers only). ``retention_days=None`` keeps artifacts forever."""
        actor = _actor(actor)
        project_id = self.tracking.get_project_by_name(project).id
        if not self.is_maintainer(project_id, actor):
            raise PermissionDenied(f"{actor!r} is not a maintainer of project {project!r}")
        current = self.store.get_registry_policy(project_id)
        values = current.model_dump()
        if required_approvals is not None:
            values["required_approvals"] = required_approvals
        if retention_days != "keep":
            values["retention_days"] = retention_days
        try:
            policy = RegistryPolicy(**values)
        except ValueError as exc:
            raise InvalidArgument(f"invalid registry policy: {exc}".splitlines()[0]) from None
        return self.store.set_registry_policy(policy)
