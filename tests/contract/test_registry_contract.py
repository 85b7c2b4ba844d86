"""The ModelRegistryStore contract: every backend (SQLite, PostgreSQL, the HTTP client) passes it.

Two layers: the registry service's own checks (``tests/integration/test_registry_service.py``),
imported here so they run over the contract ``store`` fixture and so over HTTP too, and checks
of the store methods themselves, called directly. Over HTTP the server re-runs the registry's
rules on the calls that change governed state, so the direct calls here stay within those rules
(another user approves, aliases are not reserved names, card fields are the editable ones).
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest

from modelyard.core.errors import AlreadyExists, Conflict, IntegrityError, InvalidArgument, NotFound
from modelyard.core.ids import new_id
from modelyard.core.registry import EventKind, ModelFile, ModelState, ModelVersion, RegistryPolicy
from modelyard.core.tracking import ArtifactEntry, Project
from modelyard.registry.service import RegistryService
from modelyard.store import Stores, TrackingStore
from modelyard.store.models import ModelRegistryStore
from modelyard.wire.models import EventKindName, ModelStateName

# The registry service's checks, run here against every contract backend (the module's
# ``registry`` and ``clock`` fixtures below replace the ones of their home module).
from tests.integration.test_registry_service import (  # noqa: F401 - collected as tests of this module
    Clock,
    test_aliases_move_and_are_recorded,
    test_approvals_policy,
    test_bad_aliases_change_nothing,
    test_concurrent_registrations_get_distinct_consecutive_numbers,
    test_illegal_transitions_change_nothing,
    test_lifecycle_state_machine,
    test_models_are_listed_and_names_validated,
    test_predict_enforces_the_signature,
    test_promotion_archives_the_replaced_version,
    test_retried_registration_with_the_same_id_adds_nothing,
    test_stale_transition_is_a_conflict,
    test_unknown_state_model_and_version,
    test_versions_are_numbered_immutable_and_linked_to_runs,
    test_what_was_in_production_on_date_d,
)
from tests.integration.test_registry_service import (
    log as log_version,
)
from tests.integration.test_registry_service import (
    test_decommission_removes_aliases_and_purges_after_retention as _decommission_and_purge,
)

DAY = 86_400_000
T0 = 1_700_000_000_000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(stores: Stores, clock: Clock) -> RegistryService:
    return RegistryService(stores.registry, stores.tracking, stores.artifacts, clock=clock)


@pytest.fixture
def models(registry_store: ModelRegistryStore) -> ModelRegistryStore:
    return registry_store


@pytest.fixture
def project(store: TrackingStore) -> Project:
    return store.create_project("registry-contract")


def digest(fill: str) -> str:
    return "sha256:" + fill * 64


def new_version(models: ModelRegistryStore, name: str = "churn", *, at: int = T0, **kw: typing.Any) -> ModelVersion:
    files = kw.pop("files", [ModelFile(path="model.pkl", digest=digest("a"), size=10)])
    manifest = kw.pop("manifest", digest("f"))
    return models.create_model_version(
        name, manifest_digest=manifest, flavor="python", files=files, created_by="ana", at=at, **kw
    )


def move(
    models: ModelRegistryStore, version: int, frm: ModelState, to: ModelState, at: int, **kw: typing.Any
) -> ModelVersion:
    return models.transition_model_version(
        "churn", version, from_state=frm, to_state=to, actor="ana", reason=None, at=at, **kw
    )


# --- the service's checks that need more than the store ---------------------------------------


def test_decommission_and_purge_through_the_service(registry: RegistryService, clock: Clock, backend: str) -> None:
    if backend == "http":
        pytest.skip("purging deletes blobs, a server-side task: the HTTP artifact store refuses deletes")
    _decommission_and_purge(registry, clock)


def test_a_tampered_model_is_refused(registry: RegistryService, artifact_root: Path) -> None:
    version = registry.get_version("churn", log_version(registry))
    pkl = next(f for f in registry.store.list_model_files("churn", 1) if f.path == "model.pkl")
    algorithm, hexdigest = pkl.digest.split(":")
    blob = artifact_root / "blobs" / algorithm / hexdigest[:2] / hexdigest[2:4] / hexdigest
    blob.chmod(0o644)
    blob.write_bytes(b"not the model")
    with pytest.raises(IntegrityError):
        registry.load("churn@1")
    assert registry.get_version("churn", 1) == version


def test_wire_names_match_the_store() -> None:
    assert set(typing.get_args(ModelStateName)) == {s.value for s in ModelState}
    assert set(typing.get_args(EventKindName)) == {k.value for k in EventKind}


# --- registered models ------------------------------------------------------------------------


def test_registered_models(models: ModelRegistryStore, store: TrackingStore, project: Project) -> None:
    other = store.create_project("other")
    b = models.create_registered_model("b", project.id, created_by="ana", description="second", at=T0)
    a = models.create_registered_model("team/a", other.id, created_by="bob", at=T0 + 1)
    assert (b.name, b.project_id, b.created_by, b.created_at, b.description, b.latest_version) == (
        "b", project.id, "ana", T0, "second", 0,
    )  # fmt: skip
    assert models.get_registered_model("team/a") == a
    assert [m.name for m in models.list_registered_models()] == ["b", "team/a"]
    assert models.list_registered_models(other.id) == [a]
    with pytest.raises(AlreadyExists):
        models.create_registered_model("b", other.id, created_by="ana", at=T0)
    with pytest.raises(NotFound, match="model 'nope' not found"):
        models.get_registered_model("nope")
    with pytest.raises(NotFound):
        models.create_registered_model("c", "no-such-project", created_by="ana", at=T0)
    assert [m.name for m in models.list_registered_models()] == ["b", "team/a"]


# --- versions and files -----------------------------------------------------------------------


def test_versions_files_and_retried_registration(models: ModelRegistryStore, project: Project) -> None:
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    files = [ModelFile(path="z.txt", digest=digest("b"), size=2), ModelFile(path="a.pkl", digest=digest("a"), size=5)]
    first = new_version(models, files=files, version_id="v-one", signature='{"kind": "tensor"}', description="d")
    assert (first.version, first.state, first.size, first.created_by, first.created_at) == (
        1, ModelState.DRAFT, 7, "ana", T0,
    )  # fmt: skip
    assert first.signature == '{"kind": "tensor"}' and first.description == "d" and first.aliases == []
    assert new_version(models, files=files, version_id="v-one") == first  # a retry adds nothing
    second = new_version(models, at=T0 + 5)
    assert second.version == 2 and models.get_registered_model("churn").latest_version == 2
    assert models.get_model_version("churn", 1) == first
    assert [f.path for f in models.list_model_files("churn", 1)] == ["a.pkl", "z.txt"]
    assert [v.version for v in models.list_model_versions("churn")] == [2, 1]
    assert [v.version for v in models.list_model_versions("churn", [ModelState.DRAFT])] == [2, 1]
    assert models.list_model_versions("churn", [ModelState.PRODUCTION, ModelState.STAGING]) == []
    assert models.list_model_versions("churn", []) == []
    models.create_registered_model("other", project.id, created_by="ana", at=T0)
    with pytest.raises(AlreadyExists):
        new_version(models, "other", version_id="v-one")
    with pytest.raises(NotFound, match="run"):
        new_version(models, run_id=new_id())
    with pytest.raises(NotFound, match="version 9"):
        models.get_model_version("churn", 9)
    with pytest.raises(NotFound):
        models.list_model_files("churn", 9)
    with pytest.raises(NotFound):
        models.list_model_versions("nope")
    with pytest.raises(NotFound):
        models.list_model_versions("nope", [])
    with pytest.raises(NotFound):
        new_version(models, "nope")
    assert models.get_registered_model("churn").latest_version == 2  # the refusals took no number


def test_a_version_copied_from_another_store_keeps_its_number(models: ModelRegistryStore, project: Project) -> None:
    """``version=N`` (a built image's store takes the source registry's number): above every
    number given out, and the counter follows it."""
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    copied = new_version(models, version=3, version_id="v-three")
    assert copied.version == 3 and models.get_registered_model("churn").latest_version == 3
    assert [v.version for v in models.list_model_versions("churn")] == [3]
    assert new_version(models, version=3, version_id="v-three") == copied  # a retry adds nothing
    for taken in (3, 2):
        with pytest.raises(AlreadyExists, match="up to 3"):
            new_version(models, version=taken)
    assert new_version(models).version == 4
    with pytest.raises(InvalidArgument):
        new_version(models, version=0)
    assert models.get_registered_model("churn").latest_version == 4


def test_version_linked_to_a_run(models: ModelRegistryStore, store: TrackingStore, project: Project) -> None:
    run = store.create_run(project.id)
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    assert new_version(models, run_id=run.id).run_id == run.id


# --- transitions ------------------------------------------------------------------------------


def test_transitions_compare_and_set_and_displace(models: ModelRegistryStore, project: Project) -> None:
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    new_version(models)
    new_version(models)
    staged = move(models, 1, ModelState.DRAFT, ModelState.STAGING, T0 + 1, displaced_to=ModelState.ARCHIVED)
    assert staged.state is ModelState.STAGING
    move(models, 2, ModelState.DRAFT, ModelState.STAGING, T0 + 2, displaced_to=ModelState.ARCHIVED)
    assert models.get_model_version("churn", 1).state is ModelState.ARCHIVED
    before = (models.list_model_versions("churn"), models.list_model_events("churn"))
    with pytest.raises(Conflict, match="reload and retry"):
        move(models, 1, ModelState.STAGING, ModelState.PRODUCTION, T0 + 3, displaced_to=ModelState.ARCHIVED)
    assert (models.list_model_versions("churn"), models.list_model_events("churn")) == before
    with pytest.raises(NotFound):
        move(models, 7, ModelState.DRAFT, ModelState.STAGING, T0 + 3)
    events = models.list_model_events("churn", 1)
    assert [(e.kind, e.from_state, e.to_state, e.reason) for e in events] == [
        (EventKind.REGISTERED, None, ModelState.DRAFT, None),
        (EventKind.TRANSITION, ModelState.DRAFT, ModelState.STAGING, None),
        (EventKind.TRANSITION, ModelState.STAGING, ModelState.ARCHIVED, "replaced by version 2"),
    ]
    assert [v.version for v in models.versions_in_state_at("churn", ModelState.STAGING, T0 + 1)] == [1]
    assert [v.version for v in models.versions_in_state_at("churn", ModelState.STAGING, T0 + 2)] == [2]
    assert models.versions_in_state_at("churn", ModelState.PRODUCTION, T0 + 2) == []


def test_decommission_retention_and_purge_marks(
    models: ModelRegistryStore, store: TrackingStore, project: Project
) -> None:
    models.set_registry_policy(RegistryPolicy(project_id=project.id, retention_days=2))
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    shared, own = ModelFile(path="req.txt", digest=digest("1"), size=1), ModelFile(path="m", digest=digest("2"), size=1)
    one = new_version(models, files=[shared, own], manifest=digest("3"))
    new_version(models, files=[shared], manifest=digest("4"))
    models.set_model_alias("churn", "old", 1, actor="ana", reason=None, at=T0 + 1)
    with pytest.raises(InvalidArgument, match="not decommissioned"):
        models.mark_model_version_purged("churn", 1, actor="ana", at=T0 + 2)
    gone = move(models, 1, ModelState.DRAFT, ModelState.DECOMMISSIONED, T0 + 10, purge_after=T0 + 10 + 2 * DAY)
    assert gone.state is ModelState.DECOMMISSIONED and gone.aliases == []
    assert (gone.decommissioned_at, gone.purge_after, gone.purged_at) == (T0 + 10, T0 + 10 + 2 * DAY, None)
    with pytest.raises(NotFound, match="no alias 'old'"):
        models.get_model_alias("churn", "old")
    assert models.list_versions_to_purge(T0 + DAY) == []
    assert [v.version for v in models.list_versions_to_purge(T0 + 3 * DAY)] == [1]
    run = store.create_run(project.id)
    store.add_artifacts(run.id, [ArtifactEntry(path="x", digest=digest("5"), size=1)])
    candidates = [digest("1"), digest("2"), digest("3"), digest("5"), digest("6")]
    assert models.digests_in_use(candidates, excluding_version_id=one.id) == {digest("1"), digest("5")}
    assert models.digests_in_use([], excluding_version_id=one.id) == set()
    purged = models.mark_model_version_purged("churn", 1, actor="ana", at=T0 + 3 * DAY)
    assert purged.purged_at == T0 + 3 * DAY
    again = models.mark_model_version_purged("churn", 1, actor="ana", at=T0 + 4 * DAY)
    assert again.purged_at == T0 + 3 * DAY  # recorded once
    assert models.list_versions_to_purge(T0 + 5 * DAY) == []
    kinds = [e.kind for e in models.list_model_events("churn", 1)]
    assert kinds.count(EventKind.PURGED) == 1 and EventKind.ALIAS_REMOVED in kinds
    assert models.digests_in_use([digest("2")], excluding_version_id="nobody") == set()  # purged: no longer held


# --- aliases, approvals, policies -------------------------------------------------------------


def test_aliases(models: ModelRegistryStore, project: Project) -> None:
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    new_version(models)
    new_version(models)
    models.set_model_alias("churn", "champion", 1, actor="ana", reason="first", at=T0 + 1)
    models.set_model_alias("churn", "champion", 1, actor="ana", reason=None, at=T0 + 2)  # no move: no event
    models.set_model_alias("churn", "champion", 2, actor="bob", reason="better", at=T0 + 3)
    assert models.get_model_alias("churn", "champion") == 2
    assert models.get_model_version("churn", 2).aliases == ["champion"]
    sets = [e for e in models.list_model_events("churn") if e.kind is EventKind.ALIAS_SET]
    assert [(e.version, e.from_version, e.actor, e.at) for e in sets] == [
        (1, None, "ana", T0 + 1), (2, 1, "bob", T0 + 3),
    ]  # fmt: skip
    models.delete_model_alias("churn", "champion", actor="ana", reason="retired", at=T0 + 4)
    with pytest.raises(NotFound, match="no alias 'champion'"):
        models.get_model_alias("churn", "champion")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        models.delete_model_alias("churn", "champion", actor="ana", reason=None, at=T0 + 5)
    with pytest.raises(NotFound):
        models.set_model_alias("churn", "champion", 9, actor="ana", reason=None, at=T0 + 5)
    with pytest.raises(NotFound):
        models.get_model_alias("nope", "champion")
    removed = [e for e in models.list_model_events("churn") if e.kind is EventKind.ALIAS_REMOVED]
    assert [(e.alias, e.version, e.reason) for e in removed] == [("champion", 2, "retired")]


def test_approvals(models: ModelRegistryStore, project: Project) -> None:
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    new_version(models)
    first = models.add_model_approval("churn", 1, "bob", comment="looks good", at=T0 + 1)
    assert models.add_model_approval("churn", 1, "bob", comment="again", at=T0 + 5) == first  # kept the first
    models.add_model_approval("churn", 1, "carol", comment=None, at=T0 + 2)
    approvals = models.list_model_approvals("churn", 1)
    assert [(a.approver, a.at, a.comment) for a in approvals] == [
        ("bob", T0 + 1, "looks good"), ("carol", T0 + 2, None),
    ]  # fmt: skip
    assert [e.actor for e in models.list_model_events("churn", 1) if e.kind is EventKind.APPROVED] == ["bob", "carol"]
    with pytest.raises(NotFound):
        models.add_model_approval("churn", 4, "bob", comment=None, at=T0)
    with pytest.raises(NotFound):
        models.list_model_approvals("churn", 4)


def test_registry_policies(models: ModelRegistryStore, project: Project) -> None:
    assert models.get_registry_policy(project.id) == RegistryPolicy(project_id=project.id)
    strict = RegistryPolicy(project_id=project.id, required_approvals=2, retention_days=None)
    assert models.set_registry_policy(strict) == strict
    assert models.get_registry_policy(project.id) == strict
    changed = RegistryPolicy(project_id=project.id, required_approvals=1, retention_days=0)
    models.set_registry_policy(changed)
    assert models.get_registry_policy(project.id) == changed
    with pytest.raises(NotFound):
        models.set_registry_policy(RegistryPolicy(project_id="no-such-project"))


# --- model cards and evaluations --------------------------------------------------------------


def test_model_card_fields(models: ModelRegistryStore, project: Project) -> None:
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    new_version(models)
    empty = models.get_model_card_fields("churn", 1)
    assert (empty.fields, empty.updated_at, empty.updated_by) == ({}, None, None)
    edited = models.update_model_card_fields(
        "churn", 1, {"intended_use": "churn scoring", "limitations": "EU only"}, actor="bob", at=T0 + 1
    )
    assert edited.fields == {"intended_use": "churn scoring", "limitations": "EU only"}
    models.update_model_card_fields("churn", 1, {"limitations": None, "owners": "ml-team"}, actor="ana", at=T0 + 2)
    card = models.get_model_card_fields("churn", 1)
    assert card.fields == {"intended_use": "churn scoring", "owners": "ml-team"}
    assert (card.updated_at, card.updated_by) == (T0 + 2, "ana")
    assert [e.kind for e in models.list_model_events("churn", 1)].count(EventKind.CARD_UPDATED) == 2
    with pytest.raises(NotFound):
        models.get_model_card_fields("churn", 3)
    with pytest.raises(NotFound):
        models.update_model_card_fields("churn", 3, {"notes": "x"}, actor="ana", at=T0)


def test_model_evaluations(models: ModelRegistryStore, store: TrackingStore, project: Project) -> None:
    models.create_registered_model("churn", project.id, created_by="ana", at=T0)
    new_version(models)
    new_version(models)
    run = store.create_run(project.id)
    summary = {"accuracy": 0.91, "rows": 1200, "label": "holdout"}
    first = models.add_model_evaluation(
        "churn", 1, evaluation_id="ev1", digest=digest("e"), summary=summary, run_id=run.id, actor="ana", at=T0 + 1
    )
    assert (first.id, first.version, first.run_id, first.summary, first.created_at) == (
        "ev1", 1, run.id, summary, T0 + 1,
    )  # fmt: skip
    retry = models.add_model_evaluation(
        "churn", 1, evaluation_id="ev1", digest=digest("e"), summary=summary, run_id=run.id, actor="ana", at=T0 + 9
    )
    assert retry == first
    models.add_model_evaluation(
        "churn", 1, evaluation_id="ev2", digest=digest("d"), summary={}, run_id=None, actor="bob", at=T0 + 2
    )
    assert [e.id for e in models.list_model_evaluations("churn", 1)] == ["ev2", "ev1"]
    assert models.list_model_evaluations("churn", 2) == []
    with pytest.raises(AlreadyExists):
        models.add_model_evaluation(
            "churn", 2, evaluation_id="ev1", digest=digest("e"), summary={}, run_id=None, actor="ana", at=T0
        )
    with pytest.raises(NotFound):
        models.add_model_evaluation(
            "churn", 2, evaluation_id="ev3", digest=digest("e"), summary={}, run_id=new_id(), actor="ana", at=T0
        )
    with pytest.raises(NotFound):
        models.list_model_evaluations("churn", 5)
    assert [e.kind for e in models.list_model_events("churn", 1)].count(EventKind.EVALUATED) == 2


def test_models_loaded_from_the_registry_predict(registry: RegistryService) -> None:
    version = log_version(registry, factor=2.0)
    registry.transition("churn", version, "staging", actor="ana")
    registry.transition("churn", version, "production", actor="ana")
    assert registry.load("churn@production").predict(np.ones((2, 3))).tolist() == [6.0, 6.0]
