"""Entities of the serving room: deployments (named endpoints with variants), their revisions and
change events, prediction-log partitions and ground-truth feedback.

A deployment is a named endpoint whose traffic is split between *variants*; each variant serves one
concrete model version. What the user asked for (``churn@champion``) is kept beside what it
resolved to at the time of the change (version 7), so the history says exactly which version
served, and an alias that moves later is followed by a new revision rather than silently.

Every change makes a new *revision* (1, 2, 3...) of the deployment; a change names the revision it
was computed from (compare-and-set), so two servers or operators acting at once cannot lose each
other's change. Each revision is stored with who made it, when, why, and its full spec, so "before"
and "after" of any change, and a rollback to any earlier state, are reads of that history.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from modelyard.core.base import Entity
from modelyard.core.errors import InvalidArgument
from modelyard.core.validation import INT64_MAX, NO_NEWLINE, validate_entity_name

__all__ = [
    "DEPLOYMENT_ACTIONS",
    "Deployment",
    "DeploymentAction",
    "DeploymentEvent",
    "DeploymentSpec",
    "Feedback",
    "PredictionLogPartition",
    "Slo",
    "VariantSpec",
    "feedback_json",
    "validate_deployment_name",
    "validate_variant_name",
]

DeploymentAction = Literal["create", "update", "rollback", "refresh", "delete"]
DEPLOYMENT_ACTIONS: tuple[str, ...] = ("create", "update", "rollback", "refresh", "delete")
MAX_VARIANTS = 16
MAX_REQUEST_ID_LENGTH = 128
#: ``validate_deployment_name`` as a JSON-schema pattern (Python's engine): an entity name of one
#: segment (not '.' or '..') without '@', '?', '#' or '%'.
#: ``validate_variant_name``.
VARIANT_NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
DEPLOYMENT_NAME_PATTERN = rf"^{NO_NEWLINE}(?!-)(?!\s)(?!.*\s$)(?!\.\.?$)[^/\\@?#%\x00-\x1f\x7f]+$"


def validate_deployment_name(name: object) -> str:
    """A deployment name is an entity name that is also one URL segment: it names the endpoint
    (``/v1/models/NAME/predict``), so it holds no '/'."""
    text = validate_entity_name(name, "deployment name")
    if "/" in text or "@" in text or "?" in text or "#" in text or "%" in text:
        raise InvalidArgument(f"invalid deployment name {text!r}: '/', '@', '?', '#' and '%' are not allowed")
    return text


def validate_variant_name(name: object) -> str:
    """Variant names label metrics and log rows: 1-64 letters, digits, '_', '-' or '.'."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidArgument(f"invalid variant name {name!r}: 1-64 characters")
    if not all(ch.isascii() and (ch.isalnum() or ch in "_-.") for ch in name):
        raise InvalidArgument(f"invalid variant name {name!r}: only letters, digits, '_', '-' and '.'")
    return name


class VariantSpec(Entity):
    """One variant of a deployment: a model version and its share of the traffic.

    ``model`` is the registered model's name, ``ref`` the selector the user gave (a version
    number, an alias, ``production``, ``staging`` or ``latest``) and ``version`` what it resolved
    to when the revision was made. A shadow variant gets a copy of every request; its answers are
    logged and never returned, and it takes no share of the traffic (``traffic`` is 0)."""

    name: str = Field(pattern=VARIANT_NAME_PATTERN)
    model: str
    ref: str
    version: int = Field(ge=1, le=2**31 - 1)
    traffic: int = Field(ge=0, le=100)
    shadow: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_variant_name(value)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return validate_entity_name(value, "model name")

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not value or len(value) > 64:
            raise ValueError("a model selector is 1-64 characters (a version, an alias, production, latest)")
        return value

    @property
    def reference(self) -> str:
        """``MODEL@SELECTOR`` as the user gave it."""
        return f"{self.model}@{self.ref}"

    @property
    def follows(self) -> bool:
        """Whether the selector can move (an alias, a state, latest): the deployment follows it."""
        return not self.ref.isdigit()


class Slo(Entity):
    """The service-level objective automatic rollback watches, per variant, over a sliding
    window: the error rate and the 99th-percentile latency, judged only once the window holds
    ``min_requests`` requests (a handful of requests proves nothing)."""

    max_error_rate: float | None = Field(default=0.05, ge=0.0, le=1.0)
    max_p99_ms: float | None = Field(default=None, gt=0.0, le=3_600_000.0)
    window_s: int = Field(default=60, ge=1, le=86_400)
    min_requests: int = Field(default=100, ge=1, le=10_000_000)

    @field_validator("max_p99_ms", "max_error_rate")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class DeploymentSpec(Entity):
    """What a revision of a deployment says: its variants, how requests stick to one, its SLO and
    whether breaching the SLO rolls the deployment back by itself.

    Rules: 1 to 16 variants with distinct names; at least one is not a shadow; the traffic of the
    variants that are not shadows sums to 100; a shadow has no traffic. ``sticky_key`` names a
    request header or a field of the request whose value keeps a caller on one variant (A/B)."""

    variants: tuple[VariantSpec, ...] = Field(min_length=1, max_length=MAX_VARIANTS)
    sticky_key: str | None = Field(default=None, min_length=1, max_length=128)
    slo: Slo | None = None
    auto_rollback: bool = False
    description: str | None = Field(default=None, max_length=10_000)
    #: Logged predictions older than this many days are deleted by the serving processes'
    #: periodic work (None: kept until pruned by hand).
    log_retention_days: int | None = Field(default=None, ge=1, le=36_500)

    @model_validator(mode="after")
    def _rules(self) -> DeploymentSpec:
        check_variants(self.variants)
        if self.auto_rollback and self.slo is None:
            raise ValueError("auto_rollback needs an SLO to watch")
        return self

    @property
    def live(self) -> tuple[VariantSpec, ...]:
        return tuple(v for v in self.variants if not v.shadow)

    @property
    def shadows(self) -> tuple[VariantSpec, ...]:
        return tuple(v for v in self.variants if v.shadow)


def check_variants(variants: tuple[VariantSpec, ...]) -> None:
    """ValueError (pydantic reports it as a validation error) unless the variants are a valid split."""
    if not variants:
        raise ValueError("a deployment needs at least one variant")
    if len(variants) > MAX_VARIANTS:
        raise ValueError(f"a deployment has at most {MAX_VARIANTS} variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be distinct, got {names}")
    live = [v for v in variants if not v.shadow]
    if not live:
        raise ValueError("at least one variant must take traffic (not only shadows)")
    for v in variants:
        if v.shadow and v.traffic:
            raise ValueError(f"shadow variant {v.name!r} takes no traffic share (it sees a copy of every request)")
    total = sum(v.traffic for v in live)
    if total != 100:
        raise ValueError(f"the traffic of the variants that are not shadows must sum to 100, got {total}")


class Deployment(Entity):
    """The current revision of a deployment."""

    name: str
    revision: int = Field(ge=1)
    spec: DeploymentSpec
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str


class DeploymentEvent(Entity):
    """One change of a deployment: who, when, why, the revision it made and the state before and
    after. A rollback names the revision it restored; a delete has no ``after``."""

    deployment: str
    revision: int
    action: DeploymentAction
    actor: str
    at: int
    reason: str | None = None
    restored_from: int | None = None
    before: DeploymentSpec | None = None
    after: DeploymentSpec | None = None


class PredictionLogPartition(Entity):
    """One Parquet file of logged predictions of one endpoint, stored as a blob in the artifact
    store (``digest``) and indexed here by the time range of its rows."""

    id: str = Field(min_length=1, max_length=64)
    endpoint: str = Field(min_length=1, max_length=256)
    start_ms: int = Field(ge=0, le=INT64_MAX)
    end_ms: int = Field(ge=0, le=INT64_MAX)
    row_count: int = Field(ge=0, le=INT64_MAX)
    digest: str = Field(min_length=1, max_length=256)
    size: int = Field(ge=0, le=INT64_MAX)
    created_at: int = Field(ge=0, le=INT64_MAX)


class Feedback(Entity):
    """Ground truth for one logged prediction, by its request id. ``value`` is any JSON value
    (a class label, a number, a list); recording feedback again for a request replaces it."""

    request_id: str = Field(min_length=1, max_length=MAX_REQUEST_ID_LENGTH)
    value: Any
    at: int = Field(ge=0, le=INT64_MAX)
    endpoint: str | None = None


def feedback_json(value: Any) -> str:
    """A feedback value as compact JSON; InvalidArgument for what JSON cannot hold (NaN,
    infinity, objects), which every store refuses the same way."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"feedback values must be JSON values (no NaN or infinity): {exc}") from None
