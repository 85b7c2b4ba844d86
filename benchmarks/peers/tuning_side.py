"""One side of the tuning benchmark; runs under either tool's python and prints one JSON line.

Both sides run the same trivial objective with Optuna's RandomSampler (seeded), so the search
itself costs the same; the difference between a tracked study and a bare Optuna study in the same
process is the tracking overhead per trial.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def objective_params(params: dict) -> float:
    return (params["x"] - 1.0) ** 2 + params["y"]


def bare(n: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        return objective_params({"x": trial.suggest_float("x", -5, 5), "y": trial.suggest_int("y", 0, 3)})

    start = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return time.perf_counter() - start


def modelyard_side(n: int, tmp: Path) -> tuple[float, int]:
    import optuna

    import modelyard

    modelyard.set_store_uri(f"sqlite:///{tmp / 'modelyard.db'}")
    modelyard.set_artifact_uri(str(tmp / "artifacts"))
    modelyard.set_project("bench")
    modelyard.TrackingClient()  # open (and migrate) the store before the clock starts
    start = time.perf_counter()
    result = modelyard.tune(
        objective_params,
        {"x": (-5.0, 5.0), "y": (0, 3)},
        n_trials=n,
        sampler=optuna.samplers.RandomSampler(seed=0),
        show_progress=False,
    )
    elapsed = time.perf_counter() - start
    frame = modelyard.search_runs(filter=f"parent_run_id = '{result.parent_run_id}'", max_results=n + 10)
    return elapsed, len(frame)


def mlflow_side(n: int, tmp: Path) -> tuple[float, int]:
    import mlflow
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench")  # create the schema before the clock starts
    callback = MLflowCallback(
        tracking_uri=uri,
        metric_name="objective",
        create_experiment=False,
        mlflow_kwargs={"experiment_id": mlflow.get_experiment_by_name("bench").experiment_id},
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        return objective_params({"x": trial.suggest_float("x", -5, 5), "y": trial.suggest_int("y", 0, 3)})

    start = time.perf_counter()
    study.optimize(objective, n_trials=n, callbacks=[callback])
    elapsed = time.perf_counter() - start
    runs = mlflow.search_runs(experiment_names=["bench"], max_results=n + 10)
    return elapsed, len(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=["modelyard", "mlflow"], required=True)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--tmp", type=Path, required=True)
    args = parser.parse_args()
    args.tmp.mkdir(parents=True, exist_ok=True)
    baseline = min(bare(args.trials) for _ in range(3))  # the search alone, at its least disturbed
    tracked, recorded = (modelyard_side if args.side == "modelyard" else mlflow_side)(args.trials, args.tmp)
    print(
        json.dumps(
            {
                "side": args.side,
                "trials": args.trials,
                "bare_s": baseline,
                "tracked_s": tracked,
                "overhead_ms_per_trial": max(tracked - baseline, 1e-9) / args.trials * 1000,
                "recorded_runs": recorded,
                "ok": recorded == args.trials,
            }
        )
    )


if __name__ == "__main__":
    main()
