"""Entities of the model registry: registered models, versions, their files, the audit trail of
lifecycle events, approvals, model-card edits, evaluation records and a project's policy.

The rules over them (which transition is legal, how many approvals production needs) live in
``modelyard.registry``; the store interface is ``modelyard.store.models.ModelRegistryStore``.
"""

from __future__ import annotations

import enum

from pydantic import Field

from modelyard.core.base import Entity


class ModelState(enum.StrEnum):
    """Lifecycle of a model version. Staging and production hold at most one version each."""

    DRAFT = "draft"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    DECOMMISSIONED = "decommissioned"


class EventKind(enum.StrEnum):
    REGISTERED = "registered"
    TRANSITION = "transition"
    ALIAS_SET = "alias_set"
    ALIAS_REMOVED = "alias_removed"
    APPROVED = "approved"
    PURGED = "purged"
    CARD_UPDATED = "card_updated"
    EVALUATED = "evaluated"


class RegisteredModel(Entity):
    id: str
    name: str
    project_id: str
    created_at: int
    created_by: str
    description: str | None = None
    latest_version: int = 0  # the last number handed out (versions are never renumbered)


class ModelFile(Entity):
    """One file of a packaged model: the manifest's entry, kept so retention can tell which
    blobs other versions still use without reading every manifest."""

    path: str
    digest: str
    size: int


class ModelVersion(Entity):
    """An immutable packaged model. Only ``state`` (through transitions), the decommissioning
    fields and the aliases pointing at it ever change."""

    id: str
    model_name: str
    version: int
    run_id: str | None = None
    manifest_digest: str
    flavor: str
    signature: str | None = None  # the signature as JSON, for listing without touching artifacts
    size: int = 0
    state: ModelState = ModelState.DRAFT
    created_at: int
    created_by: str
    description: str | None = None
    decommissioned_at: int | None = None
    purge_after: int | None = None
    purged_at: int | None = None
    aliases: list[str] = Field(default_factory=list)


class ModelEvent(Entity):
    """One line of the audit trail: who did what to which version, when and why."""

    seq: int
    model_name: str
    version: int | None = None
    kind: EventKind
    actor: str
    at: int
    reason: str | None = None
    from_state: ModelState | None = None
    to_state: ModelState | None = None
    alias: str | None = None
    from_version: int | None = None  # an alias move: where the alias pointed before


class ModelApproval(Entity):
    model_name: str
    version: int
    approver: str
    at: int
    comment: str | None = None


class ModelCardFields(Entity):
    """The hand-written part of a version's model card (intended use, limitations, owners, ...).

    The rest of the card is generated from facts the registry already holds; only these edits
    are stored, with who changed them last and when (each edit is also an audit event)."""

    model_name: str
    version: int
    fields: dict[str, str] = Field(default_factory=dict)
    updated_at: int | None = None
    updated_by: str | None = None


class ModelEvaluationRecord(Entity):
    """One evaluation of a version: the full result is a JSON blob in the artifact store
    (``digest``); ``summary`` keeps the few numbers worth listing without fetching it."""

    id: str
    model_name: str
    version: int
    run_id: str | None = None
    digest: str
    summary: dict[str, object] = Field(default_factory=dict)
    created_at: int
    created_by: str


class RegistryPolicy(Entity):
    """A project's governance: approvals needed before production, and how long the artifacts
    of a decommissioned version are kept (None: forever, 0: purge at the next purge pass)."""

    project_id: str
    required_approvals: int = Field(default=0, ge=0, le=100)
    retention_days: int | None = Field(default=30, ge=0)
