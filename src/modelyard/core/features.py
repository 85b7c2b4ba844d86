"""The feature store's vocabulary: entities, feature views, feature services, their versions.

A definition is what a user writes in a ``features.py`` file (``modelyard features apply`` imports
it and collects the objects in it):

* ``FeatureEntity``: what features describe (a driver, a customer), and the columns that identify
  one (``join_keys``). Named ``FeatureEntity`` so it does not read as ``core.base.Entity``, the
  base of every domain entity.
* ``FeatureView``: typed ``features`` of one or more entities, read from a ``FeatureSource`` (a
  dataset version ``name@vN``, a Parquet path or glob, or a DuckDB SQL query), each row stamped
  by its ``timestamp_field``; a value is valid for ``ttl_seconds`` after its timestamp (None:
  forever). An optional ``transformation`` is a DuckDB SELECT over the relation ``source``.
* ``FeatureService``: the features one model reads, as references ``view:feature`` (pinned on
  apply to ``view@vN:feature``, the version that apply found or created).

Versions: applying a definition whose normalised form (``definition_digest``) differs from the
latest version's creates the next version; the same definition again creates nothing. Old
versions stay resolvable (``view@v2``). A view version also records the join keys of its
entities as they were when it was applied, so changing an entity's keys makes new view versions
on the next apply rather than silently changing old ones.

Standard library and pydantic only (a core module).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from modelyard.core.base import Entity
from modelyard.core.errors import InvalidArgument, UnknownFeature
from modelyard.core.validation import ENTITY_NAME_PATTERN, MAX_VERSION, validate_entity_name

__all__ = [
    "FEATURE_OBJECT_NAME_PATTERN",
    "FEATURE_TYPES",
    "Feature",
    "FeatureEntity",
    "FeatureEntityVersion",
    "FeatureRef",
    "FeatureService",
    "FeatureServiceVersion",
    "FeatureSource",
    "FeatureType",
    "FeatureView",
    "FeatureViewVersion",
    "Materialization",
    "ModelFeaturePin",
    "closest",
    "definition_digest",
    "parse_feature_ref",
    "validate_column_name",
    "validate_feature_object_name",
]

FeatureType = Literal["int64", "float64", "string", "bool", "timestamp"]
FEATURE_TYPES: tuple[str, ...] = ("int64", "float64", "string", "bool", "timestamp")
SourceKind = Literal["dataset", "parquet", "sql"]

#: ``validate_feature_object_name`` as a JSON-schema pattern (Python's engine).
FEATURE_OBJECT_NAME_PATTERN = r"^(?![^@:]*[@:])" + ENTITY_NAME_PATTERN[1:]
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_REF_RE = re.compile(r"^(?P<view>[^@:]+)(?:@v?(?P<version>[0-9]{1,9}))?(?::(?P<feature>[^@:]+))?$")


def validate_feature_object_name(name: object, kind: str) -> str:
    """Names of entities, views and services: the common name rule, and no '@' or ':' (they
    separate the version and the feature in a reference)."""
    text = validate_entity_name(name, kind)
    if "@" in text or ":" in text:
        raise InvalidArgument(f"invalid {kind} {text!r}: must not contain '@' or ':'")
    return text


def validate_column_name(name: object, kind: str) -> str:
    """Features, join keys and timestamp fields are columns: an identifier of at most 128 characters."""
    if not isinstance(name, str) or not _COLUMN_RE.match(name):
        raise InvalidArgument(f"invalid {kind} {name!r}: a letter or '_' then letters, digits or '_' (at most 128)")
    return name


def closest(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """``"; closest: a, b"`` for an error message, or ``""`` when nothing is close."""
    found = difflib.get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.5)
    return f"; closest: {', '.join(found)}" if found else ""


def _checked(check: Any, *args: Any) -> Any:
    """A name check inside a pydantic validator: its InvalidArgument becomes the ValueError
    pydantic reports as a validation error (a 422 at the edge, not a server error)."""
    try:
        return check(*args)
    except InvalidArgument as exc:
        raise ValueError(str(exc)) from None


def _items(value: Any, single: tuple[type, ...], what: str) -> tuple[Any, ...]:
    if isinstance(value, single):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ValueError(f"{what} must be a list, got {type(value).__name__}")
    return tuple(value)


def _normalised_sql(text: str | None) -> str | None:
    """SQL as hashed: line endings and trailing spaces do not make a new version."""
    if text is None:
        return None
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    stripped = "\n".join(lines).strip()
    return stripped or None


class FeatureEntity(Entity):
    """What features describe, and the columns that identify one."""

    name: str
    join_keys: tuple[str, ...]
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked(validate_feature_object_name, value, "entity name")

    @field_validator("join_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        keys = _items(value, (str,), "join keys")
        if not keys:
            raise ValueError("an entity needs at least one join key")
        for key in keys:
            _checked(validate_column_name, key, "join key")
        if len(set(keys)) != len(keys):
            raise ValueError(f"join keys repeat: {list(keys)}")
        return keys


class Feature(Entity):
    """One typed column of a view."""

    name: str
    dtype: FeatureType
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked(validate_column_name, value, "feature name")


class FeatureSource(Entity):
    """Where a view's rows come from: ``kind`` ``dataset`` (``location`` is ``name@vN``; a
    version is required, so a view version always reads the same bytes), ``parquet`` (a path or
    glob) or ``sql`` (a DuckDB query, which may read files itself)."""

    kind: SourceKind
    location: Annotated[str, Field(min_length=1, max_length=100_000)]

    @model_validator(mode="after")
    def _check(self) -> FeatureSource:
        if self.kind == "dataset":
            name, sep, version = self.location.rpartition("@")
            if not sep or not re.fullmatch(r"v?[0-9]{1,9}", version) or not name:
                raise ValueError(f"a dataset source names one version, 'name@vN', got {self.location!r}")
        return self

    @classmethod
    def dataset(cls, ref: str) -> FeatureSource:
        return cls(kind="dataset", location=ref)

    @classmethod
    def parquet(cls, path: str) -> FeatureSource:
        return cls(kind="parquet", location=str(path))

    @classmethod
    def sql(cls, query: str) -> FeatureSource:
        return cls(kind="sql", location=query)


class FeatureView(Entity):
    """Typed features of some entities, read from a source, valid ``ttl_seconds`` after their
    timestamp (None: forever)."""

    name: str
    entities: tuple[str, ...]
    source: FeatureSource
    timestamp_field: str = "event_timestamp"
    features: tuple[Feature, ...]
    ttl_seconds: Annotated[int, Field(gt=0, le=100 * 365 * 86400)] | None = None
    transformation: str | None = None  # a DuckDB SELECT over the relation named ``source``
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    #: row-level expectations of the data subsystem's suites (``{"expect": "between", "column":
    #: "trips", "min": 0}``), checked on the rows each materialisation run writes
    expectations: tuple[dict[str, Any], ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked(validate_feature_object_name, value, "feature view name")

    @field_validator("expectations", mode="before")
    @classmethod
    def _expectations(cls, value: Any) -> Any:
        items = _items(value, (dict,), "expectations")
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("expect"), str):
                raise ValueError("an expectation is a mapping with an 'expect' key, such as {'expect': 'not_null'}")
        return items

    @field_validator("entities", mode="before")
    @classmethod
    def _entities(cls, value: Any) -> Any:
        items = _items(value, (str, FeatureEntity), "entities")
        names = tuple(item.name if isinstance(item, FeatureEntity) else item for item in items)
        if not names:
            raise ValueError("a feature view needs at least one entity")
        for name in names:
            _checked(validate_feature_object_name, name, "entity name")
        return names

    @field_validator("ttl_seconds", mode="before")
    @classmethod
    def _ttl(cls, value: Any) -> Any:
        if isinstance(value, timedelta):
            return int(value.total_seconds())
        return value

    @field_validator("timestamp_field")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        return _checked(validate_column_name, value, "timestamp field")

    @field_validator("transformation")
    @classmethod
    def _transformation(cls, value: str | None) -> str | None:
        return _normalised_sql(value)

    @model_validator(mode="after")
    def _check(self) -> FeatureView:
        names = [f.name for f in self.features]
        if not names:
            raise ValueError("a feature view needs at least one feature")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"feature names repeat: {repeated}")
        if self.timestamp_field in names:
            raise ValueError(f"the timestamp field {self.timestamp_field!r} is not a feature")
        return self

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise UnknownFeature(
            f"feature view {self.name!r} has no feature {name!r}{closest(name, (f.name for f in self.features))}"
        )


class FeatureService(Entity):
    """The features one model reads: references ``view:feature``, ``view@vN:feature``, or a
    whole view (``view`` or ``view@vN``, or the ``FeatureView`` object itself)."""

    name: str
    features: tuple[str, ...]
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked(validate_feature_object_name, value, "feature service name")

    @field_validator("features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        items = _items(value, (str, FeatureView), "features")
        refs: list[str] = []
        for item in items:
            if isinstance(item, FeatureView):
                refs.extend(f"{item.name}:{f.name}" for f in item.features)
            else:
                _checked(lambda text: parse_feature_ref(text, allow_whole_view=True), item)
                refs.append(item)
        if not refs:
            raise ValueError("a feature service needs at least one feature")
        return tuple(refs)


# --- versions (what the store returns) ---------------------------------------------------------


class FeatureEntityVersion(Entity):
    name: str
    version: int
    digest: str
    created_at: int
    definition: FeatureEntity

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


class FeatureViewVersion(Entity):
    """One immutable version of a view; ``join_keys`` are its entities' keys when it was applied."""

    name: str
    version: int
    digest: str
    created_at: int
    definition: FeatureView
    join_keys: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


class FeatureServiceVersion(Entity):
    """One immutable version of a service; every reference in ``definition.features`` is pinned
    (``view@vN:feature``)."""

    name: str
    version: int
    digest: str
    created_at: int
    definition: FeatureService

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


class Materialization(Entity):
    """One run of materialisation of a view version into an online store (``target``): rows with
    an event timestamp in ``[start, end)`` (ms since the epoch) were written. ``profile``: the
    content digest of the statistics profile of the rows written (a ``DatasetProfile`` blob in
    the artifact store; None for a run recorded without one); ``failed_checks``: the view's
    expectations the rows failed."""

    view: str
    version: int
    target: str
    start: int
    end: int
    rows: int
    created_at: int
    profile: str | None = None
    #: the view's expectations the written rows failed, each with how many rows failed it
    #: (empty: all passed, or none declared); the rows are written either way
    failed_checks: tuple[str, ...] = ()


class ModelFeaturePin(Entity):
    """A model version's features: the feature service version it was trained on (whose
    references pin every view version), recorded once per model version."""

    model: str
    model_version: int
    service: str
    service_version: int
    pinned_at: int

    @property
    def service_ref(self) -> str:
        return f"{self.service}@v{self.service_version}"


def definition_digest(
    definition: FeatureEntity | FeatureView | FeatureService, extra: Mapping[str, Any] | None = None
) -> str:
    """The content hash of a normalised definition (canonical JSON, sorted keys), plus ``extra``
    (a view's resolved join keys): equal digests mean the same definition."""
    dumped = definition.model_dump(mode="json")
    if isinstance(definition, FeatureView) and not dumped.get("expectations"):
        dumped.pop("expectations", None)  # views without expectations keep the digests they had
    body: dict[str, Any] = {"kind": type(definition).__name__, "definition": dumped}
    if extra:
        body["extra"] = dict(extra)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class FeatureRef:
    """``view[@vN][:feature]``: ``feature`` None means every feature of the view."""

    view: str
    version: int | None
    feature: str | None

    def __str__(self) -> str:
        text = self.view if self.version is None else f"{self.view}@v{self.version}"
        return text if self.feature is None else f"{text}:{self.feature}"


def parse_feature_ref(text: object, *, allow_whole_view: bool = False) -> FeatureRef:
    """Parse ``view:feature``, ``view@v2:feature`` (and ``view``/``view@v2`` when
    ``allow_whole_view``); InvalidArgument with the accepted forms otherwise."""
    forms = "'view:feature' or 'view@v2:feature'" + (" or 'view'" if allow_whole_view else "")
    if not isinstance(text, str):
        raise InvalidArgument(f"a feature reference is a string ({forms}), got {text!r}")
    match = _REF_RE.match(text)
    if match is None or (match.group("feature") is None and not allow_whole_view):
        raise InvalidArgument(f"invalid feature reference {text!r}: expected {forms}")
    view = validate_feature_object_name(match.group("view"), "feature view name")
    version = match.group("version")
    number = None if version is None else int(version)
    if number is not None and not 1 <= number <= MAX_VERSION:
        raise InvalidArgument(f"invalid feature reference {text!r}: version out of range")
    feature = match.group("feature")
    if feature is not None:
        validate_column_name(feature, "feature name")
    return FeatureRef(view, number, feature)
