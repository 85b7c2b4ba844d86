"""``HttpRegistryStore``: the ``ModelRegistryStore`` contract over the REST API v1.

It shares the ``ApiClient`` of the other HTTP stores, so ``RegistryService`` runs on the client
exactly as in-process.

The server does not trust that: the calls that change governed state (transitions, approvals,
aliases, card edits, new model names) run the registry's rules again on the server, so a caller
that skips ``RegistryService`` still cannot move a version past the state machine or approve its
own version. Two arguments of ``transition_model_version`` are therefore the server's to decide
and are not sent: ``displaced_to`` (a promotion always archives the version it replaces) and
``purge_after`` (the project's retention policy, counted from the transition time). With auth on
the server also records the authenticated user and its own clock instead of ``actor``/``at``.

Retries: version registration and evaluations carry client-generated ids, approvals, alias
moves, policies and purge marks are upserts, and reads are reads, so those are retried after a
dropped connection. Model creation, transitions, alias removal and card edits are not (a retry
could fail, or record a second event, after a first attempt that succeeded); they are retried
only when the request never reached the server.

Request bodies are the ``wire.models`` models the server's routes decode, built and checked by
``request`` (see ``_transport``): by keyword, or from a dict where they nest other models (the
nested ones are then checked with their place in the body, as the server reports it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

from modelyard.client._transport import HttpAggregateStore, as_entities, decode, request
from modelyard.core.ids import new_id
from modelyard.core.registry import (
    ModelApproval,
    ModelCardFields,
    ModelEvaluationRecord,
    ModelEvent,
    ModelFile,
    ModelState,
    ModelVersion,
    RegisteredModel,
    RegistryPolicy,
)
from modelyard.store.models import ModelRegistryStore
from modelyard.wire.models import (
    AliasRemove,
    AliasSet,
    AliasTarget,
    ApprovalCreate,
    ApprovalList,
    CardField,
    CardFieldsUpdate,
    DigestsInUse,
    DigestsInUseQuery,
    EvaluationCreate,
    EvaluationList,
    ModelApprovalBody,
    ModelCardFieldsBody,
    ModelEvaluationBody,
    ModelEventList,
    ModelFileList,
    ModelStateName,
    ModelVersionBody,
    ModelVersionCreate,
    ModelVersionList,
    PurgeMark,
    RegisteredModelBody,
    RegisteredModelCreate,
    RegisteredModelList,
    RegistryPolicyBody,
    RegistryPolicyUpdate,
    TransitionRequest,
)

__all__ = ["HttpRegistryStore", "name_path"]


def name_path(name: str) -> str:
    """A model or dataset name as URL path segments: each segment percent-encoded, '/' kept
    (names may hold several segments; the server's routes take them whole). '.' and '..'
    segments are encoded too, so no HTTP layer resolves them away."""
    return "/".join("%2E" * len(part) if part in (".", "..") else quote(part, safe="") for part in name.split("/"))


def _model(name: str) -> str:
    return "/models/" + name_path(name)


def _version(name: str, version: int) -> str:
    return f"{_model(name)}/versions/{int(version)}"


def _state(state: ModelState) -> ModelStateName:
    """A state as the wire names it (``request`` checks the name against the schema's enum)."""
    return cast(ModelStateName, ModelState(state).value)


class HttpRegistryStore(HttpAggregateStore, ModelRegistryStore):
    """Registered models, versions, aliases, transitions and approvals on a modelyard server."""

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> bytes:
        return self.api.send(method, path, idempotent=idempotent, **kwargs).content

    # -- models -------------------------------------------------------------------------------
    def create_registered_model(
        self, name: str, project_id: str, *, created_by: str, description: str | None = None, at: int
    ) -> RegisteredModel:
        body = request(
            RegisteredModelCreate,
            name=name,
            project_id=project_id,
            created_by=created_by,
            description=description,
            at=at,
        )
        return decode(self._send("POST", "/models", idempotent=False, body=body), RegisteredModelBody, RegisteredModel)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return decode(self._send("GET", _model(name), idempotent=True), RegisteredModelBody, RegisteredModel)

    def list_registered_models(self, project_id: str | None = None) -> list[RegisteredModel]:
        params = None if project_id is None else {"project_id": project_id}
        content = self._send("GET", "/models", idempotent=True, params=params)
        return as_entities(RegisteredModelList.model_validate_json(content).models, RegisteredModel)

    # -- versions -----------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        *,
        manifest_digest: str,
        flavor: str,
        files: Sequence[ModelFile],
        created_by: str,
        at: int,
        run_id: str | None = None,
        signature: str | None = None,
        description: str | None = None,
        version_id: str | None = None,
        version: int | None = None,
    ) -> ModelVersion:
        fields = {
            "manifest_digest": manifest_digest,
            "flavor": flavor,
            "files": [ModelFile.model_validate(f).model_dump() for f in files],
            "created_by": created_by,
            "at": at,
            "run_id": run_id,
            "signature": signature,
            "description": description,
            "version_id": version_id or new_id(),  # before the first attempt: a retry finds it
            "version": version,
        }
        body = request(ModelVersionCreate.model_validate, fields)
        content = self._send("POST", f"{_model(name)}/versions", idempotent=True, body=body)
        return decode(content, ModelVersionBody, ModelVersion)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return decode(self._send("GET", _version(name, version), idempotent=True), ModelVersionBody, ModelVersion)

    def list_model_versions(self, name: str, states: Sequence[ModelState] | None = None) -> list[ModelVersion]:
        if states is not None and not states:
            self.get_registered_model(name)  # NotFound for an unknown model, as the SQL stores
            return []
        params = None if states is None else {"state": [ModelState(s).value for s in states]}
        content = self._send("GET", f"{_model(name)}/versions", idempotent=True, params=params)
        return as_entities(ModelVersionList.model_validate_json(content).versions, ModelVersion)

    def list_model_versions_by_run(self, run_id: str) -> list[ModelVersion]:
        """The server leaves out versions of models in projects the caller may not read."""
        if not run_id:
            return []  # no run has an empty id (and no route takes one)
        path = f"/runs/{quote(run_id, safe='')}/model-versions"
        content = self._send("GET", path, idempotent=True)
        return as_entities(ModelVersionList.model_validate_json(content).versions, ModelVersion)

    def list_model_files(self, name: str, version: int) -> list[ModelFile]:
        content = self._send("GET", f"{_version(name, version)}/files", idempotent=True)
        return as_entities(ModelFileList.model_validate_json(content).files, ModelFile)

    def transition_model_version(
        self,
        name: str,
        version: int,
        *,
        from_state: ModelState,
        to_state: ModelState,
        actor: str,
        reason: str | None,
        at: int,
        displaced_to: ModelState | None = None,
        purge_after: int | None = None,
    ) -> ModelVersion:
        """Compare-and-set on ``from_state``, under the server's registry rules (see the module
        docstring: ``displaced_to`` and ``purge_after`` are decided by the server)."""
        body = request(
            TransitionRequest,
            from_state=_state(from_state),
            to_state=_state(to_state),
            actor=actor,
            reason=reason,
            at=at,
        )
        content = self._send("POST", f"{_version(name, version)}/transitions", idempotent=False, body=body)
        return decode(content, ModelVersionBody, ModelVersion)

    def versions_in_state_at(self, name: str, state: ModelState, at: int) -> list[ModelVersion]:
        params = {"state": ModelState(state).value, "at": at}
        content = self._send("GET", f"{_model(name)}/versions-in-state", idempotent=True, params=params)
        return as_entities(ModelVersionList.model_validate_json(content).versions, ModelVersion)

    # -- aliases ------------------------------------------------------------------------------
    def set_model_alias(self, name: str, alias: str, version: int, *, actor: str, reason: str | None, at: int) -> None:
        body = request(AliasSet, version=version, actor=actor, reason=reason, at=at)
        self._send("PUT", f"{_model(name)}/aliases", idempotent=True, params={"alias": alias}, body=body)

    def delete_model_alias(self, name: str, alias: str, *, actor: str, reason: str | None, at: int) -> None:
        body = request(AliasRemove, actor=actor, reason=reason, at=at)
        self._send("DELETE", f"{_model(name)}/aliases", idempotent=False, params={"alias": alias}, body=body)

    def get_model_alias(self, name: str, alias: str) -> int:
        content = self._send("GET", f"{_model(name)}/aliases", idempotent=True, params={"alias": alias})
        return AliasTarget.model_validate_json(content).version

    # -- approvals and history ----------------------------------------------------------------
    def add_model_approval(
        self, name: str, version: int, approver: str, *, comment: str | None, at: int
    ) -> ModelApproval:
        body = request(ApprovalCreate, approver=approver, comment=comment, at=at)
        content = self._send("POST", f"{_version(name, version)}/approvals", idempotent=True, body=body)
        return decode(content, ModelApprovalBody, ModelApproval)

    def list_model_approvals(self, name: str, version: int) -> list[ModelApproval]:
        content = self._send("GET", f"{_version(name, version)}/approvals", idempotent=True)
        return as_entities(ApprovalList.model_validate_json(content).approvals, ModelApproval)

    def list_model_events(self, name: str, version: int | None = None) -> list[ModelEvent]:
        params = None if version is None else {"version": version}
        content = self._send("GET", f"{_model(name)}/events", idempotent=True, params=params)
        return as_entities(ModelEventList.model_validate_json(content).events, ModelEvent)

    # -- policy and retention -----------------------------------------------------------------
    def get_registry_policy(self, project_id: str) -> RegistryPolicy:
        content = self._send("GET", f"/registry/policies/{quote(project_id, safe='')}", idempotent=True)
        return decode(content, RegistryPolicyBody, RegistryPolicy)

    def set_registry_policy(self, policy: RegistryPolicy) -> RegistryPolicy:
        body = request(
            RegistryPolicyUpdate, required_approvals=policy.required_approvals, retention_days=policy.retention_days
        )
        path = f"/registry/policies/{quote(policy.project_id, safe='')}"
        return decode(self._send("PUT", path, idempotent=True, body=body), RegistryPolicyBody, RegistryPolicy)

    def list_versions_to_purge(self, now: int) -> list[ModelVersion]:
        content = self._send("GET", "/registry/purge-candidates", idempotent=True, params={"now": now})
        return as_entities(ModelVersionList.model_validate_json(content).versions, ModelVersion)

    def digests_in_use(self, digests: Sequence[str], *, excluding_version_id: str) -> set[str]:
        wanted = sorted(set(digests))
        if not wanted:
            return set()
        body = request(DigestsInUseQuery, digests=wanted, excluding_version_id=excluding_version_id)
        content = self._send("POST", "/registry/digests-in-use", idempotent=True, body=body)
        return set(DigestsInUse.model_validate_json(content).digests)

    # -- model cards and evaluations -----------------------------------------------------------
    def get_model_card_fields(self, name: str, version: int) -> ModelCardFields:
        content = self._send("GET", f"{_version(name, version)}/card", idempotent=True)
        return decode(content, ModelCardFieldsBody, ModelCardFields)

    def update_model_card_fields(
        self, name: str, version: int, changes: Mapping[str, str | None], *, actor: str, at: int
    ) -> ModelCardFields:
        fields = cast(dict[CardField, str | None], dict(changes))  # request checks the names
        body = request(CardFieldsUpdate, changes=fields, actor=actor, at=at)
        content = self._send("PATCH", f"{_version(name, version)}/card", idempotent=False, body=body)
        return decode(content, ModelCardFieldsBody, ModelCardFields)

    def add_model_evaluation(
        self,
        name: str,
        version: int,
        *,
        evaluation_id: str,
        digest: str,
        summary: Mapping[str, object],
        run_id: str | None,
        actor: str,
        at: int,
    ) -> ModelEvaluationRecord:
        record = {"evaluation_id": evaluation_id, "digest": digest, "summary": dict(summary), "run_id": run_id}
        body = request(EvaluationCreate.model_validate, {**record, "actor": actor, "at": at})
        content = self._send("POST", f"{_version(name, version)}/evaluations", idempotent=True, body=body)
        return decode(content, ModelEvaluationBody, ModelEvaluationRecord)

    def list_model_evaluations(self, name: str, version: int) -> list[ModelEvaluationRecord]:
        content = self._send("GET", f"{_version(name, version)}/evaluations", idempotent=True)
        return as_entities(EvaluationList.model_validate_json(content).evaluations, ModelEvaluationRecord)

    def mark_model_version_purged(self, name: str, version: int, *, actor: str, at: int) -> ModelVersion:
        body = request(PurgeMark, actor=actor, at=at)
        content = self._send("POST", f"{_version(name, version)}/purged", idempotent=True, body=body)
        return decode(content, ModelVersionBody, ModelVersion)
