"""The fluent SDK end to end on the embedded default (SQLite + local artifacts under MODELYARD_HOME)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import modelyard
from modelyard.core.errors import Conflict, FilterSyntaxError, InvalidArgument, NotFound


@pytest.fixture(autouse=True)
def fresh_sdk(modelyard_home: Path):
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_synchronous(False)
    modelyard.set_project("sdk-tests")
    yield modelyard_home
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


def test_run_lifecycle_params_metrics_tags(fresh_sdk: Path) -> None:
    with modelyard.start_run(name="first", tags={"team": "a"}) as run:
        assert modelyard.active_run() is not None and modelyard.active_run().id == run.id
        modelyard.log_param("lr", 0.1)
        modelyard.log_params({"depth": 3, "model": "rf"})
        for step in range(100):
            modelyard.log_metric("loss", 1.0 / (step + 1), step=step)
        modelyard.log_metrics({"acc": 0.9, "f1": 0.8})
        modelyard.set_tag("stage", "dev")
    assert modelyard.active_run() is None
    stored = modelyard.get_run(run.id)
    assert stored.status == modelyard.RunStatus.FINISHED
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    assert stored.params == {"lr": "0.1", "depth": "3", "model": "rf"}
    assert stored.tags["team"] == "a" and stored.tags["stage"] == "dev"
    assert "modelyard.python" in stored.tags
    assert stored.metrics["loss"].value == pytest.approx(0.01)
    assert stored.metrics["loss"].step == 99
    history = modelyard.get_metric_history(run.id, "loss")
    assert [p.step for p in history] == list(range(100))
    assert (fresh_sdk / "modelyard.db").exists()


def test_step_defaults_to_previous_plus_one() -> None:
    with modelyard.start_run() as run:
        for value in (3.0, 2.0, 1.0):
            modelyard.log_metric("loss", value)
    assert [(p.step, p.value) for p in modelyard.get_metric_history(run.id, "loss")] == [(0, 3.0), (1, 2.0), (2, 1.0)]


def test_nan_and_inf_are_stored_faithfully() -> None:
    with modelyard.start_run() as run:
        modelyard.log_metric("x", float("nan"), step=0)
        modelyard.log_metric("x", float("inf"), step=1)
        modelyard.log_metric("x", float("-inf"), step=2)
    values = [p.value for p in modelyard.get_metric_history(run.id, "x")]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


def test_exception_inside_run_marks_it_failed_and_keeps_metrics() -> None:
    with pytest.raises(RuntimeError), modelyard.start_run() as run:
        modelyard.log_metric("loss", 0.5)
        raise RuntimeError("boom")
    stored = modelyard.get_run(run.id)
    assert stored.status == modelyard.RunStatus.FAILED
    assert stored.metrics["loss"].value == 0.5


def test_nested_runs_record_their_parent() -> None:
    with modelyard.start_run(name="parent") as parent:
        with pytest.raises(InvalidArgument):
            modelyard.start_run(name="not nested")
        with modelyard.start_run(name="child", nested=True) as child:
            modelyard.log_metric("m", 1.0)
        assert modelyard.active_run().id == parent.id
    assert modelyard.get_run(child.id).parent_run_id == parent.id
    frame = modelyard.search_runs(filter=f"parent_run_id = '{parent.id}'")
    assert list(frame["run_id"]) == [child.id]


def test_param_is_immutable() -> None:
    with modelyard.start_run() as run:
        modelyard.log_param("lr", 0.1)
        modelyard.log_param("lr", 0.1)  # same value again is fine
        with pytest.raises(Conflict):
            modelyard.log_param("lr", 0.2)
    assert modelyard.get_run(run.id).params["lr"] == "0.1"


def test_invalid_keys_and_values_are_rejected() -> None:
    with modelyard.start_run():
        with pytest.raises(InvalidArgument):
            modelyard.log_metric("../escape", 1.0)
        with pytest.raises(InvalidArgument):
            modelyard.log_metric("ok", "not a number")
        with pytest.raises(InvalidArgument):
            modelyard.log_param("", 1)
        with pytest.raises(InvalidArgument):
            modelyard.log_metric("ok", 1.0, step="three")


def test_logging_without_a_run_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="no active run"):
        modelyard.log_metric("x", 1.0)


def test_unknown_run_is_not_found() -> None:
    with pytest.raises(NotFound):
        modelyard.get_run("0" * 32)


def test_search_runs_dataframe_filter_order(fresh_sdk: Path) -> None:
    for i, model in enumerate(["rf", "lr", "rf", "gb"]):
        with modelyard.start_run(name=f"r{i}"):
            modelyard.log_params({"model": model, "i": i})
            modelyard.log_metric("acc", 0.5 + i / 10)
            modelyard.set_tag("team", "x" if i % 2 else "y")
    frame = modelyard.search_runs(filter="params.model = 'rf' OR metrics.acc >= 0.8", order_by=["metrics.acc DESC"])
    assert list(frame["name"]) == ["r3", "r2", "r0"]
    assert {"run_id", "params.model", "metrics.acc", "tags.team"} <= set(frame.columns)
    assert frame["metrics.acc"].tolist() == pytest.approx([0.8, 0.7, 0.5])
    top = modelyard.search_runs(order_by="metrics.acc ASC", max_results=2)
    assert list(top["name"]) == ["r0", "r1"]
    with pytest.raises(FilterSyntaxError) as info:
        modelyard.search_runs(filter="metrics.acc >")
    assert info.value.position == len("metrics.acc >")


def test_artifacts_round_trip(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("hello")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "sub" / "b.txt").write_text("b")
    with modelyard.start_run() as run:
        modelyard.log_artifact(report)
        modelyard.log_artifacts(folder, artifact_path="plots")
        modelyard.log_text("notes", "notes/readme.md")
    paths = [a.path for a in modelyard.list_artifacts(run.id)]
    assert paths == ["notes/readme.md", "plots/a.csv", "plots/sub/b.txt", "report.txt"]
    out = modelyard.download_artifacts(run.id, "plots", tmp_path / "out")
    assert (out / "sub" / "b.txt").read_text() == "b"
    single = modelyard.download_artifacts(run.id, "report.txt", tmp_path / "out2")
    assert single.read_text() == "hello"


def test_synchronous_mode_writes_before_returning() -> None:
    with modelyard.start_run(synchronous=True) as run:
        modelyard.log_metric("x", 1.0)
        client = modelyard.TrackingClient()
        assert client.store.count_metric_points(run.id) == 1
    modelyard.set_synchronous(False)


def test_log_batch_is_all_or_nothing() -> None:
    with modelyard.start_run() as run:
        good = modelyard.Metric("a", 1.0, 0, 1)
        with pytest.raises(InvalidArgument):
            modelyard.log_batch([good, ("bad/../key", 1.0, 0, 1)])
        modelyard.log_batch([good], params={"p": 1}, tags={"t": "v"})
    stored = modelyard.get_run(run.id)
    assert stored.params == {"p": "1"} and stored.tags["t"] == "v"
    assert len(modelyard.get_metric_history(run.id, "a")) == 1


def test_resume_run_by_id() -> None:
    with modelyard.start_run(name="resumable") as run:
        modelyard.log_metric("x", 1.0, step=0)
    with modelyard.start_run(run_id=run.id):
        modelyard.log_metric("x", 2.0, step=1)
    assert [p.value for p in modelyard.get_metric_history(run.id, "x")] == [1.0, 2.0]
