"""``modelyard.tune``: Optuna studies whose trials are child runs of a tuning run."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from modelyard.core.tracking import Metric, RunStatus, now_millis
from modelyard.sdk import tracking
from modelyard.sdk.session import _session
from modelyard.tracking.tuning import TuneResult, run_study, summary_tags

if TYPE_CHECKING:
    import optuna


@contextlib.contextmanager
def _progress_bar(enabled: bool, n_trials: int) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("tuning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("tuning", total=n_trials)
        yield lambda done, _total: bar.update(task, completed=done)


def tune(
    objective: Callable[..., Any],
    search_space: Mapping[str, Any] | None = None,
    n_trials: int = 100,
    *,
    direction: str = "minimize",
    metric: str = "objective",
    backend: str = "local",
    name: str | None = None,
    project: str | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    n_jobs: int = 1,
    ray_address: str | None = None,
    max_concurrent: int | None = None,
    timeout: float | None = None,
    show_progress: bool = True,
) -> TuneResult:
    """Tune ``objective`` with Optuna; every trial becomes a child run of the tuning run.

    With ``search_space`` the objective receives the drawn params (``objective(params)``, or
    ``objective(params, trial)`` to report intermediate values for pruning); without it the
    objective is define-by-run and receives the trial (``trial.suggest_float(...)``,
    ``trial.report(value, step)``). The tuning run is the active run if there is one, otherwise
    a new run named ``name`` (default "tune") that ends when tuning ends. ``backend="ray"``
    evaluates trials in parallel on Ray (``ray_address``: ``ray://host:port`` or a local instance).
    """
    client = _session.client()
    parent = tracking.active_run()
    started = parent is None
    if parent is None:
        parent = tracking.start_run(name=name or "tune", project=project)
    parent_run = client.get_run(parent.id)
    begin = time.perf_counter()
    try:
        with _progress_bar(show_progress, n_trials) as progress:
            result = run_study(
                objective,
                store=client.store,
                project_id=parent_run.project_id,
                parent_run_id=parent.id,
                search_space=search_space,
                n_trials=n_trials,
                direction=direction,
                metric=metric,
                sampler=sampler,
                pruner=pruner,
                n_jobs=n_jobs,
                backend=backend,
                ray_address=ray_address,
                max_concurrent=max_concurrent,
                timeout=timeout,
                progress=progress,
            )
        metrics = (
            [Metric(f"best_{metric}", result.best_value, 0, now_millis())] if result.best_value is not None else []
        )
        client.log_batch(
            parent.id,
            metrics=metrics,
            tags=summary_tags(result, time.perf_counter() - begin),
            params={f"best.{k}": v for k, v in result.best_params.items()},
        )
    except BaseException:
        if started:
            tracking._end_runs(RunStatus.FAILED, run_id=parent.id, suppress_flush_errors=True)
        raise
    if started:
        tracking.end_run()
    return result
