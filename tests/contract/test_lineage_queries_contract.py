"""The reverse lookups of the lineage graph's downstream walk, on every backend (SQLite,
PostgreSQL, the HTTP client): ``find_runs_by_input``, ``find_runs_using_model`` (with the
write it reads, ``log_model_use``), ``list_child_runs``,
``list_model_versions_by_run``, ``list_dataset_versions_derived_from``,
``list_dataset_versions_by_run``. Orders are part of the contract: they are the orders of the
scan these queries replaced, which is what keeps the graph unchanged.
"""

from __future__ import annotations

import pytest

from modelyard.core.datasets import DatasetVersion, DatasetVersionKey, NewDatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.registry import ModelFile, ModelState, ModelVersion
from modelyard.core.tracking import LifecycleStage, Project, RunInput, RunLink
from modelyard.store import TrackingStore
from modelyard.store.datasets import DatasetStore
from modelyard.store.models import ModelRegistryStore

T0 = 1_700_000_000_000


@pytest.fixture
def datasets(dataset_store: DatasetStore) -> DatasetStore:
    return dataset_store


@pytest.fixture
def models(registry_store: ModelRegistryStore) -> ModelRegistryStore:
    return registry_store


@pytest.fixture
def projects(store: TrackingStore) -> tuple[Project, Project]:
    """Created 'b' first so that ordering by project name is not creation order."""
    b = store.create_project("b-team")
    a = store.create_project("a-team")
    return a, b


def add_dataset(datasets: DatasetStore, name: str, fill: str, **kw: object) -> DatasetVersion:
    return datasets.create_dataset_version(
        NewDatasetVersion(  # type: ignore[arg-type]
            name=name, manifest_digest="sha256:" + fill * 64, kind="file", file_count=1, total_size=10, **kw
        )
    )


def new_version(models: ModelRegistryStore, name: str, run_id: str | None, fill: str = "a") -> ModelVersion:
    return models.create_model_version(
        name,
        manifest_digest="sha256:" + fill * 64,
        flavor="python",
        files=[ModelFile(path="model.pkl", digest="sha256:" + fill * 64, size=10)],
        created_by="ana",
        at=T0,
        run_id=run_id,
    )


def refs(versions: list[DatasetVersion]) -> list[str]:
    return [v.ref for v in versions]


# --- runs ---------------------------------------------------------------------------------------


def test_find_runs_by_input(store: TrackingStore, projects: tuple[Project, Project]) -> None:
    a, b = projects
    late_b = store.create_run(b.id, name="late-b", start_time=T0 + 5)
    early_b = store.create_run(b.id, name="early-b", start_time=T0 + 1)
    in_a = store.create_run(a.id, name="in-a", start_time=T0 + 9)
    numeric = store.create_run(a.id, name="numeric", start_time=T0 + 10)
    deleted = store.create_run(a.id, name="deleted", start_time=T0 + 2)
    unrelated = store.create_run(a.id, name="unrelated", start_time=T0 + 3)
    churn_v3 = RunInput(name="churn", version="v3", digest="sha256:" + "c" * 64)
    store.log_inputs(late_b.id, [churn_v3.model_copy(update={"context": "training"})])
    store.log_inputs(early_b.id, [churn_v3])
    store.log_inputs(
        in_a.id,
        [churn_v3.model_copy(update={"context": c}) for c in ("training", "evaluation")]
        + [RunInput(name="churn", version="v2", context="training")],
    )
    store.log_inputs(numeric.id, [RunInput(name="churn", version="3", context="test")])  # "3" names v3 too
    store.log_inputs(deleted.id, [churn_v3])
    store.set_run_lifecycle(deleted.id, LifecycleStage.DELETED)
    store.log_inputs(
        unrelated.id,
        [RunInput(name="churn", version="v33"), RunInput(name="churn"), RunInput(name="other", version="v3")],
    )

    assert store.find_runs_by_input("churn", 3) == [
        RunLink(in_a.id, a.id, "evaluation"),
        RunLink(in_a.id, a.id, "training"),
        RunLink(numeric.id, a.id, "test"),
        RunLink(early_b.id, b.id, None),
        RunLink(late_b.id, b.id, "training"),
    ]
    assert store.find_runs_by_input("churn", 2) == [RunLink(in_a.id, a.id, "training")]
    assert store.find_runs_by_input("churn", 4) == []
    assert store.find_runs_by_input("nothing", 1) == []
    store.set_run_lifecycle(deleted.id, LifecycleStage.ACTIVE)  # restored: found again
    assert RunLink(deleted.id, a.id, None) in store.find_runs_by_input("churn", 3)
    with pytest.raises(InvalidArgument):
        store.find_runs_by_input("churn", "v3")  # type: ignore[arg-type]


def test_find_runs_using_model(store: TrackingStore, projects: tuple[Project, Project]) -> None:
    a, b = projects
    late_b = store.create_run(b.id, name="late-b", start_time=T0 + 5)
    early_b = store.create_run(b.id, name="early-b", start_time=T0 + 1)
    in_a = store.create_run(a.id, name="in-a", start_time=T0 + 9)
    deleted = store.create_run(a.id, name="deleted", start_time=T0 + 2)
    unrelated = store.create_run(a.id, name="unrelated", start_time=T0 + 3)
    store.log_model_use(late_b.id, "team/churn", 3, "scoring")
    store.log_model_use(early_b.id, "team/churn", 3, "scoring")
    store.log_model_use(early_b.id, "team/churn", 3, "scoring")  # again: idempotent
    store.log_model_use(in_a.id, "team/churn", 3, "scoring")
    store.log_model_use(in_a.id, "team/churn", 3, "evaluation")
    store.log_model_use(in_a.id, "team/churn", 2, "scoring")
    store.log_model_use(deleted.id, "team/churn", 3, "scoring")
    store.set_run_lifecycle(deleted.id, LifecycleStage.DELETED)
    store.log_model_use(unrelated.id, "team/churn", 33, "scoring")
    store.log_model_use(unrelated.id, "churn", 3, "scoring")
    store.set_tags(unrelated.id, {"modelyard.model_version_used": "team/churn@3"})  # a tag is not a use

    assert store.find_runs_using_model("team/churn", 3) == [
        RunLink(in_a.id, a.id, "evaluation"),
        RunLink(in_a.id, a.id, "scoring"),
        RunLink(early_b.id, b.id, "scoring"),
        RunLink(late_b.id, b.id, "scoring"),
    ]
    assert store.find_runs_using_model("team/churn", 2) == [RunLink(in_a.id, a.id, "scoring")]
    assert store.find_runs_using_model("churn", 3) == [RunLink(unrelated.id, a.id, "scoring")]
    assert store.find_runs_using_model("team/churn", 4) == []
    assert store.find_runs_using_model("team/churn", 0) == []
    assert store.find_runs_using_model("nothing", 1) == []
    store.set_run_lifecycle(deleted.id, LifecycleStage.ACTIVE)  # restored: found again
    assert RunLink(deleted.id, a.id, "scoring") in store.find_runs_using_model("team/churn", 3)
    with pytest.raises(InvalidArgument):
        store.find_runs_using_model("team/churn", "3")  # type: ignore[arg-type]


def test_log_model_use_refuses_bad_input_and_writes_nothing(
    store: TrackingStore, projects: tuple[Project, Project]
) -> None:
    a, _ = projects
    run = store.create_run(a.id, name="scoring", start_time=T0)
    bad: list[tuple[str, object, str]] = [
        ("", 1, "scoring"),
        ("../churn", 1, "scoring"),
        ("churn", 0, "scoring"),
        ("churn", 2**31, "scoring"),
        ("churn", True, "scoring"),
        ("churn", "1", "scoring"),
        ("churn", 1, ""),
        ("churn", 1, "bad\ncontext"),
    ]
    for name, version, context in bad:
        with pytest.raises(InvalidArgument):
            store.log_model_use(run.id, name, version, context)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.log_model_use("no-such-run", "churn", 1, "scoring")
    gone = store.create_run(a.id, name="gone", start_time=T0)
    store.set_run_lifecycle(gone.id, LifecycleStage.DELETED)
    with pytest.raises(NotFound):  # a deleted run is written to only once restored
        store.log_model_use(gone.id, "churn", 1, "scoring")
    store.set_run_lifecycle(gone.id, LifecycleStage.ACTIVE)
    assert store.find_runs_using_model("churn", 1) == []
    assert store.find_runs_using_model("../churn", 1) == []


def test_list_child_runs(store: TrackingStore, projects: tuple[Project, Project]) -> None:
    a, b = projects
    parent = store.create_run(b.id, name="study", start_time=T0)
    second = store.create_run(b.id, name="t2", start_time=T0 + 2, parent_run_id=parent.id)
    first = store.create_run(b.id, name="t1", start_time=T0 + 1, parent_run_id=parent.id)
    elsewhere = store.create_run(a.id, name="in-a", start_time=T0 + 3, parent_run_id=parent.id)
    gone = store.create_run(b.id, name="gone", start_time=T0, parent_run_id=parent.id)
    store.set_run_lifecycle(gone.id, LifecycleStage.DELETED)
    grandchild = store.create_run(b.id, name="grandchild", parent_run_id=first.id)
    store.create_run(b.id, name="unrelated")

    assert store.list_child_runs(parent.id) == [
        RunLink(elsewhere.id, a.id),
        RunLink(first.id, b.id),
        RunLink(second.id, b.id),
    ]
    assert store.list_child_runs(first.id) == [RunLink(grandchild.id, b.id)]  # children only, not descendants
    assert store.list_child_runs(second.id) == []
    assert store.list_child_runs("no-such-run") == []


# --- model versions -----------------------------------------------------------------------------


def test_list_model_versions_by_run(
    store: TrackingStore, models: ModelRegistryStore, projects: tuple[Project, Project]
) -> None:
    a, b = projects
    run = store.create_run(a.id, name="train")
    other = store.create_run(a.id, name="other")
    models.create_registered_model("b-model", a.id, created_by="ana", at=T0)
    models.create_registered_model("a-model", b.id, created_by="ana", at=T0)  # another project's model
    b1 = new_version(models, "b-model", run.id, "1")
    new_version(models, "b-model", other.id, "2")
    b3 = new_version(models, "b-model", run.id, "3")
    new_version(models, "b-model", None, "4")
    a1 = new_version(models, "a-model", run.id, "5")
    models.set_model_alias("b-model", "champion", b1.version, actor="ana", reason=None, at=T0 + 1)
    models.transition_model_version(
        "a-model", 1, from_state=ModelState.DRAFT, to_state=ModelState.STAGING, actor="ana", reason=None, at=T0 + 2
    )

    found = models.list_model_versions_by_run(run.id)
    assert [(v.model_name, v.version) for v in found] == [("a-model", 1), ("b-model", 3), ("b-model", 1)]
    assert found[0].state is ModelState.STAGING and found[0].id == a1.id
    assert found[1] == b3
    assert found[2].aliases == ["champion"]
    assert found[2] == models.get_model_version("b-model", 1)  # the same entity the direct read returns
    assert [v.version for v in models.list_model_versions_by_run(other.id)] == [2]
    assert models.list_model_versions_by_run("no-such-run") == []


# --- dataset versions ---------------------------------------------------------------------------


def test_list_dataset_versions_derived_from(datasets: DatasetStore) -> None:
    raw1 = add_dataset(datasets, "raw", "1")
    raw2 = add_dataset(datasets, "raw", "2")
    key1, key2 = DatasetVersionKey("raw", raw1.version), DatasetVersionKey("raw", raw2.version)
    add_dataset(datasets, "team/clean", "3", parents=[key1])
    add_dataset(datasets, "team/clean", "4", parents=[key2])
    add_dataset(datasets, "features", "5", parents=[key1, DatasetVersionKey("team/clean", 1)])
    add_dataset(datasets, "raw", "6", parents=[key1])  # a dataset derived from its own earlier version
    add_dataset(datasets, "features", "7", parents=[key1])
    datasets.remove_dataset_version("features", 2)  # removed versions stay in lineage

    derived = datasets.list_dataset_versions_derived_from("raw", 1)
    assert refs(derived) == ["features@v1", "features@v2", "raw@v3", "team/clean@v1"]
    assert derived[1].removed_at is not None and derived[0].removed_at is None
    assert derived[0].parents == (key1, DatasetVersionKey("team/clean", 1))  # parents come back whole
    assert derived[3] == datasets.get_dataset_version("team/clean", 1)
    assert refs(datasets.list_dataset_versions_derived_from("raw", 2)) == ["team/clean@v2"]
    assert refs(datasets.list_dataset_versions_derived_from("team/clean", 1)) == ["features@v1"]
    assert datasets.list_dataset_versions_derived_from("raw", 3) == []
    assert datasets.list_dataset_versions_derived_from("raw", 99) == []
    assert datasets.list_dataset_versions_derived_from("nothing", 1) == []
    with pytest.raises(InvalidArgument):
        datasets.list_dataset_versions_derived_from("raw", "v1")  # type: ignore[arg-type]


def test_list_dataset_versions_by_run(store: TrackingStore, datasets: DatasetStore) -> None:
    run_id = store.create_run(store.create_project("p").id).id
    add_dataset(datasets, "zeta", "1", code=f"run:{run_id}")
    add_dataset(datasets, "alpha", "2", code=f"run:{run_id}", parents=[DatasetVersionKey("zeta", 1)])
    add_dataset(datasets, "alpha", "3", code=f"run:{run_id}")
    add_dataset(datasets, "alpha", "4", code=f"RUN:{run_id}")  # not the run prefix: case matters
    add_dataset(datasets, "alpha", "5", code=f"run:{run_id} and more")
    add_dataset(datasets, "alpha", "6", code="train.py@3f2a")
    add_dataset(datasets, "alpha", "7", code="run:" + "x" * 5000)  # long free text is fine to record
    add_dataset(datasets, "alpha", "8", code="run:elsewhere")  # a run of another store
    datasets.remove_dataset_version("alpha", 2)

    made = datasets.list_dataset_versions_by_run(run_id)
    assert refs(made) == ["alpha@v1", "alpha@v2", "zeta@v1"]
    assert made[0].parents == (DatasetVersionKey("zeta", 1),) and made[1].removed_at is not None
    assert refs(datasets.list_dataset_versions_by_run("elsewhere")) == ["alpha@v7"]
    assert datasets.list_dataset_versions_by_run("no-such-run") == []
    assert store.check() == []  # the indexed run id agrees with every code
