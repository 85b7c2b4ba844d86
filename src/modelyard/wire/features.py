"""v1 request and response bodies of the feature store API.

Definitions travel as wire models that mirror the core ones (``modelyard.core.features``) field
for field and state their rules in the schema (names and columns as patterns, at least one join
key or feature, join keys that do not repeat): ``FeatureEntityBody``, ``FeatureViewBody`` and
``FeatureServiceBody`` are both what a client posts and the ``definition`` of the versions the
server returns. The routes build the core definition from the body (``entity()``), whose
validators then apply the rules no schema states (a view's timestamp field is not one of its
features, a service's references parse); the digest is computed from the core definition, so a
definition means the same thing in a ``features.py`` file, in the store and on the wire.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from modelyard.core.features import (
    FEATURE_OBJECT_NAME_PATTERN,
    FeatureEntity,
    FeatureService,
    FeatureView,
    Materialization,
    ModelFeaturePin,
)
from modelyard.core.validation import ENTITY_NAME_PATTERN, MAX_NAME_LENGTH
from modelyard.wire._base import JSON_INTEGER, Count, Digest, Millis, WireFloat, WireModel

__all__ = [
    "AppliedEntity",
    "AppliedService",
    "AppliedView",
    "ColumnDriftBody",
    "EntityVersionList",
    "FeatureBody",
    "FeatureDriftBody",
    "FeatureEntityBody",
    "FeatureEntityVersionBody",
    "FeatureServiceBody",
    "FeatureServiceVersionBody",
    "FeatureSourceBody",
    "FeatureSummaryBody",
    "FeatureViewBody",
    "FeatureViewVersionBody",
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
    "ViewProfileBody",
    "ViewVersionList",
]

Version = Annotated[int, Field(ge=1, le=2**31 - 1), JSON_INTEGER]
Name = Annotated[str, Field(min_length=1, max_length=256)]
#: The name of an entity, a view or a service (``core.features.validate_feature_object_name``).
FeatureObjectName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=FEATURE_OBJECT_NAME_PATTERN)]
#: An entity key value on the wire: the join keys are integers or strings (or floats, booleans).
KeyValue = int | float | str | bool | None


#: A feature, a join key or a timestamp field (``core.features.validate_column_name``).
ColumnName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Text = Annotated[str, Field(max_length=100_000)]
Description = Annotated[str, Field(max_length=10_000)]
DefinitionTags = Annotated[
    dict[Annotated[str, Field(max_length=250)], Annotated[str, Field(max_length=5_000)]], Field(max_length=100)
]


def _distinct(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"items repeat: {values}")
    return values


def _expectation(value: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value.get("expect"), str):
        raise ValueError("an expectation is a mapping with an 'expect' key, such as {'expect': 'not_null'}")
    return value


_UNIQUE = {"uniqueItems": True}
_EXPECTATION_SCHEMA = {"required": ["expect"], "properties": {"expect": {"type": "string"}}}


def _build(entity: Any, body: WireModel) -> Any:
    """The core definition a body stands for (its validators apply the rules between fields; a
    ``pydantic.ValidationError`` the caller reports as a 422)."""
    return entity.model_validate(body, from_attributes=True)


class FeatureEntityBody(WireModel):
    """A ``FeatureEntity``: what features describe, and the columns that identify one."""

    name: FeatureObjectName
    join_keys: Annotated[
        list[ColumnName], Field(min_length=1, max_length=100, json_schema_extra=_UNIQUE), AfterValidator(_distinct)
    ]
    description: Description | None = None

    def entity(self) -> FeatureEntity:
        built: FeatureEntity = _build(FeatureEntity, self)
        return built


class FeatureBody(WireModel):
    """A ``Feature``: one typed column of a view."""

    name: ColumnName
    dtype: Literal["int64", "float64", "string", "bool", "timestamp"]
    description: Description | None = None


class FeatureSourceBody(WireModel):
    """A ``FeatureSource``: ``dataset`` (``location`` is ``name@vN``), ``parquet`` or ``sql``."""

    kind: Literal["dataset", "parquet", "sql"]
    location: Annotated[str, Field(min_length=1, max_length=100_000)]


class FeatureViewBody(WireModel):
    """A ``FeatureView``: typed features of some entities (their names), read from a source."""

    name: FeatureObjectName
    entities: Annotated[
        list[FeatureObjectName],
        Field(min_length=1, max_length=100, json_schema_extra=_UNIQUE),
        AfterValidator(_distinct),
    ]
    source: FeatureSourceBody
    timestamp_field: ColumnName = "event_timestamp"
    features: Annotated[list[FeatureBody], Field(min_length=1, max_length=10_000)]
    ttl_seconds: Annotated[int, Field(gt=0, le=100 * 365 * 86400), JSON_INTEGER] | None = None
    transformation: Text | None = None
    description: Description | None = None
    tags: DefinitionTags = Field(default_factory=dict)
    expectations: Annotated[
        list[Annotated[dict[str, Any], AfterValidator(_expectation), Field(json_schema_extra=_EXPECTATION_SCHEMA)]],
        Field(max_length=1000),
    ] = Field(default_factory=list)

    def entity(self) -> FeatureView:
        built: FeatureView = _build(FeatureView, self)
        return built


class FeatureServiceBody(WireModel):
    """A ``FeatureService``: the features one model reads, as references (``view@vN:feature``
    when a server records it)."""

    name: FeatureObjectName
    features: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=600)]], Field(min_length=1, max_length=10_000)
    ]
    description: Description | None = None
    tags: DefinitionTags = Field(default_factory=dict)

    def entity(self) -> FeatureService:
        built: FeatureService = _build(FeatureService, self)
        return built


class FeatureEntityVersionBody(WireModel):
    name: str
    version: int
    digest: str
    created_at: int
    definition: FeatureEntityBody


class FeatureViewVersionBody(WireModel):
    name: str
    version: int
    digest: str
    created_at: int
    definition: FeatureViewBody
    join_keys: list[str]


class FeatureServiceVersionBody(WireModel):
    name: str
    version: int
    digest: str
    created_at: int
    definition: FeatureServiceBody


class AppliedEntity(WireModel):
    version: FeatureEntityVersionBody
    created: bool


class AppliedView(WireModel):
    version: FeatureViewVersionBody
    created: bool


class AppliedService(WireModel):
    version: FeatureServiceVersionBody
    created: bool


class EntityVersionList(WireModel):
    versions: list[FeatureEntityVersionBody]


class ViewVersionList(WireModel):
    versions: list[FeatureViewVersionBody]


class ServiceVersionList(WireModel):
    versions: list[FeatureServiceVersionBody]


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


class FeatureSummaryBody(WireModel):
    """One feature of a profile (``features.quality.FeatureSummary``)."""

    name: str
    kind: str
    count: int
    missing: int
    missing_share: WireFloat
    min: WireFloat | None
    max: WireFloat | None
    mean: WireFloat | None
    distinct: int | None
    top: str | None


class ViewProfileBody(WireModel):
    """The current profile of a view version: the merge of the profiles of its materialisation
    runs into ``target`` (the server's online store unless the request named one); ``profile``
    is the merged ``stats.profile.DatasetProfile`` (its ``to_dict``), ``features`` its summary."""

    view: str
    target: str | None
    runs: int
    rows: int
    features: list[FeatureSummaryBody]
    profile: dict[str, Any]


class ColumnDriftBody(WireModel):
    """One feature's verdict (``monitoring.drift.ColumnDrift``; ``score`` is what ``threshold``
    applies to: the p-value, or the distance)."""

    column: str
    kind: str
    method: str
    statistic: WireFloat
    threshold: WireFloat
    drifted: bool
    p_value: WireFloat | None = None
    psi: WireFloat | None = None
    role: str = "feature"
    reference_missing: WireFloat = 0.0
    current_missing: WireFloat = 0.0
    note: str | None = None
    score: WireFloat


class FeatureDriftBody(WireModel):
    """Served features against training: the drift of view version ``view``'s current profile
    (materialised into ``target``) from its features' profile in the training set ``against``."""

    view: str
    against: str
    target: str | None
    dataset_drift: bool
    share_drifted: WireFloat
    drift_share: WireFloat
    reference_rows: int
    current_rows: int
    columns: list[ColumnDriftBody]
    skipped: dict[str, str]
