"""v1 request and response bodies of the feature store API.

Definitions and versions travel as the core entities themselves (``modelyard.core.features``:
frozen pydantic models that refuse unknown fields), so a definition means the same thing in a
``features.py`` file, in the store and on the wire.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from modelyard.core.features import (
    FeatureEntityVersion,
    FeatureServiceVersion,
    FeatureViewVersion,
    Materialization,
    ModelFeaturePin,
)
from modelyard.wire._base import WireModel

__all__ = [
    "AppliedEntity",
    "AppliedService",
    "AppliedView",
    "EntityVersionList",
    "FreshnessBody",
    "FreshnessList",
    "MaterializationList",
    "ModelPinList",
    "OnlineFeaturesRequest",
    "OnlineFeaturesResponse",
    "ServiceVersionList",
    "TrainingSetLinkBody",
    "TrainingSetLinkCreate",
    "TrainingSetLinkList",
    "ViewVersionList",
]

Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
Name = Annotated[str, Field(min_length=1, max_length=256)]
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


class TrainingSetLinkCreate(WireModel):
    dataset: Name
    dataset_version: Version
    views: Annotated[list[tuple[Name, Version]], Field(max_length=1000)]


class TrainingSetLinkBody(WireModel):
    dataset: str
    dataset_version: int
    view: str
    view_version: int


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
