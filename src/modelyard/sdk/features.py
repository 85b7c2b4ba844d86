"""``modelyard.feature_store``: the feature store from Python.

    import modelyard
    from modelyard.features import Feature, FeatureEntity, FeatureSource, FeatureView

    driver = FeatureEntity(name="driver", join_keys=["driver_id"])
    stats = FeatureView(name="driver_stats", entities=[driver], source=FeatureSource.parquet("stats.parquet"),
                        features=[Feature(name="trips", dtype="int64")], ttl_seconds=86400)
    modelyard.feature_store.apply([driver, stats])          # or apply("features.py")
    train = modelyard.feature_store.get_training_set(entity_df, ["driver_stats:trips"]).to_pandas()

The stores are the SDK's (``set_store_uri``, ``set_artifact_uri``, or the environment), so
feature definitions, datasets and runs live side by side.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.core.features import FeatureServiceVersion, FeatureViewVersion, Materialization, ModelFeaturePin
from modelyard.features import DuckConfig, FeatureStoreService, SavedTrainingSet, TrainingSet
from modelyard.features.definitions import load_definitions
from modelyard.features.online import LazyOnlineStore
from modelyard.features.release import FeaturePinCheck
from modelyard.features.service import AppliedObject, Definition, Freshness, ParityReport
from modelyard.features.serving import OnlineResult
from modelyard.sdk.datasets import service as dataset_service
from modelyard.sdk.session import _session

if TYPE_CHECKING:
    from modelyard.monitoring.drift import DriftResult
    from modelyard.registry.service import ReleaseCheck
    from modelyard.settings import Settings
    from modelyard.stats.profile import DatasetProfile
    from modelyard.store.bundle import Stores

__all__ = [
    "apply",
    "check_model_pin",
    "diff",
    "drift",
    "enrich",
    "freshness",
    "get_online_features",
    "get_service",
    "get_training_set",
    "get_view",
    "list_views",
    "materialize",
    "materialize_incremental",
    "parity",
    "pin_model",
    "profile",
    "save_training_set",
    "service",
]


def _build() -> FeatureStoreService:
    settings = _session.settings()
    return FeatureStoreService(
        _session.stores().features,
        dataset_service(),
        duck=DuckConfig(temp_directory=settings.home / "tmp" / "duckdb"),
        online=LazyOnlineStore(settings.online_uri),
    )


def service() -> FeatureStoreService:
    """The explicit API (``modelyard.features.FeatureStoreService``) over the SDK's stores."""
    return _session.cached("features", _build)


def service_over(stores: Stores, settings: Settings) -> FeatureStoreService:
    """A feature store service over ``stores`` (not the session's), configured by ``settings``
    as the session's is: dataset-sourced views, DuckDB spills under the home, the online store."""
    from modelyard.data.service import DatasetService

    return FeatureStoreService(
        stores.features,
        DatasetService(stores.datasets, stores.artifacts, settings.home / "cache"),
        duck=DuckConfig(temp_directory=settings.home / "tmp" / "duckdb"),
        online=LazyOnlineStore(settings.online_uri),
    )


def release_checks(stores: Stores, build: Callable[[], FeatureStoreService]) -> list[ReleaseCheck]:
    """The registry's release checks over ``stores``: the feature pin check
    (``features.release.FeaturePinCheck``) over the service ``build`` makes on first use. None for
    a server's stores: the server runs the registry's rules, and these checks, itself."""
    if stores.remote:
        return []
    return [FeaturePinCheck(functools.cache(build))]


def apply(definitions: str | os.PathLike[str] | Iterable[Definition]) -> list[AppliedObject]:
    """Register definitions (objects, or the Python file that defines them): a changed view gets
    a new version, an unchanged one nothing."""
    if isinstance(definitions, str | os.PathLike):
        definitions = load_definitions(definitions)
    return service().apply(definitions)


def get_training_set(
    entity_rows: Any,
    features: Sequence[str] | str,
    *,
    timestamp_column: str = "event_timestamp",
    full_feature_names: bool = False,
) -> TrainingSet:
    """A point-in-time-correct training set (``.to_pandas()``, ``.to_arrow()``, ``.to_parquet(path)``)."""
    return service().get_training_set(
        entity_rows, features, timestamp_column=timestamp_column, full_feature_names=full_feature_names
    )


def save_training_set(training_set: TrainingSet, name: str, *, message: str | None = None) -> SavedTrainingSet:
    """Save it as the next version of dataset ``name``, with lineage to the views it read."""
    return service().save_training_set(training_set, name, message=message)


def get_view(name: str, version: int | None = None) -> FeatureViewVersion:
    return service().view(name, version)


def get_service(ref: str) -> FeatureServiceVersion:
    return service().service(ref)


def list_views() -> list[FeatureViewVersion]:
    return service().store.list_views()


def diff(name: str, old: int | None = None, new: int | None = None, *, kind: str = "view") -> dict[str, Any]:
    return service().diff(kind, name, old, new)


def materialize(
    start: dt.datetime | int, end: dt.datetime | int, *, views: Sequence[str] | None = None
) -> list[Materialization]:
    """Load each view's newest values with an event time in ``[start, end)`` into the online store."""
    return service().materialize(start, end, views=views)


def materialize_incremental(
    end: dt.datetime | int | None = None, *, views: Sequence[str] | None = None
) -> list[Materialization]:
    """Load only what came since each view's last materialisation (up to ``end``, default now)."""
    return service().materialize_incremental(end, views=views)


def get_online_features(
    entity_rows: Sequence[Mapping[str, Any]], features: Sequence[str] | str, *, full_feature_names: bool = False
) -> OnlineResult:
    """The latest values for each entity row (``.to_dict()``; ``.found`` per view)."""
    return service().get_online_features(entity_rows, features, full_feature_names=full_feature_names)


def freshness(views: Sequence[str] | None = None) -> list[Freshness]:
    """How far each view is materialised, and the lag behind now."""
    return service().freshness(views)


def pin_model(model: str, version: int, service: str) -> ModelFeaturePin:
    """Record that a model version was trained on feature service ``service`` (``name@vN``)."""
    return _feature_service().pin_model(model, version, service)


def check_model_pin(model: str, version: int) -> list[FeatureViewVersion]:
    """The view versions a model version is pinned to (Conflict if they no longer resolve)."""
    return _feature_service().check_model_pin(model, version)


def enrich(entity_rows: Sequence[Mapping[str, Any]], model: str, version: int) -> OnlineResult:
    """The online values of the features a model version was trained on, for each entity row."""
    return _feature_service().enrich(entity_rows, model, version)


def parity(
    entity_rows: Sequence[Mapping[str, Any]], features: Sequence[str] | str, *, at: dt.datetime | None = None
) -> ParityReport:
    """Online values against the offline join for the same keys at ``at`` (default now)."""
    return _feature_service().parity(entity_rows, features, at=at)


_feature_service = service  # the module's ``service()``: the functions above take a ``service`` argument


def profile(view: str) -> DatasetProfile:
    """The current statistics profile of ``view`` (``name`` or ``name@vN``): the merge of the
    profiles its materialisation runs recorded."""
    from modelyard.client.features import view_profile

    return view_profile(service(), view)[1]


def drift(view: str, against: str | None = None) -> DriftResult:
    """Served features against training: the drift of ``view``'s current materialised profile
    from its features' profile in the training set ``against`` (``DATASET@vN``; default the
    newest training set saved from this view version), by ``monitoring.drift.compute_drift``."""
    from modelyard.client.features import view_drift

    return view_drift(service(), view, against).result
