"""The metadata store contract: every backend (SQLite, PostgreSQL, later the HTTP client) passes it."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from modelyard.core.errors import (
    AlreadyExists,
    Conflict,
    FilterSyntaxError,
    InvalidArgument,
    NotFound,
    StoreUnavailable,
)
from modelyard.core.ids import new_id
from modelyard.core.tracking import ArtifactEntry, LifecycleStage, Metric, Project, Run, RunInput, RunQuery, RunStatus
from modelyard.store import TrackingStore
from modelyard.store.sql.migrations import head_revisions
from modelyard.store.sql.schema import SCHEMA_HEADS, metadata
from modelyard.store.sql.tracking import SqlTrackingStore
from tests.contract.conftest import stores_for


@pytest.fixture
def project(store: TrackingStore) -> Project:
    return store.create_project("contract")


@pytest.fixture
def run(store: TrackingStore, project: Project) -> Run:
    return store.create_run(project.id, name="r")


def search(store: TrackingStore, project: Project, flt: str | None = None, **kw: object) -> list[Run]:
    return store.search_runs(RunQuery(project_ids=[project.id], filter=flt, **kw)).runs  # type: ignore[arg-type]


def names(runs: list[Run]) -> list[str | None]:
    return [r.name for r in runs]


# --- projects --------------------------------------------------------------------------------


def test_projects_create_get_list(store: TrackingStore) -> None:
    b = store.create_project("b", description="second")
    a = store.create_project("a", project_id="myproject")
    assert store.get_project(b.id) == b
    assert store.get_project_by_name("a").id == "myproject"
    assert [p.name for p in store.list_projects()] == ["a", "b"]
    assert b.description == "second" and b.lifecycle_stage == LifecycleStage.ACTIVE
    assert a.created_at > 0


def test_project_errors(store: TrackingStore) -> None:
    store.create_project("p")
    with pytest.raises(AlreadyExists):
        store.create_project("p")
    with pytest.raises(NotFound, match="nope"):
        store.get_project("nope")
    with pytest.raises(NotFound):
        store.get_project_by_name("nope")
    with pytest.raises(InvalidArgument):
        store.create_project("")


def test_get_or_create_project_is_safe_under_concurrency(store: TrackingStore) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(store.get_or_create_project("shared").id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert [p.name for p in store.list_projects()] == ["shared"]


# --- runs ------------------------------------------------------------------------------------


def test_create_and_get_run(store: TrackingStore, project: Project) -> None:
    created = store.create_run(project.id, name="first", start_time=123, tags={"team": "x"})
    got = store.get_run(created.id)
    assert got == created
    assert got.status == RunStatus.RUNNING and got.start_time == 123 and got.tags == {"team": "x"}
    assert got.lifecycle_stage == LifecycleStage.ACTIVE and got.end_time is None


def test_create_run_is_idempotent_on_run_id(store: TrackingStore, project: Project) -> None:
    first = store.create_run(project.id, run_id="abc123", name="x")
    again = store.create_run(project.id, run_id="abc123", name="x")
    assert again == first
    other = store.create_project("other")
    with pytest.raises(AlreadyExists):
        store.create_run(other.id, run_id="abc123")


def test_run_errors(store: TrackingStore, project: Project) -> None:
    with pytest.raises(NotFound, match="run 'abc' not found"):
        store.get_run("abc")
    with pytest.raises(NotFound):
        store.create_run("no-such-project")
    with pytest.raises(NotFound):
        store.update_run("abc", status=RunStatus.FINISHED)
    with pytest.raises(NotFound):
        store.set_run_lifecycle("abc", LifecycleStage.DELETED)
    with pytest.raises(NotFound):
        store.create_run(project.id, parent_run_id="missing")


def test_update_run(store: TrackingStore, run: Run) -> None:
    updated = store.update_run(run.id, status=RunStatus.FINISHED, end_time=999, name="renamed", notes="hi")
    assert (updated.status, updated.end_time, updated.name, updated.notes) == (RunStatus.FINISHED, 999, "renamed", "hi")
    assert store.get_run(run.id) == updated
    # logging after the end is allowed
    store.log_metrics(run.id, [Metric("late", 1.0, 0, 1)])
    assert store.get_run(run.id).metrics["late"].value == 1.0


def test_soft_delete_and_restore(store: TrackingStore, project: Project, run: Run) -> None:
    keep = store.create_run(project.id, name="keep")
    store.set_run_lifecycle(run.id, LifecycleStage.DELETED)
    assert store.get_run(run.id).lifecycle_stage == LifecycleStage.DELETED
    assert names(search(store, project)) == ["keep"]
    assert names(search(store, project, lifecycle=LifecycleStage.DELETED)) == ["r"]
    assert set(names(search(store, project, lifecycle=None))) == {"r", "keep"}
    for write in (
        lambda: store.log_metrics(run.id, [Metric("m", 1.0, 0, 1)]),
        lambda: store.log_params(run.id, {"a": "1"}),
        lambda: store.set_tags(run.id, {"a": "1"}),
        lambda: store.update_run(run.id, status=RunStatus.FAILED),
    ):
        with pytest.raises(NotFound, match="deleted"):
            write()
    store.set_run_lifecycle(run.id, LifecycleStage.ACTIVE)
    store.log_params(run.id, {"a": "1"})
    assert set(names(search(store, project))) == {"r", "keep"}
    assert keep.id != run.id


def test_nested_runs(store: TrackingStore, project: Project, run: Run) -> None:
    child = store.create_run(project.id, name="child", parent_run_id=run.id)
    assert store.get_run(child.id).parent_run_id == run.id
    assert names(search(store, project, f"parent_run_id = '{run.id}'")) == ["child"]
    assert names(search(store, project, "parent_run_id IS NULL")) == ["r"]


# --- params and tags -------------------------------------------------------------------------


def test_params_are_immutable(store: TrackingStore, run: Run) -> None:
    store.log_params(run.id, {"lr": "0.1", "depth": 3})  # type: ignore[dict-item]
    store.log_params(run.id, {"lr": "0.1"})  # same value: no-op
    with pytest.raises(Conflict) as info:
        store.log_params(run.id, {"new": "x", "lr": "0.2"})
    assert "lr" in str(info.value) and "0.1" in str(info.value) and "0.2" in str(info.value)
    assert store.get_run(run.id).params == {"lr": "0.1", "depth": "3"}  # "new" was not written


def test_log_batch_conflict_writes_nothing(store: TrackingStore, run: Run) -> None:
    store.log_params(run.id, {"lr": "0.1"})
    with pytest.raises(Conflict):
        store.log_batch(run.id, params={"lr": "9"}, tags={"t": "v"}, metrics=[Metric("m", 1.0, 0, 1)])
    got = store.get_run(run.id)
    assert got.tags == {} and got.metrics == {} and store.count_metric_points(run.id) == 0
    store.log_batch(run.id, params={"b": "2"}, tags={"t": "v"}, metrics=[Metric("m", 1.0, 0, 1)])
    got = store.get_run(run.id)
    assert got.params == {"lr": "0.1", "b": "2"} and got.tags == {"t": "v"} and "m" in got.metrics


def test_invalid_keys(store: TrackingStore, run: Run) -> None:
    with pytest.raises(InvalidArgument):
        store.log_params(run.id, {"bad\nkey": "1"})
    with pytest.raises(InvalidArgument):
        store.set_tags(run.id, {"": "1"})
    with pytest.raises(InvalidArgument):
        store.log_metrics(run.id, [Metric("../x", 1.0, 0, 1)])
    with pytest.raises(InvalidArgument):
        store.log_metrics(run.id, [Metric("m", "abc", 0, 1)])  # type: ignore[arg-type]


def test_tags_upsert_and_delete(store: TrackingStore, run: Run) -> None:
    store.set_tags(run.id, {"a": "1", "b": "2"})
    store.set_tags(run.id, {"a": "changed"})
    assert store.get_run(run.id).tags == {"a": "changed", "b": "2"}
    store.delete_tag(run.id, "b")
    assert store.get_run(run.id).tags == {"a": "changed"}
    with pytest.raises(NotFound):
        store.delete_tag(run.id, "b")
    with pytest.raises(NotFound):
        store.set_tags("missing", {"a": "1"})


# --- metrics ---------------------------------------------------------------------------------


def test_nan_and_inf_round_trip(store: TrackingStore, run: Run) -> None:
    points = [Metric("m", math.nan, 0, 10), Metric("m", math.inf, 1, 11), Metric("m", -math.inf, 2, 12)]
    store.log_metrics(run.id, points)
    history = store.get_metric_history(run.id, "m")
    assert len(history) == 3 and all(a.same_as(b) for a, b in zip(history, points, strict=True))
    store.log_metrics(run.id, [Metric("n", math.nan, 5, 1)])
    assert math.isnan(store.get_run(run.id).metrics["n"].value)
    assert store.get_run(run.id).metrics["m"].value == -math.inf
    store.log_metrics(run.id, [Metric("n", math.nan, 5, 1)])  # retried NaN point: no duplicate
    assert len(store.get_metric_history(run.id, "n")) == 1


def test_history_is_ordered_by_step_then_timestamp(store: TrackingStore, run: Run) -> None:
    store.log_metrics(run.id, [Metric("m", 3.0, 2, 1), Metric("m", 1.0, 0, 5), Metric("m", 2.0, 0, 7)])
    store.log_metrics(run.id, [Metric("m", 0.5, 1, 0), Metric("other", 9.0, 0, 0)])
    assert [(p.step, p.timestamp, p.value) for p in store.get_metric_history(run.id, "m")] == [
        (0, 5, 1.0),
        (0, 7, 2.0),
        (1, 0, 0.5),
        (2, 1, 3.0),
    ]
    assert store.get_metric_history(run.id, "unknown") == []
    with pytest.raises(NotFound):
        store.get_metric_history("missing", "m")


def test_latest_metric_keeps_highest_step_then_latest_timestamp(store: TrackingStore, run: Run) -> None:
    store.log_metrics(run.id, [Metric("m", 1.0, 10, 100)])
    store.log_metrics(run.id, [Metric("m", 2.0, 5, 999)])  # later but lower step: ignored
    latest = store.get_run(run.id).metrics["m"]
    assert (latest.value, latest.step, latest.timestamp) == (1.0, 10, 100)
    store.log_metrics(run.id, [Metric("m", 3.0, 10, 200), Metric("m", 4.0, 10, 150)])  # same step, later ts
    latest = store.get_run(run.id).metrics["m"]
    assert (latest.value, latest.step, latest.timestamp) == (3.0, 10, 200)
    store.log_metrics(run.id, [Metric("m", 5.0, 11, 1)])
    assert store.get_run(run.id).metrics["m"].value == 5.0


def test_retried_batch_adds_nothing(store: TrackingStore, run: Run) -> None:
    batch = [Metric("m", float(i), i, 1000 + i) for i in range(100)]
    store.log_metrics(run.id, batch)
    store.log_metrics(run.id, batch)
    store.log_metrics(run.id, batch[:10])
    assert store.count_metric_points(run.id) == 100
    store.log_metrics(run.id, [Metric("m", 7.5, 1, 1001)])  # same step+ts, other value: a new point
    assert store.count_metric_points(run.id) == 101
    assert store.count_metric_points() == 101
    with pytest.raises(NotFound):
        store.count_metric_points("missing")


def test_count_metric_points_over_runs(store: TrackingStore, project: Project, run: Run) -> None:
    other = store.create_run(project.id)
    store.log_metrics(run.id, [Metric("a", 1.0, 0, 1), Metric("b", 1.0, 0, 1)])
    store.log_metrics(other.id, [Metric("a", 1.0, 0, 1)])
    assert (store.count_metric_points(run.id), store.count_metric_points(other.id)) == (2, 1)
    assert store.count_metric_points() == 3


def test_log_metrics_to_missing_run(store: TrackingStore) -> None:
    with pytest.raises(NotFound, match="run 'nope' not found"):
        store.log_metrics("nope", [Metric("m", 1.0, 0, 1)])


# --- inputs and artifacts --------------------------------------------------------------------


def test_inputs(store: TrackingStore, run: Run) -> None:
    train = RunInput(name="iris", version="v1", digest="sha256:aa", context="training")
    test = RunInput(name="iris", version="v1", digest="sha256:aa", context="test")
    store.log_inputs(run.id, [train, test])
    store.log_inputs(run.id, [train])  # idempotent
    store.log_inputs(run.id, [RunInput(name="raw")])
    assert sorted(store.get_run(run.id).inputs, key=lambda i: (i.name, i.context or "")) == [
        test,
        train,
        RunInput(name="raw"),
    ]


def test_artifacts(store: TrackingStore, run: Run) -> None:
    entries = [
        ArtifactEntry(path="model/model.pkl", digest="sha256:1", size=10),
        ArtifactEntry(path="model/conda.yaml", digest="sha256:2", size=20),
        ArtifactEntry(path="modelcard.md", digest="sha256:3", size=30),
        ArtifactEntry(path="plots/roc.png", digest="sha256:4", size=40),
    ]
    store.add_artifacts(run.id, entries)
    store.add_artifacts(run.id, [ArtifactEntry(path="model/model.pkl", digest="sha256:9", size=11)])
    listed = store.list_artifacts(run.id)
    assert [e.path for e in listed] == ["model/conda.yaml", "model/model.pkl", "modelcard.md", "plots/roc.png"]
    assert listed[1].digest == "sha256:9" and listed[1].size == 11
    assert [e.path for e in store.list_artifacts(run.id, "model")] == ["model/conda.yaml", "model/model.pkl"]
    assert [e.path for e in store.list_artifacts(run.id, "model/")] == ["model/conda.yaml", "model/model.pkl"]
    assert store.list_artifacts(run.id, "nothing") == []
    with pytest.raises(InvalidArgument):
        store.add_artifacts(run.id, [ArtifactEntry(path="../escape", digest="x", size=1)])
    with pytest.raises(NotFound):
        store.list_artifacts("missing")


# --- search ----------------------------------------------------------------------------------


@pytest.fixture
def populated(store: TrackingStore, project: Project) -> Project:
    """Six runs: a..f. lr is a param ('abc' for f, missing for e), acc a metric (missing for d)."""
    spec = {
        "a": ({"lr": "0.1", "opt": "adam"}, {"acc": 0.9, "loss": 0.1}, {"team": "vision"}, "FINISHED"),
        "b": ({"lr": "0.01", "opt": "sgd"}, {"acc": 0.7}, {"team": "nlp"}, "FINISHED"),
        "c": ({"lr": "1e-3", "opt": "Adam"}, {"acc": 0.5}, {"team": "vision"}, "FAILED"),
        "d": ({"lr": "0.5", "opt": "sgd"}, {}, {}, "RUNNING"),
        "e": ({"opt": "adamw"}, {"acc": 0.95}, {"team": "nlp", "prod": "yes"}, "FINISHED"),
        "f": ({"lr": "abc"}, {"acc": math.nan}, {}, "KILLED"),
    }
    for i, (name, (params, metrics, tags, status)) in enumerate(spec.items()):
        r = store.create_run(project.id, name=name, start_time=1000 + i, tags=tags)
        store.log_params(r.id, params)
        store.log_metrics(r.id, [Metric(k, v, 0, 1) for k, v in metrics.items()])
        store.update_run(r.id, status=RunStatus(status))
    other = store.create_project("other-project")
    store.create_run(other.id, name="elsewhere")
    return project


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("metrics.acc > 0.6", "abe"),
        ("metrics.acc >= 0.7", "abe"),
        ("metrics.acc < 0.7", "c"),
        ("metrics.acc <= 0.7", "bc"),
        ("metrics.acc = 0.5", "c"),
        ("metrics.acc != 0.5", "abef"),  # f is NaN: NaN != 0.5 is true (MLflow)
        ("metrics.acc IN (0.5, 0.9)", "ac"),
        ("metrics.acc IS NULL", "d"),
        ("metrics.loss IS NOT NULL", "a"),
        ("params.lr = '0.1'", "a"),
        ("params.lr = 0.1", "a"),
        ("params.lr != '0.1'", "bcdf"),
        ("params.lr > 0.05", "ad"),
        ("params.lr <= 0.01", "bc"),
        ("params.lr < 1", "abcd"),
        ("params.opt LIKE 'adam%'", "ae"),
        ("params.opt ILIKE 'adam%'", "ace"),
        ("params.opt NOT LIKE 'adam%'", "bcd"),
        ("params.opt IN ('sgd', 'Adam')", "bcd"),
        ("params.opt NOT IN ('sgd', 'Adam')", "ae"),
        ("params.lr IS NULL", "e"),
        ("tags.team = 'vision'", "ac"),
        ("tags.team IS NULL", "df"),
        ("tags.prod IS NOT NULL", "e"),
        ("status = 'FINISHED'", "abe"),
        ("status IN ('FAILED', 'KILLED')", "cf"),
        ("name LIKE '%b%'", "b"),
        ("start_time >= 1003", "def"),
        ("attributes.end_time IS NULL", "abcdef"),
        ("metrics.acc > 0.6 AND params.opt = 'sgd'", "b"),
        ("metrics.acc > 0.8 OR tags.team = 'nlp'", "abe"),
        ("(metrics.acc > 0.8 OR tags.team = 'nlp') AND params.lr IS NOT NULL", "ab"),
        ("metrics.acc > 0.8 OR (tags.team = 'nlp' AND params.lr IS NOT NULL)", "abe"),
        ("NOT params.opt = 'sgd'", "acef"),
        ("NOT (status = 'FINISHED' OR status = 'RUNNING')", "cf"),
    ],
)
def test_search_filters(store: TrackingStore, populated: Project, flt: str, expected: str) -> None:
    found = search(store, populated, flt, order_by=["name"])
    assert "".join(str(n) for n in names(found)) == expected


def test_search_by_run_id_and_project(store: TrackingStore, populated: Project) -> None:
    everything = search(store, populated)
    first = everything[0]
    assert search(store, populated, f"run_id = '{first.id}'") == [first]
    assert search(store, populated, f"project_id = '{populated.id}'") == everything
    all_projects = store.search_runs(RunQuery(project_ids=[])).runs
    assert "elsewhere" in names(all_projects) and len(all_projects) == 7


def test_search_errors(store: TrackingStore, populated: Project) -> None:
    with pytest.raises(InvalidArgument):
        search(store, populated, "metrics.acc = 'abc'")
    with pytest.raises(InvalidArgument):
        search(store, populated, "start_time = 'yesterday'")
    with pytest.raises(FilterSyntaxError):
        search(store, populated, "metrics.acc >")
    with pytest.raises(InvalidArgument):
        search(store, populated, page_token="not-a-token")
    with pytest.raises(InvalidArgument):
        search(store, populated, max_results=0)


def test_search_order(store: TrackingStore, populated: Project) -> None:
    assert names(search(store, populated)) == list("fedcba")  # default: start_time DESC
    assert names(search(store, populated, order_by=["start_time"])) == list("abcdef")
    # runs without the key (d) and with a NaN latest value (f) sort last in both directions
    desc = names(search(store, populated, order_by=["metrics.acc DESC"]))
    asc = names(search(store, populated, order_by=["metrics.acc ASC"]))
    assert desc[:4] == list("eabc") and set(desc[4:]) == {"d", "f"}
    assert asc[:4] == list("cbae") and set(asc[4:]) == {"d", "f"}
    assert names(search(store, populated, order_by=["params.lr"])) == list("badcfe")
    assert names(search(store, populated, order_by=["params.lr DESC"])) == list("fcdabe")
    assert names(search(store, populated, order_by=["tags.team", "name DESC"])) == list("ebcafd")


def test_search_ties_break_by_run_id(store: TrackingStore, project: Project) -> None:
    ids = [store.create_run(project.id, start_time=5).id for _ in range(5)]
    assert [r.id for r in search(store, project)] == sorted(ids)


def test_paging_covers_every_run_once(store: TrackingStore, project: Project) -> None:
    ids = {store.create_run(project.id, start_time=i % 3).id for i in range(11)}
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        result = store.search_runs(RunQuery(project_ids=[project.id], max_results=3, page_token=token))
        seen.extend(r.id for r in result.runs)
        pages += 1
        token = result.next_page_token
        if token is None:
            break
    assert pages == 4 and len(seen) == 11 and set(seen) == ids


def test_search_include_flags(store: TrackingStore, populated: Project) -> None:
    query = RunQuery(
        project_ids=[populated.id],
        filter="name = 'a'",
        include_metrics=False,
        include_params=False,
        include_tags=False,
    )
    (only,) = store.search_runs(query).runs
    assert only.params == {} and only.metrics == {} and only.tags == {}
    (full,) = search(store, populated, "name = 'a'")
    assert full.params == {"lr": "0.1", "opt": "adam"} and full.metric_values() == {"acc": 0.9, "loss": 0.1}
    assert full == store.get_run(full.id)


# --- maintenance and errors ------------------------------------------------------------------


def test_check_healthy_store(store: TrackingStore, populated: Project) -> None:
    assert store.check() == []


def test_check_detects_orphans(store: TrackingStore, store_uri: str, populated: Project) -> None:
    if store_uri.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(store_uri.removeprefix("sqlite:///"))  # foreign keys are off by default
        conn.execute("INSERT INTO params (run_id, key, value) VALUES ('ghost', 'k', 'v')")
        conn.commit()
        conn.close()
    elif store_uri.startswith("postgres"):
        import psycopg

        with psycopg.connect(store_uri, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")  # skips foreign key triggers
            conn.execute("INSERT INTO params (run_id, key, value) VALUES ('ghost', 'k', 'v')")
    else:
        pytest.skip("needs direct SQL access")
    problems = store.check()
    assert any("params" in p for p in problems), problems


def test_reopen_is_cheap_and_keeps_data(store: TrackingStore, store_uri: str, run: Run, tmp_path: Path) -> None:
    store.log_params(run.id, {"a": "1"})
    again = stores_for(store_uri, tmp_path / "again").tracking
    try:
        assert again.get_run(run.id).params == {"a": "1"}
    finally:
        again.close()


def test_unreachable_uri_is_store_unavailable(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        uri = f"sqlite:///{blocker}/sub/store.db"
    elif backend == "postgres":
        uri = "postgresql://postgres@127.0.0.1:1/nothing"
    else:
        pytest.skip("no unreachable URI for this backend")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        stores_for(uri, tmp_path)
    assert "\n" not in str(info.value)
    assert time.monotonic() - started < 30


# --- SQL backends: migrations ----------------------------------------------------------------


def _sql_store(store: TrackingStore) -> SqlTrackingStore:
    if not isinstance(store, SqlTrackingStore):
        pytest.skip("SQL backends only")
    return store


def test_schema_revision_is_the_migrations_head() -> None:
    assert head_revisions() == SCHEMA_HEADS


def test_migrated_schema_matches_table_definitions(store: TrackingStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    sql_store = _sql_store(store)
    with sql_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrade_is_idempotent(store: TrackingStore, project: Project) -> None:
    sql_store = _sql_store(store)
    sql_store.upgrade()
    sql_store.upgrade()
    assert store.get_project(project.id) == project
    assert store.check() == []


def test_concurrent_first_opens_migrate_once(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'fresh' / 'store.db'}"
    elif backend == "postgres":
        uri = str(request.getfixturevalue("postgres_empty_uri"))
    else:
        pytest.skip("SQL backends only")
    opened: list[TrackingStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(stores_for(uri, tmp_path).tracking)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert opened[0].check() == []
    for each in opened:
        each.close()


def test_import_runs_writes_whole_runs_once(store: TrackingStore, project: Project, run: Run) -> None:
    def record(name: str, value: float) -> tuple[Run, list[Metric]]:
        imported = Run(
            id=new_id(),
            project_id=project.id,
            name=name,
            status=RunStatus.FINISHED,
            start_time=1000,
            end_time=2000,
            parent_run_id=run.id,
            params={"x": str(value)},
            tags={"kind": "trial"},
        )
        return imported, [Metric("objective", value, 0, 1500), Metric("objective", value / 2, 1, 1600)]

    records = [record(f"t{i}", float(i)) for i in range(5)]
    store.import_runs(records)
    store.import_runs(records)  # a retried import adds nothing
    for imported, history in records:
        stored = store.get_run(imported.id)
        assert stored.status == RunStatus.FINISHED and stored.end_time == 2000
        assert stored.parent_run_id == run.id and stored.params == imported.params
        assert stored.tags["kind"] == "trial" and stored.metrics["objective"].step == 1
        assert [p.value for p in store.get_metric_history(imported.id, "objective")] == [m.value for m in history]
    children = store.search_runs(RunQuery(project_ids=[project.id], filter=f"parent_run_id = '{run.id}'"))
    assert len(children.runs) == 5
    orphan = Run(id=new_id(), project_id=project.id, start_time=1, parent_run_id=new_id())
    with pytest.raises(NotFound):
        store.import_runs([(orphan, [])])
    with pytest.raises(NotFound):
        store.get_run(orphan.id)
