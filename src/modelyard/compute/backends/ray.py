"""The Ray backend of ``tune``: trials evaluated in parallel on a Ray cluster.

The driver keeps Optuna and the store: it asks the study for params (``suggest`` on a search
space), records the child run, and submits only ``objective(params)`` to Ray; results come back
as they finish and are told to the study. Workers never touch the store, so a cluster needs no
access to the metadata database. ``ray_address`` is a ``ray://`` address or ``"auto"``; without
one a local Ray instance is started (and shut down again when we started it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from modelyard.core.entities import RunStatus
from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    import optuna

    from modelyard.tracking.tuning import _TrialRecorder


def _evaluate(objective: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> tuple[str, Any]:
    """Runs on a Ray worker: never raises, so one failing trial cannot fail the study."""
    try:
        return "ok", float(objective(params))
    except Exception as exc:  # reported back to the driver and recorded on the trial's run
        return "error", f"{type(exc).__name__}: {exc}"


def run_on_ray(
    objective: Callable[[dict[str, Any]], Any],
    study: optuna.Study,
    recorder: _TrialRecorder,
    search_space: Mapping[str, Any],
    n_trials: int,
    ray_address: str | None,
    max_concurrent: int | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    try:
        import ray
    except ImportError:
        raise InvalidArgument("backend='ray' needs Ray: pip install 'modelyard[ray]'") from None
    from modelyard.tracking.tuning import suggest

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=ray_address,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
            configure_logging=False,
        )
    try:
        remote = ray.remote(_evaluate)
        objective_ref = ray.put(objective)
        limit = max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))
        in_flight: dict[Any, tuple[optuna.trial.Trial, str, dict[str, Any]]] = {}
        asked = done = 0
        while done < n_trials:
            while asked < n_trials and len(in_flight) < limit:
                trial = study.ask()
                params = suggest(trial, search_space)
                run_id = recorder.start(trial.number)
                in_flight[remote.remote(objective_ref, params)] = (trial, run_id, params)
                asked += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                trial, run_id, params = in_flight.pop(ref)
                status, payload = ray.get(ref)
                if status == "ok" and not math.isnan(payload):
                    study.tell(trial, payload)
                    recorder.finish(run_id, params, payload, [], "COMPLETE", RunStatus.FINISHED)
                else:
                    from optuna.trial import TrialState

                    study.tell(trial, state=TrialState.FAIL)
                    error = {"modelyard.tune.error": str(payload)[:2000]} if status == "error" else {}
                    recorder.finish(run_id, params, None, [], "FAIL", RunStatus.FAILED, error)
                done += 1
                if progress is not None:
                    progress(done, n_trials)
    finally:
        if started_here:
            ray.shutdown()
