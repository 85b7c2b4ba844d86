"""The registry service (modelyard.registry.service) on SQLite and PostgreSQL: the state machine,
approvals, aliases, history, "what was in production on date D", decommissioning with retention,
concurrent registrations, and bad input that changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.core.errors import (
    ApprovalRequired,
    Conflict,
    IllegalTransition,
    IntegrityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SignatureError,
)
from modelyard.core.registry import EventKind, ModelState
from modelyard.registry.service import RegistryService
from tests.fixtures.stores import joined_store

DAY = 86_400_000


class Clock:
    """A hand-driven clock: history tests assert on times without waiting for them."""

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


class Model:
    """A tiny python-flavor model."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, data: object) -> object:
        return np.asarray(data, dtype=float).sum(axis=1) * self.factor


@pytest.fixture(params=["sqlite", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(store_uri: str, tmp_path: Path, clock: Clock) -> Iterator[RegistryService]:
    store = joined_store(store_uri)
    service = RegistryService(store, store, open_artifact_store(str(tmp_path / "artifacts")), clock=clock)  # type: ignore[arg-type]
    try:
        yield service
    finally:
        store.close()


def new_run(registry: RegistryService, project: str = "churn-project") -> str:
    project_id = registry.tracking.get_or_create_project(project).id
    return registry.tracking.create_run(project_id).id


def log(registry: RegistryService, factor: float = 1.0, name: str = "churn", actor: str = "ana") -> int:
    example = np.zeros((2, 3))
    version = registry.log_model(Model(factor), name, actor=actor, run_id=new_run(registry), input_example=example)
    return version.version


def test_versions_are_numbered_immutable_and_linked_to_runs(registry: RegistryService) -> None:
    run_id = new_run(registry)
    first = registry.log_model(Model(1), "churn", actor="ana", run_id=run_id, input_example=np.zeros((1, 3)))
    second = registry.log_model(Model(2), "churn", actor="ana", run_id=run_id)
    assert (first.version, second.version) == (1, 2)
    assert first.run_id == run_id and first.state is ModelState.DRAFT and first.flavor == "python"
    assert first.signature is not None and '"kind": "tensor"' in first.signature
    assert [v.version for v in registry.list_versions("churn")] == [2, 1]
    assert registry.get_model("churn").latest_version == 2
    files = registry.store.list_model_files("churn", 1)
    assert {f.path for f in files} == {"MLmodel.json", "model.pkl", "requirements.txt", "input_example.json"}
    assert registry.load("churn@1").predict(np.ones((1, 3))).tolist() == [3.0]
    assert registry.load("churn@latest").predict(np.ones((1, 3))).tolist() == [6.0]
    assert [e.kind for e in registry.history("churn")] == [EventKind.REGISTERED, EventKind.REGISTERED]
    assert registry.store.check() == []  # type: ignore[attr-defined]


def test_retried_registration_with_the_same_id_adds_nothing(registry: RegistryService) -> None:
    from modelyard.registry.packaging import store_model

    package = store_model(registry.artifacts, Model(1))
    registry.create_model("churn", project="p", actor="ana")
    one = registry.register_package("churn", package, actor="ana", project="p", version_id="fixed-id")
    two = registry.register_package("churn", package, actor="ana", project="p", version_id="fixed-id")
    assert one == two and len(registry.list_versions("churn")) == 1


def test_lifecycle_state_machine(registry: RegistryService) -> None:
    log(registry)
    assert registry.transition("churn", 1, "staging", actor="ana", reason="tests pass").state is ModelState.STAGING
    assert registry.transition("churn", 1, ModelState.PRODUCTION, actor="ana").state is ModelState.PRODUCTION
    assert registry.resolve("churn@production").version == 1
    assert registry.transition("churn", 1, "archived", actor="ana").state is ModelState.ARCHIVED
    with pytest.raises(NotFound, match="no version in production"):
        registry.resolve("churn@production")
    assert registry.transition("churn", 1, "production", actor="ana", reason="rollback").state is ModelState.PRODUCTION


@pytest.mark.parametrize(
    ("path", "illegal"),
    [([], "production"), (["staging", "production"], "draft"), (["staging", "production"], "decommissioned")],
)
def test_illegal_transitions_change_nothing(registry: RegistryService, path: list[str], illegal: str) -> None:
    log(registry)
    for state in path:
        registry.transition("churn", 1, state, actor="ana")
    before = (registry.get_version("churn", 1), registry.history("churn"))
    with pytest.raises(IllegalTransition, match=f"-> {illegal}") as info:
        registry.transition("churn", 1, illegal, actor="ana")
    assert isinstance(info.value, InvalidArgument) and "may move to" in str(info.value)
    assert (registry.get_version("churn", 1), registry.history("churn")) == before


def test_unknown_state_model_and_version(registry: RegistryService) -> None:
    log(registry)
    with pytest.raises(InvalidArgument, match="unknown model state 'live'"):
        registry.transition("churn", 1, "live", actor="ana")
    with pytest.raises(NotFound, match="model 'nope' not found"):
        registry.transition("nope", 1, "staging", actor="ana")
    with pytest.raises(NotFound, match="version 9"):
        registry.transition("churn", 9, "staging", actor="ana")
    with pytest.raises(InvalidArgument, match="user name"):
        registry.transition("churn", 1, "staging", actor="  ")


def test_stale_transition_is_a_conflict(registry: RegistryService) -> None:
    log(registry)
    with pytest.raises(Conflict, match="reload and retry"):
        registry.store.transition_model_version(
            "churn", 1, from_state=ModelState.STAGING, to_state=ModelState.PRODUCTION, actor="a", reason=None, at=1
        )
    assert registry.get_version("churn", 1).state is ModelState.DRAFT


def test_promotion_archives_the_replaced_version(registry: RegistryService) -> None:
    for factor in (1, 2):
        log(registry, factor)
    for version in (1, 2):
        registry.transition("churn", version, "staging", actor="ana")
        registry.transition("churn", version, "production", actor="ana")
    assert registry.get_version("churn", 1).state is ModelState.ARCHIVED
    assert [v.version for v in registry.list_versions("churn", ["production"])] == [2]
    replaced = [e for e in registry.history("churn", 1) if e.to_state is ModelState.ARCHIVED]
    assert replaced and replaced[0].reason == "replaced by version 2"


def test_approvals_policy(registry: RegistryService) -> None:
    maintainers = {"bob", "carol"}
    registry.is_maintainer = lambda project_id, user: user in maintainers
    log(registry, actor="ana")
    registry.tracking.get_or_create_project("churn-project")
    registry.set_policy("churn-project", actor="bob", required_approvals=2)
    registry.transition("churn", 1, "staging", actor="ana")
    with pytest.raises(ApprovalRequired, match="needs 2 approval\\(s\\) from maintainers before production and has 0"):
        registry.transition("churn", 1, "production", actor="ana")
    with pytest.raises(PermissionDenied, match="'mallory' is not a maintainer"):
        registry.approve("churn", 1, approver="mallory")
    assert registry.approvals("churn", 1) == []  # the refused approval left nothing
    with pytest.raises(PermissionDenied, match="cannot approve"):
        maintainers.add("ana")
        registry.approve("churn", 1, approver="ana")
    maintainers.discard("ana")
    registry.approve("churn", 1, approver="bob", comment="metrics ok")
    registry.approve("churn", 1, approver="bob")  # idempotent
    with pytest.raises(ApprovalRequired, match="has 1 \\(approved by bob\\)"):
        registry.transition("churn", 1, "production", actor="ana")
    assert registry.get_version("churn", 1).state is ModelState.STAGING
    registry.approve("churn", 1, approver="carol")
    maintainers.discard("carol")  # a revoked maintainer's approval stops counting
    with pytest.raises(ApprovalRequired):
        registry.transition("churn", 1, "production", actor="ana")
    maintainers.add("carol")
    assert registry.transition("churn", 1, "production", actor="ana").state is ModelState.PRODUCTION
    approvals = registry.approvals("churn", 1)
    assert [(a.approver, a.comment) for a in approvals] == [("bob", "metrics ok"), ("carol", None)]
    with pytest.raises(PermissionDenied):
        registry.set_policy("churn-project", actor="mallory", required_approvals=0)


def test_aliases_move_and_are_recorded(registry: RegistryService) -> None:
    log(registry, 1)
    log(registry, 2)
    registry.set_alias("churn", "champion", 1, actor="ana", reason="first")
    registry.set_alias("churn", "champion", 2, actor="bob", reason="better recall")
    registry.set_alias("churn", "champion", 2, actor="bob")  # no move, no event
    assert registry.resolve("churn@champion").version == 2
    assert registry.get_version("churn", 2).aliases == ["champion"]
    moves = [e for e in registry.history("churn") if e.kind is EventKind.ALIAS_SET]
    assert [(e.from_version, e.version, e.actor, e.reason) for e in moves] == [
        (None, 1, "ana", "first"), (1, 2, "bob", "better recall"),
    ]  # fmt: skip
    registry.delete_alias("churn", "champion", actor="ana")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        registry.resolve("churn@champion")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        registry.delete_alias("churn", "champion", actor="ana")


def test_bad_aliases_change_nothing(registry: RegistryService) -> None:
    log(registry)
    before = registry.history("churn")
    for alias in ("production", "latest", "12", "bad alias"):
        with pytest.raises(InvalidArgument):
            registry.set_alias("churn", alias, 1, actor="ana")
    with pytest.raises(NotFound):
        registry.set_alias("churn", "champion", 5, actor="ana")
    with pytest.raises(NotFound, match="no alias 'ghost'"):
        registry.load("churn@ghost")
    assert registry.history("churn") == before


def test_what_was_in_production_on_date_d(registry: RegistryService, clock: Clock) -> None:
    log(registry, 1)
    log(registry, 2)
    registry.transition("churn", 1, "staging", actor="ana")
    registry.transition("churn", 1, "production", actor="ana")
    day_one = clock.now + DAY // 2
    clock.now += DAY
    registry.transition("churn", 2, "staging", actor="ana")
    registry.transition("churn", 2, "production", actor="bob", reason="v2 wins")
    day_two = clock.now + DAY // 2
    clock.now += DAY
    registry.transition("churn", 2, "archived", actor="bob", reason="incident")
    day_three = clock.now + 1
    assert [v.version for v in registry.in_state_at("churn", "production", 0)] == []
    assert [v.version for v in registry.in_state_at("churn", "production", day_one)] == [1]
    assert [v.version for v in registry.in_state_at("churn", "production", day_two)] == [2]
    assert [v.version for v in registry.in_state_at("churn", "production", day_three)] == []
    assert [v.version for v in registry.in_state_at("churn", "archived", day_three)] == [2, 1]
    assert [v.version for v in registry.in_state_at("churn", "draft", day_one)] == [2]


def test_decommission_removes_aliases_and_purges_after_retention(registry: RegistryService, clock: Clock) -> None:
    undeployed: list[int] = []
    registry.on_decommission.append(lambda v: undeployed.append(v.version))
    log(registry, 1)
    log(registry, 1)  # same bytes as version 1: the blobs are shared
    log(registry, 3)
    registry.set_policy("churn-project", actor="ana", retention_days=7)
    registry.set_alias("churn", "champion", 3, actor="ana")
    with pytest.raises(IllegalTransition, match="staging -> decommissioned"):
        registry.transition("churn", 3, "staging", actor="ana")
        registry.decommission("churn", 3, actor="ana")
    registry.transition("churn", 3, "archived", actor="ana")
    done = registry.decommission("churn", 3, actor="ana", reason="superseded")
    assert done.state is ModelState.DECOMMISSIONED and done.aliases == []
    assert done.purge_after == done.decommissioned_at + 7 * DAY  # type: ignore[operator]
    assert undeployed == [3]
    with pytest.raises(InvalidArgument, match="decommissioned"):
        registry.load("churn@3")
    assert registry.resolve("churn@latest").version == 2
    with pytest.raises(IllegalTransition):
        registry.transition("churn", 3, "staging", actor="ana")
    registry.transition("churn", 2, "decommissioned", actor="ana")  # a draft may be abandoned
    assert registry.purge_expired() == []  # retention has not ended
    files = {v: {f.digest for f in registry.store.list_model_files("churn", v)} for v in (1, 2, 3)}
    assert files[1] & files[2]  # the pickle and requirements are byte-identical
    clock.now += 8 * DAY
    purged = registry.purge_expired()
    assert [(v.version, v.purged_at is not None) for v in purged] == [(2, True), (3, True)]
    assert all(registry.artifacts.exists(d) for d in files[1])  # version 1 still uses the shared ones
    assert not any(registry.artifacts.exists(d) for d in (files[2] | files[3]) - files[1])
    assert registry.load("churn@1").predict(np.ones((1, 3))).tolist() == [3.0]
    assert registry.purge_expired() == []
    kinds = [e.kind for e in registry.history("churn", 3)]
    assert EventKind.ALIAS_REMOVED in kinds and kinds[-1] is EventKind.PURGED


def test_tampered_model_is_refused(registry: RegistryService, tmp_path: Path) -> None:
    log(registry)
    version = registry.get_version("churn", 1)
    pkl = next(f for f in registry.store.list_model_files("churn", 1) if f.path == "model.pkl")
    algorithm, hexdigest = pkl.digest.split(":")
    blob = tmp_path / "artifacts" / "blobs" / algorithm / hexdigest[:2] / hexdigest[2:4] / hexdigest
    blob.chmod(0o644)
    blob.write_bytes(b"not the model")
    with pytest.raises(IntegrityError):
        registry.load("churn@1")
    assert registry.get_version("churn", 1) == version


def test_predict_enforces_the_signature(registry: RegistryService) -> None:
    log(registry)
    model = registry.load("churn@1")
    with pytest.raises(SignatureError, match=r"shape \(-1, 3\)"):
        model.predict(np.zeros((1, 2)))
    with pytest.raises(SignatureError, match="must be float64, got string"):
        model.predict(np.array([["a", "b", "c"]]))


def test_concurrent_registrations_get_distinct_consecutive_numbers(registry: RegistryService) -> None:
    from modelyard.registry.packaging import store_model

    package = store_model(registry.artifacts, Model(1))
    registry.create_model("churn", project="p", actor="ana")
    numbers: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            for _ in range(5):
                numbers.append(registry.register_package("churn", package, actor="ana", project="p").version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 21))
    assert registry.store.check() == []  # type: ignore[attr-defined]


def test_models_are_listed_and_names_validated(registry: RegistryService) -> None:
    registry.create_model("b", project="p1", actor="ana", description="second")
    registry.create_model("a", project="p2", actor="ana")
    assert [m.name for m in registry.list_models()] == ["a", "b"]
    assert [m.name for m in registry.list_models("p1")] == ["b"]
    from modelyard.core.errors import AlreadyExists

    with pytest.raises(AlreadyExists):
        registry.create_model("a", project="p2", actor="ana")
    with pytest.raises(InvalidArgument, match="reserved"):
        registry.create_model("x@1", project="p2", actor="ana")


def test_db_check_reports_registry_problems(registry: RegistryService) -> None:
    from sqlalchemy import update

    from modelyard.store.sql.models_tables import model_aliases, model_versions, registered_models

    log(registry, 1)
    log(registry, 2)
    registry.set_alias("churn", "champion", 1, actor="ana")
    store = registry.store
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(model_versions).values(state="production"))
        conn.execute(update(model_aliases).values(version=42))
        conn.execute(update(registered_models).values(latest_version=1))
    problems = "\n".join(store.check())  # type: ignore[attr-defined]
    assert "more than one version in production" in problems
    assert "alias 'champion' of model 'churn' points to a missing version" in problems
    assert "versions above its version counter" in problems


_WORKER = """
import sys
from modelyard.sdk.models import _stored_package
from modelyard.artifacts import open_artifact_store
from modelyard.registry.service import RegistryService
from modelyard.store import open_stores

store_uri, artifact_uri, digest = sys.argv[1:4]
artifacts = open_artifact_store(artifact_uri)
store = open_stores(store_uri, artifacts=artifacts)
service = RegistryService(store.registry, store.tracking, artifacts)
package = _stored_package(artifacts, digest)
for _ in range(5):
    print(service.register_package("churn", package, actor="worker", project="p").version, flush=True)
store.close()
"""


@pytest.mark.slow
def test_concurrent_processes_lose_no_version(registry: RegistryService, store_uri: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from modelyard.registry.packaging import store_model

    package = store_model(registry.artifacts, Model(1))
    registry.create_model("churn", project="p", actor="ana")
    args = [store_uri, str(tmp_path / "artifacts"), package.digest]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    numbers: list[int] = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        numbers.extend(int(line) for line in out.split())
    assert sorted(numbers) == list(range(1, 21))
    assert [v.version for v in registry.list_versions("churn")] == list(range(20, 0, -1))
    assert registry.store.check() == []  # type: ignore[attr-defined]
