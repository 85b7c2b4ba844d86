"""Hyperparameter tuning on Optuna, every trial tracked as a child run of the tuning run.

Optuna does the searching (samplers, pruners, define-by-run); modelyard records each trial as a
child run: its params, the values it reported (as the history of the objective metric), its
final value, and how it ended — FINISHED, KILLED when pruned, FAILED when the objective raised.
A trial costs three store transactions (create, one batch of params/metrics/tags, end), which
is what keeps the per-trial overhead small.

Trials run on an executor (``modelyard.compute``) chosen by configuration: ``backend="local"``
runs them in this process (inline, or ``n_jobs`` threads), ``backend="ray"`` on a Ray cluster.
Either way the driver asks Optuna for params (ask-and-tell), records the runs and tells the study
each result as it completes; an executor that runs tasks elsewhere only evaluates
``objective(params)``, so workers never touch the store and the same results land in the same
store whichever executor ran them.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.ids import new_id
from modelyard.core.tracking import LifecycleStage, Metric, Run, RunStatus, now_millis
from modelyard.core.validation import param_value_to_str

if TYPE_CHECKING:
    import optuna

    from modelyard.compute import Executor
    from modelyard.store.interfaces import TrackingStore

TAG_TRIAL = "modelyard.tune.trial"
TAG_STATE = "modelyard.tune.state"
TAG_ROLE = "modelyard.tune.role"


@dataclass
class TuneResult:
    """What ``tune`` found: the best trial's params, value and run, and the Optuna study itself."""

    parent_run_id: str
    best_params: dict[str, Any]
    best_value: float | None
    best_run_id: str | None
    study: optuna.Study
    trial_run_ids: dict[int, str] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return len(self.study.trials)


def suggest(trial: optuna.trial.BaseTrial, space: Mapping[str, Any]) -> dict[str, Any]:
    """Draw params from a declarative search space.

    - a list: categorical choices — ``"model": ["rf", "gb"]``
    - a 2-tuple of ints: an integer range — ``"depth": (2, 10)``
    - a 2-tuple with a float: a float range — ``"subsample": (0.5, 1.0)``
    - a dict: ``{"type": "float", "low": 1e-4, "high": 1e-1, "log": True}`` (type float|int|categorical,
      optional ``step``/``log``/``choices``)
    - an Optuna distribution object
    """
    import optuna

    params: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, optuna.distributions.BaseDistribution):
            params[name] = trial._suggest(name, spec)  # type: ignore[attr-defined]
        elif isinstance(spec, list):
            if not spec:
                raise InvalidArgument(f"search space {name!r}: an empty list of choices")
            params[name] = trial.suggest_categorical(name, spec)
        elif isinstance(spec, tuple) and len(spec) == 2:
            low, high = spec
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
                params[name] = trial.suggest_int(name, low, high)
            else:
                params[name] = trial.suggest_float(name, float(low), float(high))
        elif isinstance(spec, Mapping):
            kind = spec.get("type", "float")
            if kind == "float":
                params[name] = trial.suggest_float(
                    name, spec["low"], spec["high"], step=spec.get("step"), log=spec.get("log", False)
                )
            elif kind == "int":
                params[name] = trial.suggest_int(
                    name, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False)
                )
            elif kind == "categorical":
                params[name] = trial.suggest_categorical(name, list(spec["choices"]))
            else:
                raise InvalidArgument(f"search space {name!r}: unknown type {kind!r} (float, int, categorical)")
        else:
            raise InvalidArgument(
                f"search space {name!r}: expected a list, a (low, high) tuple, a dict or an Optuna distribution"
            )
    return params


class TrackedTrial:
    """The trial handed to a define-by-run objective: Optuna's trial, with ``report`` also
    recording the value as a point of the objective metric's history."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self._trial = trial
        self._metric = metric
        self.points: list[Metric] = []

    def report(self, value: float, step: int) -> None:
        self._trial.report(value, step)
        self.points.append(Metric(self._metric, float(value), int(step), now_millis()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


def _accepts_trial(objective: Callable[..., Any]) -> bool:
    try:
        return len(inspect.signature(objective).parameters) >= 2
    except (TypeError, ValueError):
        return False


class _TrialRecorder:
    """Records trials as child runs, written in batches: a finished trial is queued and every
    ``FLUSH_EVERY`` trials (or ``FLUSH_SECONDS``, and at the end) the queue becomes one
    ``import_runs`` transaction. Run ids are generated here, so a trial's run id is known the
    moment it starts, before anything is written."""

    FLUSH_EVERY = 100
    FLUSH_SECONDS = 1.0

    def __init__(self, store: TrackingStore, project_id: str, parent_run_id: str, metric: str) -> None:
        self.store = store
        self.project_id = project_id
        self.parent_run_id = parent_run_id
        self.metric = metric
        self.run_ids: dict[int, str] = {}
        self._started: dict[str, tuple[int, int]] = {}
        self._pending: list[tuple[Run, list[Metric]]] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def start(self, number: int) -> str:
        run_id = new_id()
        with self._lock:
            self.run_ids[number] = run_id
            self._started[run_id] = (number, now_millis())
        return run_id

    def finish(
        self,
        run_id: str,
        params: Mapping[str, Any],
        value: float | None,
        points: list[Metric],
        state: str,
        status: RunStatus,
        extra_tags: Mapping[str, str] | None = None,
    ) -> None:
        metrics = list(points)
        if value is not None:
            last_step = max((p.step for p in points), default=-1) + 1
            metrics.append(Metric(self.metric, float(value), last_step, now_millis()))
        with self._lock:
            number, started = self._started.pop(run_id)
        tags = {TAG_TRIAL: str(number), TAG_ROLE: "trial", TAG_STATE: state, **(extra_tags or {})}
        run = Run.model_construct(
            id=run_id,
            project_id=self.project_id,
            name=f"trial-{number}",
            status=status,
            start_time=started,
            end_time=now_millis(),
            parent_run_id=self.parent_run_id,
            lifecycle_stage=LifecycleStage.ACTIVE,
            notes=None,
            params={k: param_value_to_str(v) for k, v in params.items()},
            tags=tags,
            metrics={},
            inputs=[],
        )
        with self._lock:
            self._pending.append((run, metrics))
            due = len(self._pending) >= self.FLUSH_EVERY or time.monotonic() - self._last_flush >= self.FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the queued trials; if the store refuses, they stay queued for the next flush
        (``import_runs`` is idempotent, so a retry cannot duplicate them)."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if not batch:
            return
        try:
            self.store.import_runs(batch)
        except Exception:
            with self._lock:
                self._pending = batch + self._pending
            raise


def _value_of(result: Any) -> float:
    try:
        value = float(result)
    except (TypeError, ValueError):
        raise InvalidArgument(f"the objective must return a number, not {type(result).__name__}")
    return value


def run_study(
    objective: Callable[..., Any],
    *,
    store: TrackingStore,
    project_id: str,
    parent_run_id: str,
    search_space: Mapping[str, Any] | None = None,
    n_trials: int = 100,
    direction: str = "minimize",
    metric: str = "objective",
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    n_jobs: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    max_concurrent: int | None = None,
    timeout: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
) -> TuneResult:
    """Run an Optuna study whose trials are child runs of ``parent_run_id``.

    The trials run on ``executor``, or on the one ``backend`` configures (``n_jobs`` workers
    locally; ``ray_address`` and ``max_concurrent`` on Ray); an executor opened here is shut
    down here."""
    import optuna

    from modelyard import compute

    if n_trials < 1:
        raise InvalidArgument(f"n_trials must be at least 1, not {n_trials}")
    if direction not in ("minimize", "maximize"):
        raise InvalidArgument(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    if executor is None and backend not in compute.BACKENDS:
        raise InvalidArgument(f"unknown tuning backend {backend!r}: expected one of {', '.join(compute.BACKENDS)}")
    in_process = executor.in_process if executor is not None else compute.executor_class(backend).in_process
    if search_space is None and not in_process:
        name = executor.name if executor is not None else backend
        raise InvalidArgument(
            f"backend={name!r} runs trials out of this process: it needs a search_space "
            "(define-by-run objectives run locally)"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
    recorder = _TrialRecorder(store, project_id, parent_run_id, metric)
    own = executor is None
    if executor is None:
        workers = max_concurrent if backend == "ray" else (n_jobs if n_jobs > 0 else os.cpu_count() or 1)
        executor = compute.open_executor(backend, max_workers=workers, address=ray_address)
    try:
        _run_trials(executor, objective, study, recorder, search_space, n_trials, timeout, progress)
    finally:
        recorder.flush()  # what ran is recorded, even when the study was interrupted
        if own:
            executor.shutdown(wait=False, cancel_pending=True)
    return _result(study, recorder, parent_run_id)


# A trial's outcome, as a task returns it: (status, value or error text, params).
_Outcome = tuple[str, Any, dict[str, Any]]


def _remote_trial(objective: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> _Outcome:
    """A trial evaluated out of this process (pickled to a worker): never raises, so one failing
    trial cannot fail the study."""
    try:
        return "ok", _value_of(objective(params)), params
    except Exception as exc:  # reported back to the driver and recorded on the trial's run
        return "error", f"{type(exc).__name__}: {exc}", params


def _local_trial(
    objective: Callable[..., Any], tracked: TrackedTrial, search_space: Mapping[str, Any] | None, with_trial: bool
) -> _Outcome:
    """A trial evaluated in this process: the objective may take the trial (define-by-run,
    ``report`` and pruning)."""
    import optuna

    params: dict[str, Any] = {}
    try:
        if search_space is not None:
            params = suggest(tracked._trial, search_space)
            value = _value_of(objective(params, tracked) if with_trial else objective(params))
        else:
            value = _value_of(objective(tracked))
            params = dict(tracked.params)
    except optuna.TrialPruned:
        return "pruned", None, params or dict(tracked.params)
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}", params or dict(tracked.params)
    return "ok", value, params


def _run_trials(
    executor: Executor,
    objective: Callable[..., Any],
    study: optuna.Study,
    recorder: _TrialRecorder,
    search_space: Mapping[str, Any] | None,
    n_trials: int,
    timeout: float | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Ask, submit, tell: at most ``executor.capacity`` trials in flight; after ``timeout``
    seconds no new trial starts (those running finish)."""
    from optuna.trial import TrialState

    tell = _teller(study)
    with_trial = _accepts_trial(objective)
    remote = functools.partial(_remote_trial, objective)  # one object: Ray puts it in its store once
    deadline = None if timeout is None else time.monotonic() + timeout
    in_flight: dict[Future[_Outcome], tuple[optuna.Trial, str, TrackedTrial]] = {}
    asked = done = 0
    try:
        while True:
            while (
                asked < n_trials
                and len(in_flight) < executor.capacity
                and (deadline is None or time.monotonic() < deadline)
            ):
                trial = study.ask()
                asked += 1
                tracked = TrackedTrial(trial, recorder.metric)
                run_id = recorder.start(trial.number)
                try:
                    future = _submit(executor, remote, objective, tracked, search_space, with_trial)
                except BaseException:  # an interrupt inside an inline trial
                    tell(trial, None, TrialState.FAIL)
                    raise
                in_flight[future] = (trial, run_id, tracked)
            if not in_flight:
                return
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                trial, run_id, tracked = in_flight.pop(future)
                status, payload, params = future.result()
                if status == "ok":
                    tell(trial, payload, None)  # NaN: Optuna marks the trial failed
                    state = "COMPLETE" if not math.isnan(payload) else "FAIL"
                    recorder.finish(run_id, params, payload, tracked.points, state, RunStatus.FINISHED)
                elif status == "pruned":
                    tell(trial, None, TrialState.PRUNED)
                    recorder.finish(run_id, params, None, tracked.points, "PRUNED", RunStatus.KILLED)
                else:
                    tell(trial, None, TrialState.FAIL)
                    error = {"modelyard.tune.error": str(payload)[:2000]}
                    recorder.finish(run_id, params, None, tracked.points, "FAIL", RunStatus.FAILED, error)
                done += 1
                if progress is not None:
                    progress(done, n_trials)
    finally:
        for future, (trial, _, _) in in_flight.items():  # interrupted: the unfinished trials failed
            executor.cancel(future)
            tell(trial, None, TrialState.FAIL)


def _teller(study: optuna.Study) -> Callable[[optuna.Trial, float | None, Any], None]:
    """``study.tell`` without the deep copy of the finished trial it returns (what Optuna's own
    ``optimize`` calls; the copy costs as much as the rest of a trivial trial's bookkeeping)."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:  # pragma: no cover - a future Optuna that moved it: the public call
        _tell_with_warning = None  # type: ignore[assignment]

    def tell(trial: optuna.Trial, value: float | None, state: Any) -> None:
        if _tell_with_warning is None:  # pragma: no cover
            study.tell(trial, value, state)
        else:
            _tell_with_warning(study=study, trial=trial, value_or_values=value, state=state)

    return tell


def _submit(
    executor: Executor,
    remote: Callable[[dict[str, Any]], _Outcome],
    objective: Callable[..., Any],
    tracked: TrackedTrial,
    search_space: Mapping[str, Any] | None,
    with_trial: bool,
) -> Future[_Outcome]:
    if executor.in_process:
        return executor.submit(_local_trial, objective, tracked, search_space, with_trial)
    assert search_space is not None  # checked by run_study
    return executor.submit(remote, suggest(tracked._trial, search_space))


def _result(study: optuna.Study, recorder: _TrialRecorder, parent_run_id: str) -> TuneResult:
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return TuneResult(parent_run_id, {}, None, None, study, recorder.run_ids)
    best = study.best_trial
    return TuneResult(
        parent_run_id=parent_run_id,
        best_params=dict(best.params),
        best_value=best.value,
        best_run_id=recorder.run_ids.get(best.number),
        study=study,
        trial_run_ids=recorder.run_ids,
    )


def summary_tags(result: TuneResult, elapsed: float) -> dict[str, str]:
    tags = {
        TAG_ROLE: "study",
        "modelyard.tune.n_trials": str(result.n_trials),
        "modelyard.tune.seconds": f"{elapsed:.3f}",
    }
    if result.best_run_id:
        tags["modelyard.tune.best_run_id"] = result.best_run_id
    return tags
