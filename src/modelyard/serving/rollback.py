"""Automatic rollback: rules over per-variant metric windows, and the watcher that applies them.

``RollbackRule`` is the interface: ``evaluate(deployment, windows)`` returns a
``RollbackDecision`` (roll back or not, and why). ``SloRule`` is the first rule: a variant that
takes traffic breaches the deployment's SLO when, over its window and with at least
``min_requests`` requests, its error rate or its p99 latency is above the limit. The monitoring
room adds rules on model-quality signals (drift, estimated accuracy) through the same interface.

``MetricWindows`` is the cheap per-variant counter the serving process feeds: ``record(...)`` is
one ``deque.append`` (no lock; CPython appends are atomic), and ``stats(endpoint)`` folds the
window when the watcher asks, about once a second. ``WindowSink`` feeds it from the prediction
records the serving app emits and passes each record on to the next sink (the prediction logger).

``AutoRollback`` is the watcher: a thread that, for every deployment whose spec has
``auto_rollback`` and that this process may judge (``may_judge``: of several workers and
replicas, the holder of the deployment's judge lease, ``serving/slo.py``), evaluates the rules
and calls ``DeploymentService.rollback(reason=...)`` as ``system:slo``, guarded by the revision
it judged (compare-and-set: if a person changed the deployment meanwhile, nothing is rolled back
over their change). After any revision change the
windows of that endpoint start afresh, so the restored state is judged on its own requests.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.core.errors import Conflict, ModelyardError
from modelyard.core.serving import Deployment

if TYPE_CHECKING:
    from modelyard.serving.deployments import DeploymentService

__all__ = [
    "AutoRollback",
    "MetricWindows",
    "RollbackDecision",
    "RollbackRule",
    "SloRule",
    "WindowSink",
    "WindowSource",
    "WindowStats",
]

logger = logging.getLogger("modelyard.serving.rollback")


@dataclass(frozen=True)
class WindowStats:
    """One variant's requests over the last ``window_s`` seconds."""

    endpoint: str
    variant: str
    window_s: float
    requests: int
    errors: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class RollbackDecision:
    rollback: bool
    reason: str
    variant: str | None = None

    @classmethod
    def keep(cls, reason: str = "within the SLO") -> RollbackDecision:
        return cls(False, reason)


class RollbackRule(ABC):
    """Decides from a deployment and its variants' windows whether to roll it back."""

    name: str = "rule"

    @abstractmethod
    def evaluate(self, deployment: Deployment, windows: Mapping[str, WindowStats]) -> RollbackDecision:
        """``windows`` maps variant name to its stats (variants without requests may be absent)."""


def _p99(latencies: Sequence[float]) -> float | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    rank = max(0, math.ceil(0.99 * len(ordered)) - 1)  # nearest-rank percentile
    return ordered[rank]


class SloRule(RollbackRule):
    """Error rate and p99 latency of every variant that takes traffic, against the deployment's
    SLO, judged once a window holds ``min_requests`` requests. Shadows are not judged: their
    answers never reach a caller."""

    name = "slo"

    def evaluate(self, deployment: Deployment, windows: Mapping[str, WindowStats]) -> RollbackDecision:
        slo = deployment.spec.slo
        if slo is None:
            return RollbackDecision.keep("no SLO")
        for variant in deployment.spec.live:
            stats = windows.get(variant.name)
            if stats is None or stats.requests < slo.min_requests:
                continue
            if slo.max_error_rate is not None and stats.error_rate > slo.max_error_rate:
                return RollbackDecision(
                    True,
                    f"SLO breached by variant {variant.name} ({variant.model}@{variant.version}): error rate "
                    f"{stats.error_rate:.1%} > {slo.max_error_rate:.1%} over {stats.requests} requests "
                    f"in {slo.window_s}s",
                    variant.name,
                )
            if slo.max_p99_ms is not None and stats.p99_ms is not None and stats.p99_ms > slo.max_p99_ms:
                return RollbackDecision(
                    True,
                    f"SLO breached by variant {variant.name} ({variant.model}@{variant.version}): p99 latency "
                    f"{stats.p99_ms:.1f} ms > {slo.max_p99_ms:g} ms over {stats.requests} requests in {slo.window_s}s",
                    variant.name,
                )
        return RollbackDecision.keep()


class WindowSource(Protocol):
    """Where the watcher reads per-variant windows: ``MetricWindows`` (fed by a sink) or
    ``slo.CountWindows`` (over every worker's serving metrics)."""

    def stats(self, endpoint: str, window_s: float) -> Mapping[str, WindowStats]: ...

    def reset(self, endpoint: str) -> None: ...


class MetricWindows:
    """Per (endpoint, variant) sliding windows of (time, ok, latency) events."""

    def __init__(self, *, horizon_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.horizon_s = horizon_s
        self.clock = clock
        self._events: dict[tuple[str, str], deque[tuple[float, bool, float]]] = {}

    def record(self, endpoint: str, variant: str, *, ok: bool, latency_ms: float) -> None:
        key = (endpoint, variant)
        events = self._events.get(key)
        if events is None:
            events = self._events.setdefault(key, deque())
        events.append((self.clock(), ok, latency_ms))

    def reset(self, endpoint: str) -> None:
        for key in [k for k in self._events if k[0] == endpoint]:
            self._events[key] = deque()

    def stats(self, endpoint: str, window_s: float) -> dict[str, WindowStats]:
        now = self.clock()
        cutoff = now - window_s
        out: dict[str, WindowStats] = {}
        for (ep, variant), events in list(self._events.items()):
            if ep != endpoint:
                continue
            while events and events[0][0] < now - self.horizon_s:
                events.popleft()
            recent = [e for e in list(events) if e[0] >= cutoff]
            out[variant] = WindowStats(
                endpoint=endpoint,
                variant=variant,
                window_s=window_s,
                requests=len(recent),
                errors=sum(1 for e in recent if not e[1]),
                p99_ms=_p99([e[2] for e in recent]),
            )
        return out


class WindowSink:
    """A ``PredictionSink`` that counts each record into ``windows`` (shadows too, labelled as
    such by their variant) and hands it to ``then`` (the prediction logger), if any."""

    def __init__(self, windows: MetricWindows, then: Any = None) -> None:
        self.windows = windows
        self.then = then

    def offer(self, record: Any) -> None:
        try:
            self.windows.record(
                record.endpoint, record.variant, ok=record.status == "ok", latency_ms=float(record.latency_ms)
            )
        except Exception:
            pass
        if self.then is not None:
            self.then.offer(record)


class AutoRollback:
    """Watches deployments and rolls them back when a rule says so (see the module docstring)."""

    def __init__(
        self,
        service: DeploymentService,
        windows: WindowSource,
        names: Callable[[], Sequence[str]],
        *,
        rules: Sequence[RollbackRule] = (SloRule(),),
        interval_s: float = 1.0,
        actor: str = "system:slo",
        may_judge: Callable[[str], bool] | None = None,
    ) -> None:
        self.service = service
        self.windows = windows
        self.names = names
        self.rules = list(rules)
        self.interval_s = interval_s
        self.actor = actor
        #: whether this process judges a deployment now (``slo.JudgeClaim``: the one holder of its
        #: lease among every worker and replica); None: always
        self.may_judge = may_judge
        self._revisions: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: (deployment, decision) of every rollback made, for the caller's logs and tests.
        self.rollbacks: list[tuple[str, RollbackDecision]] = []

    def check(self, deployment: Deployment) -> RollbackDecision | None:
        """Evaluate one deployment now; roll it back if a rule says so. Returns the decision
        acted on, or None."""
        seen = self._revisions.get(deployment.name)
        if seen != deployment.revision:
            self._revisions[deployment.name] = deployment.revision
            if seen is not None:
                self.windows.reset(deployment.name)  # a new state is judged on its own requests
        if not deployment.spec.auto_rollback or deployment.spec.slo is None:
            return None
        if self.may_judge is not None and not self.may_judge(deployment.name):
            return None
        stats = self.windows.stats(deployment.name, deployment.spec.slo.window_s)
        for rule in self.rules:
            decision = rule.evaluate(deployment, stats)
            if not decision.rollback:
                continue
            try:
                restored = self.service.rollback(
                    deployment.name, actor=self.actor, reason=decision.reason, expected_revision=deployment.revision
                )
            except Conflict as exc:  # changed meanwhile, or nothing earlier to restore
                logger.warning("deployment %s: %s; not rolled back (%s)", deployment.name, decision.reason, exc)
                self._revisions[deployment.name] = deployment.revision
                self.windows.reset(deployment.name)
                return None
            logger.warning("rolled back deployment %s to revision %s: %s", deployment.name, restored.revision,
                           decision.reason)  # fmt: skip
            self._revisions[deployment.name] = restored.revision
            self.windows.reset(deployment.name)
            self.rollbacks.append((deployment.name, decision))
            return decision
        return None

    def check_all(self) -> None:
        for name in self.names():
            try:
                self.check(self.service.get(name))
            except ModelyardError as exc:
                logger.warning("automatic rollback could not check %s: %s", name, exc)

    def start(self) -> AutoRollback:
        self._thread = threading.Thread(target=self._run, name="modelyard-autorollback", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check_all()
            except Exception:  # the watcher must outlive a bad tick
                logger.exception("automatic rollback check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
