"""The server's periodic background work, run by one thread started in the app's lifespan:

* continuous monitoring (``MODELYARD_MONITOR_INTERVAL_SECONDS``, ``modelyard server
  --monitor-every``): every monitor's due windows (``MonitoringService.run``);
* prediction-log retention (``MODELYARD_LOG_RETENTION_INTERVAL_SECONDS``, ``modelyard server
  --log-retention-every``, five minutes by default): every deployment with
  ``log_retention_days`` is pruned to it (``serving/hosting.LogRetention``).

Each job runs on its own period. The work is claimed through the database (monitoring windows,
each endpoint's log-maintenance lease), so any number of replicas run their loops and each piece
of work is done once. A failing run is logged and the loop goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelyard.store.bundle import Stores

__all__ = ["BackgroundLoop", "Job", "server_jobs"]

log = logging.getLogger("modelyard.server.background")


@dataclass
class Job:
    """One piece of periodic work: ``run`` every ``every_s`` seconds."""

    name: str
    every_s: float
    run: Callable[[], None]
    #: Runs completed (for health checks and tests).
    runs: int = 0
    next_at: float = 0.0


class BackgroundLoop:
    """One thread running each job when it is due (module docstring)."""

    def __init__(self, jobs: list[Job], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundLoop:
        self._thread = threading.Thread(target=self._run, name="modelyard-background", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for job in self.jobs.values():
                if self._stop.is_set():
                    return
                if self.clock() < job.next_at:
                    continue
                try:
                    job.run()
                except Exception:  # the loop must outlive a bad run
                    log.exception("background job %s failed", job.name)
                job.runs += 1
                job.next_at = self.clock() + job.every_s
            wait = min(job.next_at for job in self.jobs.values()) - self.clock()
            self._stop.wait(max(wait, 0.0))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def server_jobs(stores: Stores, *, monitor_every_s: float | None, log_retention_every_s: float | None) -> list[Job]:
    """The jobs a server runs over its ``stores`` (None: that job is off)."""
    jobs: list[Job] = []
    if monitor_every_s:
        from modelyard.monitoring.service import MonitoringService

        monitoring = MonitoringService(stores)

        def monitor() -> None:
            for error in monitoring.run().errors:
                log.warning("continuous monitoring: %s", error)

        jobs.append(Job("monitoring", monitor_every_s, monitor))
    if log_retention_every_s:
        from modelyard.registry.service import RegistryService
        from modelyard.serving.deployments import DeploymentService
        from modelyard.serving.hosting import LogRetention
        from modelyard.serving.logmaint import LogMaintainer

        def with_retention() -> list[str]:
            return [d.name for d in stores.serving.list_deployments() if d.spec.log_retention_days is not None]

        service = DeploymentService(stores.serving, RegistryService(stores.registry, stores.tracking, stores.artifacts))
        retention = LogRetention(service, LogMaintainer(stores), with_retention, every_s=log_retention_every_s)

        def prune() -> None:
            retention.run_once()

        jobs.append(Job("log-retention", log_retention_every_s, prune))
    return jobs
