"""v1 request and response bodies of the model registry API (models, versions, transitions,
aliases, approvals, history, policies, model cards, evaluations, retention).

Responses mirror the entities of ``modelyard.core.registry`` field for field, so the client reads
them straight back into those entities. The wire layer may not import the store layer (they are
siblings), so the state and event names are spelled out here as literals; a contract test checks
that they match ``ModelState`` and ``EventKind``.

Who did something (``actor``, ``created_by``, ``approver``) and when (``at``) are optional in
requests: with auth on the server always uses the authenticated user and its own clock (a token
cannot act or approve in someone else's name, nor back-date the audit trail); with auth off the
values given are kept, so the single-user embedded flow and the contract suite drive the clock.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from modelyard.wire._base import JSON_INTEGER, Actor, Count, Digest, EntityName, Millis, NormalArtifactPath, WireModel

__all__ = [
    "ALIAS_PATTERN",
    "AliasRemove",
    "AliasSet",
    "AliasTarget",
    "ApprovalCreate",
    "ApprovalList",
    "CardFieldsUpdate",
    "DigestsInUse",
    "DigestsInUseQuery",
    "EvaluationCreate",
    "EvaluationList",
    "ModelApprovalBody",
    "ModelCardFieldsBody",
    "ModelEvaluationBody",
    "ModelEventBody",
    "ModelEventList",
    "ModelFileBody",
    "ModelFileList",
    "ModelStateName",
    "ModelVersionBody",
    "ModelVersionCreate",
    "ModelVersionList",
    "PurgeMark",
    "RegisteredModelBody",
    "RegisteredModelCreate",
    "RegisteredModelList",
    "RegistryPolicyBody",
    "RegistryPolicyUpdate",
    "TransitionRequest",
]

#: ``modelyard.registry.uri``'s alias rule.
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"
#: ``modelyard.core.registry.ModelState`` values.
ModelStateName = Literal["draft", "staging", "production", "archived", "decommissioned"]
#: ``modelyard.core.registry.EventKind`` values.
EventKindName = Literal[
    "registered", "transition", "alias_set", "alias_removed", "approved", "purged", "card_updated", "evaluated"
]
Reason = Annotated[str, Field(max_length=10_000)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^(?![^\n]*\n)[A-Za-z0-9_\-]+$")]
#: ``modelyard.registry.card_fields.EDITABLE_FIELDS`` (a unit test checks they match).
CardField = Literal[
    "intended_use", "out_of_scope_use", "limitations", "ethical_considerations", "owners", "contact", "notes"
]
CardText = Annotated[str, Field(max_length=20_000)]
#: Version numbers are 32-bit in the stores (PostgreSQL ``integer``).
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1), JSON_INTEGER]
Size = Count


# -- models -------------------------------------------------------------------------------------
class RegisteredModelCreate(WireModel):
    name: EntityName
    project_id: Id
    created_by: Actor | None = None
    description: Reason | None = None
    at: Millis | None = None


class RegisteredModelBody(WireModel):
    id: str
    name: str
    project_id: str
    created_at: int
    created_by: str
    description: str | None = None
    latest_version: int = 0


class RegisteredModelList(WireModel):
    models: list[RegisteredModelBody]


# -- versions -----------------------------------------------------------------------------------
class ModelFileBody(WireModel):
    path: NormalArtifactPath
    digest: Digest
    size: Size


class ModelFileList(WireModel):
    files: list[ModelFileBody]


class ModelVersionCreate(WireModel):
    """Register the next version; a ``version_id`` already registered returns that version, so a
    retried request adds nothing (the client generates the id before its first attempt)."""

    manifest_digest: Digest
    flavor: Annotated[str, Field(min_length=1, max_length=64)]
    files: list[ModelFileBody] = Field(default_factory=list)
    created_by: Actor | None = None
    at: Millis | None = None
    run_id: Id | None = None
    signature: Annotated[str, Field(max_length=1_000_000)] | None = None
    description: Reason | None = None
    version_id: Id | None = None
    #: Register this number instead of the next one (a version copied from another store).
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None


class ModelVersionBody(WireModel):
    id: str
    model_name: str
    version: int
    run_id: str | None = None
    manifest_digest: str
    flavor: str
    signature: str | None = None
    size: int = 0
    state: ModelStateName = "draft"
    created_at: int
    created_by: str
    description: str | None = None
    decommissioned_at: int | None = None
    purge_after: int | None = None
    purged_at: int | None = None
    aliases: list[str] = Field(default_factory=list)


class ModelVersionList(WireModel):
    versions: list[ModelVersionBody]


class TransitionRequest(WireModel):
    """Move a version to ``to_state``. The server runs the registry's rules (state machine,
    approvals before production, archiving the version a promotion replaces, retention of a
    decommissioned version); ``from_state``, when given, is a compare-and-set (409 if stale)."""

    to_state: ModelStateName
    from_state: ModelStateName | None = None
    actor: Actor | None = None
    reason: Reason | None = None
    at: Millis | None = None


# -- aliases, approvals, history ----------------------------------------------------------------
class AliasSet(WireModel):
    version: VersionNumber
    actor: Actor | None = None
    reason: Reason | None = None
    at: Millis | None = None


class AliasRemove(WireModel):
    """The optional body of removing an alias (in the body, not the URL: a reason may be long)."""

    actor: Actor | None = None
    reason: Reason | None = None
    at: Millis | None = None


class AliasTarget(WireModel):
    alias: str
    version: int


class ApprovalCreate(WireModel):
    approver: Actor | None = None
    comment: Reason | None = None
    at: Millis | None = None


class ModelApprovalBody(WireModel):
    model_name: str
    version: int
    approver: str
    at: int
    comment: str | None = None


class ApprovalList(WireModel):
    approvals: list[ModelApprovalBody]


class ModelEventBody(WireModel):
    seq: int
    model_name: str
    version: int | None = None
    kind: EventKindName
    actor: str
    at: int
    reason: str | None = None
    from_state: ModelStateName | None = None
    to_state: ModelStateName | None = None
    alias: str | None = None
    from_version: int | None = None


class ModelEventList(WireModel):
    events: list[ModelEventBody]


# -- policy and retention -----------------------------------------------------------------------
class RegistryPolicyBody(WireModel):
    project_id: str
    required_approvals: int = 0
    retention_days: int | None = 30


class RegistryPolicyUpdate(WireModel):
    """The whole policy of a project (an upsert): approvals before production, and how many days
    a decommissioned version's artifacts are kept (null: forever)."""

    required_approvals: Annotated[int, Field(ge=0, le=100), JSON_INTEGER] = 0
    retention_days: Annotated[int, Field(ge=0, le=1_000_000), JSON_INTEGER] | None = 30


class DigestsInUseQuery(WireModel):
    digests: Annotated[list[Digest], Field(max_length=100_000)]
    excluding_version_id: Id


class DigestsInUse(WireModel):
    digests: list[str]


class PurgeMark(WireModel):
    actor: Actor | None = None
    at: Millis | None = None


# -- model cards and evaluations ----------------------------------------------------------------
class ModelCardFieldsBody(WireModel):
    model_name: str
    version: int
    fields: dict[str, str] = Field(default_factory=dict)
    updated_at: int | None = None
    updated_by: str | None = None


class CardFieldsUpdate(WireModel):
    """Merge ``changes`` into the card's edited fields (null removes one). Field names are the
    registry's (``intended_use``, ``limitations``, ...); unknown ones are refused."""

    changes: Annotated[dict[CardField, CardText | None], Field(min_length=1)]
    actor: Actor | None = None
    at: Millis | None = None


class EvaluationCreate(WireModel):
    """Record an evaluation whose full result is already a blob (``digest``); a retried request
    with the same ``evaluation_id`` returns the existing record."""

    evaluation_id: Id
    digest: Digest
    summary: dict[str, Any] = Field(default_factory=dict)
    run_id: Id | None = None
    actor: Actor | None = None
    at: Millis | None = None


class ModelEvaluationBody(WireModel):
    id: str
    model_name: str
    version: int
    run_id: str | None = None
    digest: str
    summary: dict[str, Any] = Field(default_factory=dict)
    created_at: int
    created_by: str


class EvaluationList(WireModel):
    evaluations: list[ModelEvaluationBody]
