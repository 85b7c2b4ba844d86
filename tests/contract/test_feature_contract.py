"""The FeatureStore contract: every backend (SQLite, PostgreSQL, the HTTP client) passes it.

Two layers: the store methods themselves, and the service's rules (``FeatureStoreService``:
entities must exist, services are pinned, versions diff) run over the contract store, so over
HTTP the server's checks answer as the SDK's do.
"""

from __future__ import annotations

import threading

import pytest

from modelyard.core.errors import InvalidArgument, NotFound, UnknownFeature
from modelyard.core.features import Feature, FeatureEntity, FeatureService, FeatureSource, FeatureView, Materialization
from modelyard.features import FeatureStoreService
from modelyard.store.features import FeatureStore, TrainingSetLink

DRIVER = FeatureEntity(name="driver", join_keys=["driver_id"])


def view(name: str = "driver_stats", *features: str, ttl: int | None = 3600) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[DRIVER],
        source=FeatureSource.parquet("/data/driver_stats.parquet"),
        features=[Feature(name=f, dtype="float64") for f in (features or ("trips", "rating"))],
        ttl_seconds=ttl,
    )


def test_an_entity_is_versioned_by_content(feature_store: FeatureStore) -> None:
    first = feature_store.put_entity(DRIVER)
    assert first.created and first.version.version == 1 and first.version.digest.startswith("sha256:")
    again = feature_store.put_entity(DRIVER)
    assert not again.created and again.version == first.version
    changed = feature_store.put_entity(DRIVER.model_copy(update={"description": "a driver"}))
    assert changed.created and changed.version.version == 2
    assert feature_store.get_entity("driver").version == 2
    assert feature_store.get_entity("driver", 1).definition == DRIVER
    assert [v.version for v in feature_store.list_entity_versions("driver")] == [1, 2]
    assert [e.ref for e in feature_store.list_entities()] == ["driver@v2"]
    with pytest.raises(NotFound):
        feature_store.get_entity("rider")
    with pytest.raises(NotFound):
        feature_store.get_entity("driver", 3)
    with pytest.raises(NotFound):
        feature_store.list_entity_versions("rider")


def test_a_changed_view_gets_a_new_version_and_old_ones_stay_resolvable(feature_store: FeatureStore) -> None:
    feature_store.put_entity(DRIVER)
    v1 = feature_store.put_view(view())
    assert v1.created and v1.version.ref == "driver_stats@v1" and v1.version.join_keys == ("driver_id",)
    assert not feature_store.put_view(view()).created
    v2 = feature_store.put_view(view("driver_stats", "trips", "rating", "acc_rate"))
    assert v2.created and v2.version.version == 2
    # The entity's keys changed: the same view definition is another version.
    feature_store.put_entity(FeatureEntity(name="driver", join_keys=["driver_id", "city"]))
    v3 = feature_store.put_view(view("driver_stats", "trips", "rating", "acc_rate"))
    assert v3.created and v3.version.version == 3 and v3.version.join_keys == ("driver_id", "city")
    # Back to v1's definition: a new version (the latest is always the current definition).
    feature_store.put_entity(DRIVER)
    v4 = feature_store.put_view(view())
    assert v4.created and v4.version.version == 4 and v4.version.digest == v1.version.digest
    old = feature_store.get_view("driver_stats", 2)
    assert [f.name for f in old.definition.features] == ["trips", "rating", "acc_rate"]
    assert feature_store.get_view("driver_stats").version == 4
    assert [v.version for v in feature_store.list_view_versions("driver_stats")] == [1, 2, 3, 4]
    feature_store.put_view(view("other"))
    assert [v.ref for v in feature_store.list_views()] == ["driver_stats@v4", "other@v1"]


def test_bad_views_change_nothing(feature_store: FeatureStore) -> None:
    with pytest.raises(NotFound, match="no entity 'driver'"):
        feature_store.put_view(view())
    feature_store.put_entity(FeatureEntity(name="driver", join_keys=["trips"]))
    with pytest.raises(InvalidArgument, match="also features"):
        feature_store.put_view(view())
    assert feature_store.list_views() == []
    with pytest.raises(NotFound):
        feature_store.get_view("driver_stats")


def test_a_service_must_be_pinned(feature_store: FeatureStore) -> None:
    FeatureStoreService(feature_store).apply([DRIVER, view()])
    with pytest.raises(InvalidArgument, match="not pinned"):
        feature_store.put_service(FeatureService(name="model", features=["driver_stats:trips"]))
    done = feature_store.put_service(FeatureService(name="model", features=["driver_stats@v1:trips"]))
    assert done.created and done.version.definition.features == ("driver_stats@v1:trips",)
    assert not feature_store.put_service(FeatureService(name="model", features=["driver_stats@v1:trips"])).created
    assert [s.ref for s in feature_store.list_services()] == ["model@v1"]
    assert [s.version for s in feature_store.list_service_versions("model")] == [1]
    assert feature_store.get_service("model", 1) == done.version


def test_concurrent_writers_of_one_definition_get_one_version(feature_store: FeatureStore) -> None:
    results = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            results.append(feature_store.put_view(view()))
        except BaseException as exc:
            errors.append(exc)

    feature_store.put_entity(DRIVER)
    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.created for r in results) == 1
    assert {r.version.version for r in results} == {1}


def test_materialization_runs(feature_store: FeatureStore) -> None:
    feature_store.put_entity(DRIVER)
    feature_store.put_view(view())
    run = Materialization(view="driver_stats", version=1, target="sqlite", start=0, end=1000, rows=5, created_at=10)
    assert feature_store.record_materialization(run) == run
    feature_store.record_materialization(run)  # recorded once
    digest = "sha256:" + "a" * 64  # the artifact digest of the run's profile
    later = run.model_copy(update={"start": 1000, "end": 2000, "rows": 2, "created_at": 20, "profile": digest})
    feature_store.record_materialization(later)
    feature_store.record_materialization(later.model_copy(update={"target": "redis"}))
    assert feature_store.list_materializations("driver_stats", 1, "sqlite") == [run, later]
    assert [r.profile for r in feature_store.list_materializations("driver_stats", 1, "sqlite")] == [None, digest]
    assert len(feature_store.list_materializations("driver_stats", 1)) == 3
    assert feature_store.list_materializations("nothing", 1) == []
    with pytest.raises(NotFound):
        feature_store.record_materialization(run.model_copy(update={"version": 2}))
    with pytest.raises(InvalidArgument):
        feature_store.record_materialization(run.model_copy(update={"start": 5, "end": 4}))


def test_training_set_links(feature_store: FeatureStore) -> None:
    feature_store.put_entity(DRIVER)
    feature_store.put_view(view())
    feature_store.put_view(view("other"))
    feature_store.link_training_set("train", 1, [("driver_stats", 1), ("other", 1)])
    feature_store.link_training_set("train", 1, [("driver_stats", 1)])  # again: nothing new
    profile = "sha256:" + "b" * 64
    feature_store.link_training_set("train", 2, [("driver_stats", 1)], {"driver_stats@v1": profile})
    assert feature_store.list_views_of_training_set("train", 2) == [
        TrainingSetLink("train", 2, "driver_stats", 1, profile)
    ]
    assert feature_store.list_views_of_training_set("train", 1) == [
        TrainingSetLink("train", 1, "driver_stats", 1),
        TrainingSetLink("train", 1, "other", 1),
    ]
    assert [(t.dataset, t.dataset_version) for t in feature_store.list_training_sets_of_view("driver_stats", 1)] == [
        ("train", 1),
        ("train", 2),
    ]
    with pytest.raises(NotFound):
        feature_store.link_training_set("train", 3, [("driver_stats", 9)])
    assert feature_store.list_views_of_training_set("train", 3) == []


# --- the service's rules over the contract store ---------------------------------------------


def test_apply_checks_references_and_pins_services(feature_store: FeatureStore) -> None:
    service = FeatureStoreService(feature_store)
    stats = view()
    with pytest.raises(UnknownFeature, match="no entity 'driver'"):
        service.apply([stats])
    assert feature_store.list_views() == []
    model = FeatureService(name="model", features=[stats, "driver_stats:trips"])
    applied = service.apply([model, stats, DRIVER])
    assert [(a.kind, a.ref, a.created) for a in applied] == [
        ("entity", "driver@v1", True),
        ("view", "driver_stats@v1", True),
        ("service", "model@v1", True),
    ]
    assert feature_store.get_service("model").definition.features == (
        "driver_stats@v1:trips",
        "driver_stats@v1:rating",
    )
    assert all(not a.created for a in service.apply([DRIVER, stats, model]))
    # A new view version re-pins the service on the next apply; the old pin stays.
    wider = view("driver_stats", "trips", "rating", "acc_rate")
    applied = service.apply([DRIVER, wider, FeatureService(name="model", features=[wider])])
    assert [(a.ref, a.created) for a in applied] == [
        ("driver@v1", False),
        ("driver_stats@v2", True),
        ("model@v2", True),
    ]
    assert feature_store.get_service("model", 1).definition.features[0] == "driver_stats@v1:trips"
    with pytest.raises(UnknownFeature, match="closest: trips"):
        service.apply([FeatureService(name="bad", features=["driver_stats:trip"])])
    with pytest.raises(UnknownFeature, match="closest: driver_stats"):
        service.apply([FeatureService(name="bad", features=["driver_stat:trips"])])
    with pytest.raises(UnknownFeature, match="versions"):
        service.resolve(["driver_stats@v7:trips"])
    with pytest.raises(InvalidArgument, match="defined twice"):
        service.apply([view(ttl=5), view(ttl=6)])
    diff = service.diff("view", "driver_stats")
    assert diff["from"] == 1 and diff["to"] == 2 and diff["features"]["added"] == ["acc_rate"]
    assert [v.name for v, _ in service.resolve("model@v1")] == ["driver_stats"]


def test_the_server_checks_references(feature_store: FeatureStore) -> None:
    with pytest.raises(NotFound, match="driver"):
        feature_store.put_view(view())
    FeatureStoreService(feature_store).apply([DRIVER, view()])
    pinned = FeatureService(name="m", features=["nothing@v1:trips"])
    with pytest.raises(NotFound):
        FeatureStoreService(feature_store).apply([pinned])


def test_a_model_version_is_pinned_once(feature_store: FeatureStore) -> None:
    from modelyard.core.errors import Conflict
    from modelyard.core.features import ModelFeaturePin

    service = FeatureStoreService(feature_store)
    service.apply([DRIVER, view(), FeatureService(name="model", features=["driver_stats"])])
    pin = ModelFeaturePin(model="churn", model_version=3, service="model", service_version=1, pinned_at=5)
    assert feature_store.pin_model_version(pin) == pin
    assert feature_store.pin_model_version(pin.model_copy(update={"pinned_at": 9})) == pin  # the same pin: kept
    with pytest.raises(NotFound):
        feature_store.pin_model_version(pin.model_copy(update={"model_version": 4, "service_version": 2}))
    service.apply([DRIVER, view("driver_stats", "trips"), FeatureService(name="model", features=["driver_stats"])])
    with pytest.raises(Conflict, match="already pinned to model@v1"):
        feature_store.pin_model_version(pin.model_copy(update={"service_version": 2}))
    assert feature_store.get_model_pin("churn", 3) == pin
    with pytest.raises(NotFound):
        feature_store.get_model_pin("churn", 4)
    other = service.pin_model("churn", 4, "model")
    assert other.service_ref == "model@v2"
    assert [(p.model_version, p.service_version) for p in feature_store.list_model_pins()] == [(3, 1), (4, 2)]
    assert [p.model_version for p in feature_store.list_model_pins("nothing")] == []
    assert [v.ref for v in service.check_model_pin("churn", 3)] == ["driver_stats@v1"]
    assert [v.ref for v in service.check_model_pin("churn", 4)] == ["driver_stats@v2"]
