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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from modelyard.client._transport import HttpAggregateStore, as_entities, decode
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
    AliasTarget,
    ApprovalList,
    DigestsInUse,
    EvaluationList,
    ModelApprovalBody,
    ModelCardFieldsBody,
    ModelEvaluationBody,
    ModelEventList,
    ModelFileList,
    ModelVersionBody,
    ModelVersionList,
    RegisteredModelBody,
    RegisteredModelList,
    RegistryPolicyBody,
)

__all__ = ["HttpRegistryStore", "name_path"]


def name_path(name: str) -> str:
    """A model or dataset name as URL path segments: each segment percent-encoded, '/' kept
    (names may hold several segments; the server's routes take them whole). '.' and '..'
    segments are encoded too, so no HTTP layer resolves them away."""
    return "/".join(
        "%2E" * len(part) if part in (".", "..") else quote(part, safe="") for part in name.split("/")
    )


def _model(name: str) -> str:
    return "/models/" + name_path(name)


def _version(name: str, version: int) -> str:
    return f"{_model(name)}/versions/{int(version)}"


class HttpRegistryStore(HttpAggregateStore, ModelRegistryStore):
    """Registered models, versions, aliases, transitions and approvals on a modelyard server."""

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> bytes:
        return self.api.send(method, path, idempotent=idempotent, **kwargs).content

    # -- models -------------------------------------------------------------------------------
    def create_registered_model(
        self, name: str, project_id: str, *, created_by: str, description: str | None = None, at: int
    ) -> RegisteredModel:
        body = {"name": name, "project_id": project_id, "created_by": created_by, "description": description, "at": at}
        return decode(self._send("POST", "/models", idempotent=False, json=body), RegisteredModelBody, RegisteredModel)

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
    ) -> ModelVersion:
        body = {
            "manifest_digest": manifest_digest,
            "flavor": flavor,
            "files": [ModelFile.model_validate(f).model_dump() for f in files],
            "created_by": created_by,
            "at": at,
            "run_id": run_id,
            "signature": signature,
            "description": description,
            "version_id": version_id or new_id(),  # before the first attempt: a retry finds it
        }
        content = self._send("POST", f"{_model(name)}/versions", idempotent=True, json=body)
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
        body = {
            "from_state": ModelState(from_state).value,
            "to_state": ModelState(to_state).value,
            "actor": actor,
            "reason": reason,
            "at": at,
        }
        content = self._send("POST", f"{_version(name, version)}/transitions", idempotent=False, json=body)
        return decode(content, ModelVersionBody, ModelVersion)

    def versions_in_state_at(self, name: str, state: ModelState, at: int) -> list[ModelVersion]:
        params = {"state": ModelState(state).value, "at": at}
        content = self._send("GET", f"{_model(name)}/versions-in-state", idempotent=True, params=params)
        return as_entities(ModelVersionList.model_validate_json(content).versions, ModelVersion)

    # -- aliases ------------------------------------------------------------------------------
    def set_model_alias(self, name: str, alias: str, version: int, *, actor: str, reason: str | None, at: int) -> None:
        body = {"version": version, "actor": actor, "reason": reason, "at": at}
        self._send("PUT", f"{_model(name)}/aliases", idempotent=True, params={"alias": alias}, json=body)

    def delete_model_alias(self, name: str, alias: str, *, actor: str, reason: str | None, at: int) -> None:
        body = {"actor": actor, "reason": reason, "at": at}
        self._send("DELETE", f"{_model(name)}/aliases", idempotent=False, params={"alias": alias}, json=body)

    def get_model_alias(self, name: str, alias: str) -> int:
        content = self._send("GET", f"{_model(name)}/aliases", idempotent=True, params={"alias": alias})
        return AliasTarget.model_validate_json(content).version

    # -- approvals and history ----------------------------------------------------------------
    def add_model_approval(
        self, name: str, version: int, approver: str, *, comment: str | None, at: int
    ) -> ModelApproval:
        body = {"approver": approver, "comment": comment, "at": at}
        content = self._send("POST", f"{_version(name, version)}/approvals", idempotent=True, json=body)
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
        body = {"required_approvals": policy.required_approvals, "retention_days": policy.retention_days}
        path = f"/registry/policies/{quote(policy.project_id, safe='')}"
        return decode(self._send("PUT", path, idempotent=True, json=body), RegistryPolicyBody, RegistryPolicy)

    def list_versions_to_purge(self, now: int) -> list[ModelVersion]:
        content = self._send("GET", "/registry/purge-candidates", idempotent=True, params={"now": now})
        return as_entities(ModelVersionList.model_validate_json(content).versions, ModelVersion)

    def digests_in_use(self, digests: Sequence[str], *, excluding_version_id: str) -> set[str]:
        wanted = sorted(set(digests))
        if not wanted:
            return set()
        body = {"digests": wanted, "excluding_version_id": excluding_version_id}
        content = self._send("POST", "/registry/digests-in-use", idempotent=True, json=body)
        return set(DigestsInUse.model_validate_json(content).digests)

    # -- model cards and evaluations -----------------------------------------------------------
    def get_model_card_fields(self, name: str, version: int) -> ModelCardFields:
        content = self._send("GET", f"{_version(name, version)}/card", idempotent=True)
        return decode(content, ModelCardFieldsBody, ModelCardFields)

    def update_model_card_fields(
        self, name: str, version: int, changes: Mapping[str, str | None], *, actor: str, at: int
    ) -> ModelCardFields:
        body = {"changes": dict(changes), "actor": actor, "at": at}
        content = self._send("PATCH", f"{_version(name, version)}/card", idempotent=False, json=body)
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
        body = {
            "evaluation_id": evaluation_id,
            "digest": digest,
            "summary": dict(summary),
            "run_id": run_id,
            "actor": actor,
            "at": at,
        }
        content = self._send("POST", f"{_version(name, version)}/evaluations", idempotent=True, json=body)
        return decode(content, ModelEvaluationBody, ModelEvaluationRecord)

    def list_model_evaluations(self, name: str, version: int) -> list[ModelEvaluationRecord]:
        content = self._send("GET", f"{_version(name, version)}/evaluations", idempotent=True)
        return as_entities(EvaluationList.model_validate_json(content).evaluations, ModelEvaluationRecord)

    def mark_model_version_purged(self, name: str, version: int, *, actor: str, at: int) -> ModelVersion:
        body = {"actor": actor, "at": at}
        content = self._send("POST", f"{_version(name, version)}/purged", idempotent=True, json=body)
        return decode(content, ModelVersionBody, ModelVersion)
