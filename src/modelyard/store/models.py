"""Registered models, versions, aliases, lifecycle transitions, approvals (issue: Models).

The interface of this aggregate's metadata store (its entities are in ``modelyard.core.registry``).
store/sql/models.py implements it as a ``SqlRegistryStore`` over the shared ``SqlDatabase``;
services receive it typed as this ABC.

The store keeps facts and does compare-and-set; the rules (which transition is legal, how many
approvals production needs, which alias names are reserved) live in ``modelyard.registry``. Every
mutating method takes the actor, the reason and the time from its caller, so the audit trail is
written in the same transaction as the change it describes and tests can drive the clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

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


class ModelRegistryStore(ABC):
    """Registered models, versions, aliases, lifecycle transitions, approvals (issue: Models)."""

    # -- models -------------------------------------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self, name: str, project_id: str, *, created_by: str, description: str | None = None, at: int
    ) -> RegisteredModel:
        """AlreadyExists if the name is taken (model names are unique in a store)."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """NotFound if missing."""

    @abstractmethod
    def list_registered_models(self, project_id: str | None = None) -> list[RegisteredModel]:
        """Ordered by name."""

    # -- versions -----------------------------------------------------------------------------
    @abstractmethod
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
        """The next version number, allocated safely under concurrent registrations, in state draft.
        A ``version_id`` already registered returns that version (a retried call adds nothing).
        ``version`` asks for that number instead (a version copied from another store keeps its
        number, e.g. into a built image's store): it must be above every number the model has
        given out (AlreadyExists otherwise), and the next version without one follows it."""

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """NotFound if the model or the version is missing."""

    @abstractmethod
    def list_model_versions(self, name: str, states: Sequence[ModelState] | None = None) -> list[ModelVersion]:
        """Newest first."""

    @abstractmethod
    def list_model_versions_by_run(self, run_id: str) -> list[ModelVersion]:
        """The versions registered from run ``run_id``, of any model and in any state, ordered by
        model name, then newest first (as ``list_model_versions``); empty for an unknown run.
        The lineage graph's downstream walk and the run page ask this instead of listing every
        model's versions."""

    @abstractmethod
    def list_model_files(self, name: str, version: int) -> list[ModelFile]:
        """The files of a version, ordered by path."""

    @abstractmethod
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
        """Compare-and-set: Conflict unless the version is still in ``from_state``. With
        ``displaced_to``, another version in ``to_state`` moves there (its own recorded event),
        in the same transaction. Moving to decommissioned also removes every alias of the version
        (recorded) and sets ``decommissioned_at`` and ``purge_after``."""

    @abstractmethod
    def versions_in_state_at(self, name: str, state: ModelState, at: int) -> list[ModelVersion]:
        """The versions that were in ``state`` at time ``at`` (ms), from the transition history."""

    # -- aliases ------------------------------------------------------------------------------
    @abstractmethod
    def set_model_alias(self, name: str, alias: str, version: int, *, actor: str, reason: str | None, at: int) -> None:
        """Point (or move) an alias; recorded with the version it pointed to before."""

    @abstractmethod
    def delete_model_alias(self, name: str, alias: str, *, actor: str, reason: str | None, at: int) -> None:
        """NotFound if the alias does not exist."""

    @abstractmethod
    def get_model_alias(self, name: str, alias: str) -> int:
        """The version number the alias points to; NotFound if there is no such alias."""

    # -- approvals and history ----------------------------------------------------------------
    @abstractmethod
    def add_model_approval(
        self, name: str, version: int, approver: str, *, comment: str | None, at: int
    ) -> ModelApproval:
        """Idempotent per approver: approving twice keeps the first approval."""

    @abstractmethod
    def list_model_approvals(self, name: str, version: int) -> list[ModelApproval]:
        """Ordered by time."""

    @abstractmethod
    def list_model_events(self, name: str, version: int | None = None) -> list[ModelEvent]:
        """The audit trail of a model (or one version), oldest first."""

    # -- policy and retention -----------------------------------------------------------------
    @abstractmethod
    def get_registry_policy(self, project_id: str) -> RegistryPolicy:
        """The project's policy, or the defaults when none was set."""

    @abstractmethod
    def set_registry_policy(self, policy: RegistryPolicy) -> RegistryPolicy:
        """Upsert; NotFound for an unknown project."""

    @abstractmethod
    def list_versions_to_purge(self, now: int) -> list[ModelVersion]:
        """Decommissioned versions whose retention ended at or before ``now`` and not yet purged."""

    @abstractmethod
    def digests_in_use(self, digests: Sequence[str], *, excluding_version_id: str) -> set[str]:
        """Which of ``digests`` another unpurged version or any run artifact still references."""

    # -- model cards and evaluations -----------------------------------------------------------
    @abstractmethod
    def get_model_card_fields(self, name: str, version: int) -> ModelCardFields:
        """The card's edited fields (empty when never edited); NotFound for an unknown version."""

    @abstractmethod
    def update_model_card_fields(
        self, name: str, version: int, changes: Mapping[str, str | None], *, actor: str, at: int
    ) -> ModelCardFields:
        """Merge ``changes`` (None removes a field) and record a ``card_updated`` event, in one
        transaction. Allowed field names are the caller's rule (``modelyard.registry.card_fields``)."""

    @abstractmethod
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
        """Record an evaluation of a version (and an ``evaluated`` event). A retried call with the
        same ``evaluation_id`` returns the existing record and adds nothing."""

    @abstractmethod
    def list_model_evaluations(self, name: str, version: int) -> list[ModelEvaluationRecord]:
        """Newest first; NotFound for an unknown version."""

    @abstractmethod
    def mark_model_version_purged(self, name: str, version: int, *, actor: str, at: int) -> ModelVersion:
        """Record that the version's artifacts were deleted (an event, and ``purged_at``)."""
