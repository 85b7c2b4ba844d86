"""modelyard.tune: Optuna trials as child runs, pruning, failures, and the Ray backend."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

import modelyard
from modelyard.core.errors import InvalidArgument
from tests.conftest import IN_CI


@pytest.fixture(autouse=True)
def sdk(modelyard_home: Path):
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("tuning")
    yield
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


def quadratic(params: dict) -> float:
    return (params["x"] - 2.0) ** 2 + (0 if params["kind"] == "a" else 1.0)


def test_every_trial_is_a_child_run_and_best_is_found() -> None:
    result = modelyard.tune(
        quadratic,
        {"x": (-10.0, 10.0), "kind": ["a", "b"]},
        n_trials=40,
        sampler=optuna.samplers.TPESampler(seed=1),
        show_progress=False,
    )
    assert result.n_trials == 40
    parent = modelyard.get_run(result.parent_run_id)
    assert parent.status == modelyard.RunStatus.FINISHED
    assert parent.tags["modelyard.tune.best_run_id"] == result.best_run_id
    frame = modelyard.search_runs(filter=f"parent_run_id = '{result.parent_run_id}'", max_results=100)
    assert len(frame) == 40
    best_row = frame.sort_values("metrics.objective").iloc[0]
    assert best_row["run_id"] == result.best_run_id
    assert best_row["metrics.objective"] == pytest.approx(result.best_value)
    assert float(best_row["params.x"]) == pytest.approx(result.best_params["x"])
    assert result.best_value < 1.0
    assert parent.metrics["best_objective"].value == pytest.approx(result.best_value)


def test_define_by_run_with_pruning_records_history_and_killed_trials() -> None:
    def objective(trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        loss = 1.0
        for step in range(10):
            loss = loss * (1 - lr)
            trial.report(loss, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss

    with modelyard.start_run(name="sweep") as run:
        result = modelyard.tune(
            objective,
            n_trials=30,
            pruner=optuna.pruners.MedianPruner(n_warmup_steps=2),
            sampler=optuna.samplers.RandomSampler(seed=0),
            show_progress=False,
        )
    assert result.parent_run_id == run.id
    states = {t.number: t.state for t in result.study.trials}
    pruned = [n for n, s in states.items() if s == optuna.trial.TrialState.PRUNED]
    assert pruned, "the median pruner should prune some of 30 random trials"
    killed = modelyard.get_run(result.trial_run_ids[pruned[0]])
    assert killed.status == modelyard.RunStatus.KILLED
    assert killed.tags["modelyard.tune.state"] == "PRUNED"
    complete = next(n for n, s in states.items() if s == optuna.trial.TrialState.COMPLETE)
    history = modelyard.get_metric_history(result.trial_run_ids[complete], "objective")
    assert [p.step for p in history] == list(range(11))  # 10 reports + the final value


def test_failing_trials_are_recorded_and_do_not_stop_the_study() -> None:
    def sometimes_fails(params: dict) -> float:
        if params["x"] > 0.5:
            raise ValueError("diverged")
        return params["x"]

    result = modelyard.tune(
        sometimes_fails,
        {"x": (0.0, 1.0)},
        n_trials=20,
        sampler=optuna.samplers.RandomSampler(seed=3),
        show_progress=False,
    )
    failed = [t.number for t in result.study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and result.best_value is not None and result.best_value <= 0.5
    assert modelyard.get_run(result.trial_run_ids[failed[0]]).status == modelyard.RunStatus.FAILED


def test_bad_arguments_change_nothing() -> None:
    with pytest.raises(InvalidArgument):
        modelyard.tune(quadratic, {"x": (0.0, 1.0)}, n_trials=0, show_progress=False)
    with pytest.raises(InvalidArgument):
        modelyard.tune(quadratic, {"x": (0.0, 1.0)}, backend="spark", show_progress=False)
    with pytest.raises(InvalidArgument):
        modelyard.tune(lambda trial: 1.0, n_trials=2, backend="ray", show_progress=False)
    assert modelyard.active_run() is None


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
def test_ray_backend_lands_the_same_results_in_the_store() -> None:
    if not _ray_available():
        if IN_CI:
            pytest.fail("ray is not installed")
        pytest.skip("ray is not installed")
    result = modelyard.tune(
        quadratic,
        {"x": (-5.0, 5.0), "kind": ["a", "b"]},
        n_trials=12,
        backend="ray",
        max_concurrent=2,
        sampler=optuna.samplers.RandomSampler(seed=2),
        show_progress=False,
    )
    assert result.n_trials == 12
    frame = modelyard.search_runs(filter=f"parent_run_id = '{result.parent_run_id}'", max_results=100)
    assert len(frame) == 12
    assert set(frame["status"]) == {"FINISHED"}
    assert frame["metrics.objective"].min() == pytest.approx(result.best_value)


def test_trial_records_survive_a_failed_write() -> None:
    from modelyard.core.tracking import RunStatus
    from modelyard.tracking.tuning import _TrialRecorder

    class FlakyStore:
        def __init__(self) -> None:
            self.fail = True
            self.written: list[str] = []

        def import_runs(self, records: list) -> None:
            if self.fail:
                self.fail = False
                raise ConnectionError("store down")
            self.written.extend(run.id for run, _ in records)

    store = FlakyStore()
    recorder = _TrialRecorder(store, "p", "parent", "objective")  # type: ignore[arg-type]
    ids = [recorder.start(n) for n in range(3)]
    for run_id in ids:
        recorder.finish(run_id, {"x": 1}, 0.5, [], "COMPLETE", RunStatus.FINISHED)
    with pytest.raises(ConnectionError):
        recorder.flush()
    recorder.flush()
    assert store.written == ids
