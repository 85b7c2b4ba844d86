"""v1 request and response bodies of the feature store API.

Definitions and versions travel as the core entities themselves (``modelyard.core.features``:
frozen pydantic models that refuse unknown fields), so a definition means the same thing in a
``features.py`` file, in the store and on the wire.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from modelyard.core.features import (
    FEATURE_OBJECT_NAME_PATTERN,
    FeatureEntityVersion,
    FeatureServiceVersion,
    FeatureViewVersion,
    Materialization,
    ModelFeaturePin,
)
from modelyard.core.validation import ENTITY_NAME_PATTERN, MAX_NAME_LENGTH
from modelyard.wire._base import JSON_INTEGER, Count, Digest, Millis, WireModel

__all__ = [
    "AppliedEntity",
    "AppliedService",
    "AppliedView",
    "EntityVersionList",
    "FreshnessBody",
    "FreshnessList",
    "MaterializationCreate",
    "MaterializationList",
    "ModelPinCreate",
    "ModelPinList",
    "OnlineFeaturesRequest",
    "OnlineFeaturesResponse",
    "ServiceVersionList",
    "TrainingSetLinkBody",
    "TrainingSetLinkCreate",
    "TrainingSetLinkList",
    "ViewVersionList",
]

Version = Annotated[int, Field(ge=1, le=2**31 - 1), JSON_INTEGER]
Name = Annotated[str, Field(min_length=1, max_length=256)]
#: The name of an entity, a view or a service (``core.features.validate_feature_object_name``).
FeatureObjectName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=FEATURE_OBJECT_NAME_PATTERN)]
#: An entity key value on the wire: the join keys are integers or strings (or floats, booleans).
KeyValue = int | float | str | bool | None


class AppliedEntity(WireModel):
    version: FeatureEntityVersion
    created: bool


class AppliedView(WireModel):
    version: FeatureViewVersion
    created: bool


class AppliedService(WireModel):
    version: FeatureServiceVersion
    created: bool


class EntityVersionList(WireModel):
    versions: list[FeatureEntityVersion]


class ViewVersionList(WireModel):
    versions: list[FeatureViewVersion]


class ServiceVersionList(WireModel):
    versions: list[FeatureServiceVersion]


class MaterializationList(WireModel):
    runs: list[Materialization]


class MaterializationCreate(WireModel):
    """A ``Materialization`` as a request states it (names as patterns, JSON integers bounded)."""

    view: FeatureObjectName
    version: Version
    target: FeatureObjectName
    start: Millis
    end: Millis
    rows: Count
    created_at: Millis
    profile: Digest | None = None
    failed_checks: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=200)] = []

    def entity(self) -> Materialization:
        return Materialization(**self.model_dump())


class ModelPinCreate(WireModel):
    """A ``ModelFeaturePin`` as a request states it."""

    model: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=ENTITY_NAME_PATTERN)]
    model_version: Version
    service: FeatureObjectName
    service_version: Version
    pinned_at: Millis

    def entity(self) -> ModelFeaturePin:
        return ModelFeaturePin(**self.model_dump())


class TrainingSetLinkCreate(WireModel):
    dataset: Name
    dataset_version: Version
    views: Annotated[list[tuple[Name, Version]], Field(max_length=1000)]
    #: ``view@vN`` -> the artifact digest of the profile of that view's features in the set
    profiles: Annotated[dict[Annotated[str, Field(max_length=300)], Digest], Field(max_length=1000)] | None = None


class TrainingSetLinkBody(WireModel):
    dataset: str
    dataset_version: int
    view: str
    view_version: int
    profile: str | None = None


class TrainingSetLinkList(WireModel):
    links: list[TrainingSetLinkBody]


class OnlineFeaturesRequest(WireModel):
    """Either ``features`` (``view:feature`` references) or ``service`` (``name`` or
    ``name@vN``); ``entities`` are rows of join-key values."""

    features: Annotated[list[Annotated[str, Field(max_length=600)]], Field(max_length=1000)] | None = None
    service: Annotated[str, Field(max_length=300)] | None = None
    entities: Annotated[list[dict[Name, KeyValue]], Field(max_length=10_000)]
    full_feature_names: bool = False


class OnlineFeaturesResponse(WireModel):
    """``values[i][j]`` is feature ``features[j]`` of entity row ``i`` (null when not found);
    ``found[i][k]`` says whether view ``views[k]`` had a row for entity ``i``."""

    features: list[str]
    views: list[str]
    values: list[list[Any]]
    found: list[list[bool]]


class FreshnessBody(WireModel):
    view: str
    target: str
    materialized_until: int | None
    last_run_at: int | None
    lag_seconds: float | None
    rows: int


class FreshnessList(WireModel):
    views: list[FreshnessBody]


class ModelPinList(WireModel):
    pins: list[ModelFeaturePin]
