"""The ServingStore contract: every backend (SQLite, PostgreSQL, the HTTP client) passes it.

Deployments are driven through ``DeploymentService`` (as the SDK, the CLI and the server use
them), with its model references resolved against the same backend's registry; the
compare-and-set, the prediction-log index and feedback are also checked on the store directly.
"""

from __future__ import annotations

import threading

import pytest

from modelyard.core.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelyard.core.ids import new_id
from modelyard.core.serving import DeploymentSpec, Feedback, PredictionLogPartition, Slo, VariantSpec
from modelyard.registry.service import RegistryService
from modelyard.serving.deployments import DeploymentService
from modelyard.store import Stores
from modelyard.store.serving import ServingStore
from tests.integration.test_registry_service import Clock
from tests.integration.test_registry_service import log as log_version


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(stores: Stores, clock: Clock) -> RegistryService:
    return RegistryService(stores.registry, stores.tracking, stores.artifacts, clock=clock)


@pytest.fixture
def deployments(stores: Stores, registry: RegistryService, clock: Clock) -> DeploymentService:
    return DeploymentService(stores.serving, registry, clock=clock)


@pytest.fixture
def serving(stores: Stores) -> ServingStore:
    return stores.serving


@pytest.fixture
def churn(registry: RegistryService) -> RegistryService:
    """Model ``churn`` with versions 1, 2, 3 and the alias ``champion`` on 2."""
    for factor in (1.0, 2.0, 3.0):
        log_version(registry, factor)
    registry.set_alias("churn", "champion", 2, actor="ana")
    return registry


def versions(spec: DeploymentSpec) -> dict[str, tuple[int, int, bool]]:
    return {v.name: (v.version, v.traffic, v.shadow) for v in spec.variants}


def test_create_resolves_references_and_records_revision_one(
    churn: RegistryService, deployments: DeploymentService
) -> None:
    created = deployments.create(
        "churn-api",
        ["main=churn@champion:100", {"name": "chal", "model": "churn@3", "shadow": True}],
        actor="ana",
        reason="first",
        sticky_key="x-user",
        slo={"max_error_rate": 0.1, "min_requests": 10},
        auto_rollback=True,
    )
    assert created.revision == 1 and created.created_by == "ana"
    assert versions(created.spec) == {"main": (2, 100, False), "chal": (3, 0, True)}
    assert created.spec.variants[0].ref == "champion" and created.spec.variants[0].follows
    assert created.spec.sticky_key == "x-user" and created.spec.slo == Slo(max_error_rate=0.1, min_requests=10)
    assert deployments.get("churn-api") == created
    assert [d.name for d in deployments.list_deployments()] == ["churn-api"]
    (event,) = deployments.history("churn-api")
    assert (event.revision, event.action, event.actor, event.reason, event.before) == (
        1,
        "create",
        "ana",
        "first",
        None,
    )
    assert event.after == created.spec
    with pytest.raises(AlreadyExists):
        deployments.create("churn-api", ["churn@1"], actor="bob")
    assert deployments.get("churn-api").revision == 1


@pytest.mark.parametrize(
    ("variants", "error"),
    [
        (["a=churn@1:60", "b=churn@2:30"], InvalidArgument),  # sums to 90
        (["a=churn@1:100", "a=churn@2:0"], InvalidArgument),  # duplicate names
        (["s=churn@1:10"], InvalidArgument),  # a single variant at 10%
        ([{"model": "churn@1", "shadow": True}], InvalidArgument),  # shadows only
        (["churn@9"], NotFound),  # no version 9
        (["nosuch@1"], NotFound),
        (["churn@nosuchalias"], NotFound),
        (["churn"], InvalidArgument),  # not a reference
        ([], InvalidArgument),
    ],
)
def test_bad_deployments_change_nothing(
    churn: RegistryService, deployments: DeploymentService, variants: list[object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        deployments.create("api", variants, actor="ana")  # type: ignore[arg-type]
    assert deployments.list_deployments() == []
    with pytest.raises(NotFound):
        deployments.get("api")


@pytest.mark.parametrize("name", ["", "a/b", "-x", "a@b", " x", "a\x00b", "x" * 300])
def test_bad_names_are_refused(churn: RegistryService, deployments: DeploymentService, name: str) -> None:
    with pytest.raises(InvalidArgument):
        deployments.create(name, ["churn@1"], actor="ana")
    assert deployments.list_deployments() == []


def test_canary_update_is_a_new_revision_with_before_and_after(
    churn: RegistryService, deployments: DeploymentService
) -> None:
    deployments.create("api", ["stable=churn@1"], actor="ana")
    canary = deployments.update(
        "api", variants=["stable=churn@1:90", "canary=churn@3:10"], actor="bob", reason="try v3"
    )
    assert canary.revision == 2 and canary.updated_by == "bob" and canary.created_by == "ana"
    assert versions(canary.spec) == {"stable": (1, 90, False), "canary": (3, 10, False)}
    more = deployments.update("api", traffic={"stable": 50, "canary": 50}, actor="bob")
    assert versions(more.spec) == {"stable": (1, 50, False), "canary": (3, 50, False)}
    with pytest.raises(InvalidArgument):
        deployments.update("api", traffic={"stable": 60}, actor="bob")  # 110 in all
    with pytest.raises(InvalidArgument):
        deployments.update("api", traffic={"nosuch": 10}, actor="bob")
    with pytest.raises(Conflict):
        deployments.update("api", traffic={"stable": 100, "canary": 0}, actor="bob", expected_revision=2)
    assert deployments.get("api") == more
    events = deployments.history("api")
    assert [(e.revision, e.action, e.actor) for e in events] == [
        (1, "create", "ana"),
        (2, "update", "bob"),
        (3, "update", "bob"),
    ]
    assert events[1].reason == "try v3"
    assert events[1].before == events[0].after and events[1].after == canary.spec
    assert deployments.store.get_deployment_event("api", 2) == events[1]
    with pytest.raises(NotFound):
        deployments.store.get_deployment_event("api", 9)


def test_rollback_restores_the_previous_state_pinned_and_walks_back(
    churn: RegistryService, deployments: DeploymentService
) -> None:
    deployments.create("api", ["main=churn@champion"], actor="ana")  # v2
    deployments.update("api", variants=["main=churn@champion:80", "canary=churn@3:20"], actor="ana")
    back = deployments.rollback("api", actor="bob", reason="canary is slow")
    assert back.revision == 3 and versions(back.spec) == {"main": (2, 100, False)}
    assert back.spec.variants[0].ref == "2"  # pinned: a moving alias is not followed back
    last = deployments.history("api")[-1]
    assert (last.action, last.restored_from, last.reason, last.actor) == ("rollback", 1, "canary is slow", "bob")
    with pytest.raises(Conflict):  # nothing before revision 1
        deployments.rollback("api", actor="bob")
    assert deployments.get("api").revision == 3
    again = deployments.rollback("api", actor="bob", to_revision=2)
    assert versions(again.spec) == {"main": (2, 80, False), "canary": (3, 20, False)}
    with pytest.raises(InvalidArgument):
        deployments.rollback("api", actor="bob", to_revision=4)
    with pytest.raises(Conflict):
        deployments.rollback("api", actor="bob", expected_revision=1)
    assert deployments.get("api").revision == 4


def test_refresh_follows_a_moving_alias(churn: RegistryService, deployments: DeploymentService) -> None:
    deployments.create("api", ["main=churn@champion:90", "pin=churn@1:10"], actor="ana")
    assert deployments.refresh("api") is None  # nothing moved
    churn.set_alias("churn", "champion", 3, actor="ana")
    moved = deployments.refresh("api")
    assert moved is not None and moved.revision == 2
    assert versions(moved.spec) == {"main": (3, 90, False), "pin": (1, 10, False)}
    last = deployments.history("api")[-1]
    assert (last.action, last.actor) == ("refresh", "system:alias") and "champion moved to version 3" in (
        last.reason or ""
    )
    assert deployments.refresh("api") is None


def test_delete_keeps_history_and_a_new_create_continues_revisions(
    churn: RegistryService, deployments: DeploymentService
) -> None:
    deployments.create("api", ["churn@1"], actor="ana")
    with pytest.raises(Conflict):
        deployments.delete("api", actor="ana", expected_revision=5)
    event = deployments.delete("api", actor="ana", reason="retired")
    assert (event.action, event.revision, event.after) == ("delete", 2, None)
    with pytest.raises(NotFound):
        deployments.get("api")
    with pytest.raises(NotFound):
        deployments.delete("api", actor="ana")
    assert deployments.list_deployments() == []
    assert [e.action for e in deployments.history("api")] == ["create", "delete"]
    again = deployments.create("api", ["churn@2"], actor="bob")
    assert again.revision == 3 and again.created_by == "bob"
    with pytest.raises(NotFound):
        deployments.history("never")


def test_concurrent_changes_from_one_revision_one_wins(churn: RegistryService, deployments: DeploymentService) -> None:
    deployments.create("api", ["main=churn@1"], actor="ana")
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def change(version: int) -> None:
        new = DeploymentSpec(
            variants=(VariantSpec(name="main", model="churn", ref=str(version), version=version, traffic=100),)
        )
        barrier.wait()
        try:
            deployments.store.update_deployment("api", new, expected_revision=1, actor=f"u{version}", at=5)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=change, args=(v,)) for v in (1, 2, 3, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    current = deployments.get("api")
    assert current.revision == 2 and current.updated_by in {"u1", "u2", "u3"}
    assert len(deployments.history("api")) == 2
    assert deployments.store.check() == []  # type: ignore[attr-defined]


def _partition(endpoint: str, start: int, end: int, rows: int = 2) -> PredictionLogPartition:
    return PredictionLogPartition(
        id=new_id(),
        endpoint=endpoint,
        start_ms=start,
        end_ms=end,
        row_count=rows,
        digest="sha256:" + "a" * 64,
        size=10,
        created_at=end,
    )


def test_prediction_partitions_are_indexed_by_time(serving: ServingStore) -> None:
    first = _partition("api", 1_000, 1_999)
    second = _partition("api", 2_000, 2_999)
    other = _partition("other", 1_000, 5_000)
    assert serving.list_prediction_log_endpoints() == []
    for p, ids in ((first, ["r1", "r2"]), (second, ["r3", "r4"]), (other, ["o1"])):
        assert serving.add_prediction_partition(p, ids) == p
    serving.add_prediction_partition(first, ["r1", "r2"])  # a retry adds nothing
    assert serving.list_prediction_partitions("api", 0, 10_000) == [first, second]
    assert serving.list_prediction_partitions("api", 1_999, 2_000) == [first]
    assert serving.list_prediction_partitions("api", 2_500, 2_501) == [second]
    assert serving.list_prediction_partitions("api", 3_000, 4_000) == []
    assert serving.list_prediction_partitions("nosuch", 0, 10_000) == []
    assert serving.list_prediction_log_endpoints() == ["api", "other"]  # each once, by name


def test_a_partition_of_many_request_ids_indexes_every_one(serving: ServingStore) -> None:
    """More ids than one batch of the index insert; some already indexed (a retried write) and a
    duplicate (a shadow row shares its request's id): each id is indexed once, none is lost."""
    ids = [f"req-{i}" for i in range(12_345)]
    first = _partition("api", 1, 2, rows=100)
    serving.add_prediction_partition(first, ids[:100])
    big = _partition("api", 3, 4, rows=len(ids) + 1)
    serving.add_prediction_partition(big, [*ids, ids[-1]])
    assert serving.get_feedback(ids) == {}
    # Feedback is refused for an id that is not indexed: recording it for all proves each is known.
    assert serving.record_feedback([Feedback(request_id=r, value=1, at=5) for r in ids]) == len(ids)
    assert set(serving.get_feedback(ids)) == set(ids)


def test_feedback_joins_known_requests_and_refuses_unknown_ones(serving: ServingStore) -> None:
    serving.add_prediction_partition(_partition("api", 1, 2), ["r1", "r2", "r3"])
    with pytest.raises(NotFound, match="nope"):
        serving.record_feedback([Feedback(request_id="r1", value=1, at=5), Feedback(request_id="nope", value=0, at=5)])
    assert serving.get_feedback(["r1", "nope"]) == {}  # nothing was recorded
    assert (
        serving.record_feedback(
            [Feedback(request_id="r1", value=1, at=5), Feedback(request_id="r2", value="cat", at=6)]
        )
        == 2
    )
    assert serving.record_feedback([Feedback(request_id="r1", value={"y": [0, 1]}, at=7)]) == 1  # replaces
    found = serving.get_feedback(["r1", "r2", "r3"])
    assert set(found) == {"r1", "r2"}
    assert (found["r1"].value, found["r1"].at, found["r1"].endpoint) == ({"y": [0, 1]}, 7, "api")
    assert found["r2"].value == "cat"
    with pytest.raises(InvalidArgument):
        serving.record_feedback([Feedback(request_id="r3", value=float("nan"), at=1)])


def test_logged_predictions_read_back_with_feedback_on_every_backend(stores: Stores) -> None:
    """The logger writes Parquet blobs to the backend's artifact store (the server's, over HTTP)
    and indexes them in its serving store; ``predictions`` reads them back joined with feedback."""
    from modelyard.serving.endpoint import PredictionRecord
    from modelyard.serving.predictions import predictions
    from modelyard.serving.predlog import PredictionLogger

    with PredictionLogger(stores.serving, stores.artifacts, flush_interval_s=0.05) as log:
        for i in range(20):
            log.offer(
                PredictionRecord(f"q{i}", "api", "main", "m", 1, {"x": [i]}, [i % 2], 1.0, 1_000 + i, False, "ok")
            )
        assert log.flush()
    stores.serving.record_feedback([Feedback(request_id="q3", value=1, at=9)])
    frame = predictions(stores, "api", 1_000, 1_010)
    assert frame["request_id"].tolist() == [f"q{i}" for i in range(10)]
    assert frame.iloc[3]["inputs"] == {"x": [3]} and frame.iloc[3]["outputs"] == [1]
    assert frame.iloc[3]["feedback"] == 1 and frame["feedback"].isna().sum() == 9
