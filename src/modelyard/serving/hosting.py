"""Serving deployments from the store: ``modelyard serve --deployment NAME``.

``DeploymentHost`` turns each deployment's current revision into an ``Endpoint`` (one loaded
``ModelHost`` per variant, from hash-verified artifacts) and keeps it current: a thread polls the
store about once a second (one small read per deployment), first asking ``DeploymentService.refresh``
to follow variants given by an alias or a state (a moved alias becomes a "refresh" revision), then
comparing revisions. On a new revision it loads the models that changed *before* swapping —
unchanged versions keep their loaded host — and then swaps the whole endpoint atomically with
``ServingState.set_endpoint``; requests in flight finish on the old hosts, so a change under load
fails no request. A revision whose models cannot be loaded is not served (the old one stays, the
error is logged); a deleted deployment stops being served.

Every tick the SLO's windows (``serving/slo.py``) are sampled: each worker publishes its request,
5xx and latency counts per deployment with an SLO (none for the others) to the serving store and
reads every worker's, so a window counts the deployment's whole traffic, every worker and replica
on that metadata store. One worker judges each deployment — the holder of its judge lease in the
store — and ``AutoRollback`` (rollback.py) rolls it back when a rule says so. Over a modelyard
server's stores (no lease there) each process judges its own traffic, as before.

``LogRetention`` is the periodic work on the logs: every few minutes, in a thread of its own (a
long prune never delays the poller), it prunes each hosted deployment whose spec has
``log_retention_days`` (``serving/logmaint.py``, under the endpoint's maintenance claim, so of
several replicas one does it). When the stores are a ``modelyard server``'s, the serving process
does not prune (blobs cannot be deleted over HTTP) and says so once: the server's background loop
prunes every deployment with a retention (``server/background.py``, with the same ``LogRetention``).

``build_deployment_app`` assembles it all: the serving app, the prediction logger as its sink, the
feedback route, the host, the watcher and the retention, started and stopped with the ASGI lifespan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import ModelyardError, NotFound
from modelyard.core.serving import Deployment, DeploymentSpec, VariantSpec
from modelyard.serving.endpoint import Endpoint, ServedVariant, ServingState
from modelyard.serving.rollback import AutoRollback, RollbackRule, SloRule
from modelyard.serving.slo import CountWindows, JudgeClaim, SharedCounts, local_counts, worker_id

if TYPE_CHECKING:
    from modelyard.serving.deployments import DeploymentService
    from modelyard.serving.host import ModelHost
    from modelyard.serving.logmaint import LogMaintainer, MaintenanceResult
    from modelyard.serving.metrics import ServingMetrics

__all__ = ["DeploymentHost", "LogRetention", "endpoint_for"]

log = logging.getLogger("modelyard.serving.hosting")


def endpoint_for(deployment: Deployment, load: Callable[[VariantSpec], ModelHost]) -> Endpoint:
    """The endpoint of one revision: its variants, each with the host ``load`` gives it."""
    variants = tuple(
        ServedVariant(name=v.name, host=load(v), weight=0 if v.shadow else v.traffic, shadow=v.shadow)
        for v in deployment.spec.variants
    )
    return Endpoint(name=deployment.name, variants=variants, sticky_key=deployment.spec.sticky_key)


class DeploymentHost:
    """Keeps ``state`` serving the current revision of each named deployment (module docstring)."""

    def __init__(
        self,
        service: DeploymentService,
        state: ServingState,
        names: Sequence[str],
        *,
        onnx: bool = False,
        poll_s: float = 1.0,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.state = state
        self.names = tuple(dict.fromkeys(names))
        self.onnx = onnx
        self.poll_s = poll_s
        self.on_tick = on_tick
        self.revisions: dict[str, int] = {}
        #: the spec of each deployment's newest revision read (served, or failed to load)
        self.specs: dict[str, DeploymentSpec] = {}
        self._hosts: dict[tuple[str, int], ModelHost] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0

    def _load(self, variant: VariantSpec) -> ModelHost:
        from modelyard.serving.host import ModelHost

        key = (variant.model, variant.version)
        host = self._hosts.get(key)
        if host is None:
            host = ModelHost.from_registry(self.service.registry, f"{variant.model}@{variant.version}", onnx=self.onnx)
            self._hosts[key] = host
        return host

    def load_all(self) -> None:
        """Load and serve every deployment now (raises if one cannot be: nothing half-served at start)."""
        for name in self.names:
            self._serve(self.service.get(name))

    def _serve(self, deployment: Deployment) -> None:
        endpoint = endpoint_for(deployment, self._load)  # every model loaded before the swap
        self.state.set_endpoint(endpoint)
        self.revisions[deployment.name] = deployment.revision
        self.specs[deployment.name] = deployment.spec
        in_use = {(v.model_name, v.model_version) for e in self.state.endpoints() for v in e.variants}
        self._hosts = {k: h for k, h in self._hosts.items() if k in in_use}
        self.swaps += 1

    def poll(self) -> None:
        """One tick: follow moved aliases, pick up new revisions, drop deleted deployments."""
        for name in self.names:
            try:
                self.service.refresh(name)
                deployment = self.service.get(name)
            except NotFound:
                if name in self.revisions:
                    log.warning("deployment %s was deleted; no longer served", name)
                    self.revisions.pop(name, None)
                    self.specs.pop(name, None)
                    try:
                        self.state.remove_endpoint(name)
                    except NotFound:
                        pass
                continue
            except ModelyardError as exc:
                log.warning("cannot read deployment %s (still serving what was loaded): %s", name, exc)
                continue
            if self.revisions.get(name) == deployment.revision:
                continue
            try:
                self._serve(deployment)
                log.info("deployment %s: now serving revision %d", name, deployment.revision)
            except Exception as exc:  # a revision that cannot load is not served; keep the old one
                log.error("deployment %s revision %d could not be loaded: %s", name, deployment.revision, exc)
                self.revisions[name] = deployment.revision
                self.specs[name] = deployment.spec

    def with_slo(self) -> list[str]:
        """The hosted deployments whose current spec has an SLO (whose counts are judged)."""
        return [name for name in self.names if (spec := self.specs.get(name)) is not None and spec.slo is not None]

    def start(self) -> DeploymentHost:
        self._thread = threading.Thread(target=self._run, name="modelyard-deployments", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
                if self.on_tick is not None:
                    self.on_tick()
            except Exception:
                log.exception("deployment poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class LogRetention:
    """Prunes the hosted deployments' logs to their ``log_retention_days`` (module docstring)."""

    def __init__(
        self,
        service: DeploymentService,
        maintainer: LogMaintainer,
        names: Callable[[], Sequence[str]],
        *,
        every_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.maintainer = maintainer
        #: The deployments to prune at each pass (read again every pass).
        self.names = names
        self.every_s = every_s
        self.clock = clock
        self._next = 0.0
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """Start a pass in the background when one is due and none is running."""
        now = self.clock()
        if now < self._next or (self._thread is not None and self._thread.is_alive()):
            return
        self._next = now + self.every_s
        self._thread = threading.Thread(target=self.run_once, name="modelyard-log-retention", daemon=True)
        self._thread.start()

    def run_once(self) -> list[MaintenanceResult]:
        """One pass over the hosted deployments; a failure is logged and the pass goes on."""
        done: list[MaintenanceResult] = []
        for name in self.names():
            try:
                result = self.maintainer.apply_retention(self.service.get(name))
            except Exception as exc:
                log.warning("log retention of %s failed (retried next pass): %s", name, exc)
                continue
            if result is not None:
                done.append(result)
                if result.pruned:
                    log.info("deployment %s: %d old log partition(s) deleted", name, result.pruned)
        return done

    def join(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def watcher(
    service: DeploymentService,
    windows: CountWindows,
    names: Sequence[str],
    rules: Sequence[RollbackRule] = (SloRule(),),
    may_judge: Callable[[str], bool] | None = None,
) -> AutoRollback:
    """The automatic rollback of the hosted deployments over the SLO's windows."""
    return AutoRollback(service, windows, lambda: names, rules=rules, may_judge=may_judge)


class DeploymentServer:
    """The ASGI app of ``modelyard serve --deployment``: feedback route, serving app, and the
    background parts (host poller, rollback watcher, prediction logger) tied to the lifespan."""

    def __init__(
        self,
        app: Any,
        host: DeploymentHost,
        *,
        logger: Any = None,
        rollback: AutoRollback | None = None,
        windows: CountWindows | None = None,
        retention: LogRetention | None = None,
    ) -> None:
        from modelyard.serving.feedback import FeedbackRoute

        self.app = app
        self.host = host
        self.logger = logger
        self.rollback = rollback
        self.windows = windows
        self.retention = retention
        flush = logger.flush if logger is not None else None
        self.asgi = FeedbackRoute(app, host.service.store, flush=flush)
        self.started = False

    def tick(self) -> None:
        if self.windows is not None:
            self.windows.sample()
        if self.rollback is not None:
            self.rollback.check_all()
        if self.retention is not None:
            self.retention.tick()

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.host.start()

    async def close(self) -> None:
        import asyncio

        self.host.stop()
        if self.retention is not None:
            await asyncio.to_thread(self.retention.join)
        await self.app.aclose()
        if self.logger is not None:
            await asyncio.to_thread(self.logger.close)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.asgi(scope, receive, send)


def build_deployment_app(
    stores: Any,
    names: Sequence[str],
    *,
    batching: Any = None,
    max_body_bytes: int | None = None,
    onnx: bool = False,
    metrics: ServingMetrics | None = None,
    log_predictions: bool = True,
    auto_rollback: bool = True,
    poll_s: float = 1.0,
    logger_options: dict[str, Any] | None = None,
    rules: Sequence[RollbackRule] = (SloRule(),),
    retention_every_s: float | None = 300.0,
) -> DeploymentServer:
    """Serve the named deployments from ``stores`` (see the module docstring). Every model is
    loaded before this returns; call ``start()`` (the ASGI lifespan does) to begin polling.
    ``rules`` are the automatic rollback's rules (the SLO rule; model-quality rules join it).
    ``retention_every_s``: how often the logs are pruned to each deployment's retention (None:
    never; never either over a server's stores, where blobs cannot be deleted)."""
    from modelyard.registry.service import RegistryService
    from modelyard.serving.app import DEFAULT_MAX_BODY_BYTES, create_serving_app
    from modelyard.serving.deployments import DeploymentService
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.serving.predlog import PredictionLogger

    service = DeploymentService(stores.serving, RegistryService(stores.registry, stores.tracking, stores.artifacts))
    state = ServingState()
    host = DeploymentHost(service, state, names, onnx=onnx, poll_s=poll_s)
    host.load_all()
    metrics = metrics or ServingMetrics()
    logger = (
        PredictionLogger(stores.serving, stores.artifacts, registry=metrics.registry, **(logger_options or {}))
        if log_predictions
        else None
    )
    app = create_serving_app(
        state,
        sink=logger,
        batching=batching,
        max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
        metrics=metrics,
    )
    windows, rollback = None, None
    if auto_rollback:
        if stores.remote:  # no lease over a server: each process judges its own traffic
            windows = CountWindows(local_counts(metrics))
            rollback = watcher(service, windows, host.names, rules)
        else:
            worker = worker_id()
            windows = CountWindows(SharedCounts(stores.serving, metrics, host.with_slo, worker=worker))
            claim = JudgeClaim(stores.serving, worker, lease_s=max(5.0, 5 * poll_s))
            rollback = watcher(service, windows, host.names, rules, may_judge=claim)
    retention = None
    if retention_every_s is not None and stores.remote:
        # Said once: its logs are pruned by the server itself (server/background.py), where blobs can be deleted.
        log.warning("log retention: not applied here (the stores are a modelyard server's, which applies it)")
    elif retention_every_s is not None:
        from modelyard.serving.logmaint import LogMaintainer

        names = host.names
        retention = LogRetention(service, LogMaintainer(stores), lambda: names, every_s=retention_every_s)
    server = DeploymentServer(app, host, logger=logger, rollback=rollback, windows=windows, retention=retention)
    host.on_tick = server.tick
    return server
