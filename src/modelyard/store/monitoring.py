"""The monitoring room's metadata: monitors (with their rules), window claims and results,
alerts with their history, silences, and the reference profiles of model versions.
store/sql/monitoring.py implements it (``SqlMonitoringStore``), client/monitoring.py over HTTP
(``HttpMonitoringStore``); ``MonitoringService`` (monitoring/service.py) holds the rules.

Window claims. Several evaluators (CLI runs from cron, server replicas in continuous mode) may
look at the same monitor at once; each window is evaluated once because an evaluator first
*claims* it: ``claim_window`` inserts the row keyed by (monitor, window start) and only the
insert that lands wins. A claim is a lease: if its owner dies before ``complete_window``, another
evaluator may take it over once ``expires_at`` has passed (an UPDATE guarded by the old lease, so
again only one wins). ``complete_window`` stores the result and marks the claim done in one
transaction, and only for the claim's current owner.

Revisions. A done window can be evaluated again (late labels: its realized performance is
recomputed when feedback for its requests arrived after it was evaluated) through the same claim:
``claim_window(..., revise=True)`` takes a *done* window's claim as a lease (again an UPDATE
guarded by the previous lease: of several revisers one wins, and a dead reviser's lease expires),
and ``complete_window(result, revise=True)`` replaces the stored result and releases the lease,
only for the lease's current owner. The claim stays done throughout: a window never goes back to
being unevaluated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from modelyard.core.monitoring import (
    Alert,
    AlertEvent,
    Monitor,
    MonitorSpec,
    ReferenceProfile,
    Silence,
    WindowClaim,
    WindowResult,
)

__all__ = ["MonitoringStore"]


class MonitoringStore(ABC):
    """Monitors, window claims and results, alerts and their events, silences, references."""

    # -- monitors -------------------------------------------------------------------------------

    @abstractmethod
    def create_monitor(self, name: str, deployment: str, spec: MonitorSpec, *, actor: str, at: int) -> Monitor:
        """A new monitor; AlreadyExists if the name is taken."""

    @abstractmethod
    def update_monitor(self, name: str, spec: MonitorSpec, *, actor: str, at: int) -> Monitor:
        """Replace a monitor's spec (its windows, signals, rules); NotFound if there is none."""

    @abstractmethod
    def delete_monitor(self, name: str) -> None:
        """Delete a monitor with its claims and window results (alerts and their history stay);
        NotFound if there is none."""

    @abstractmethod
    def get_monitor(self, name: str) -> Monitor:
        """NotFound if there is no monitor ``name``."""

    @abstractmethod
    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        """Every monitor (of ``deployment``), ordered by name."""

    # -- windows --------------------------------------------------------------------------------

    @abstractmethod
    def claim_window(
        self, monitor: str, window_start: int, window_end: int, *, owner: str, at: int, lease_ms: int,
        revise: bool = False,
    ) -> WindowClaim | None:  # fmt: skip
        """Take the window for ``owner``: the claim, or None when another evaluator holds it
        (an unexpired lease) or it is done. With ``revise``, take a *done* window to evaluate it
        again: the claim (still done), or None when it is not done or another reviser's lease
        holds it. NotFound if the monitor does not exist."""

    @abstractmethod
    def complete_window(self, result: WindowResult, *, revise: bool = False) -> WindowResult:
        """Store the result of a claimed window and mark the claim done, in one transaction.
        Conflict, storing nothing, unless ``result.evaluated_by`` holds the claim and it is not done.
        With ``revise``: replace the stored result of a done window whose revision lease
        ``result.evaluated_by`` holds, and release the lease (Conflict, changing nothing, otherwise)."""

    @abstractmethod
    def last_claim(self, monitor: str) -> WindowClaim | None:
        """The claim with the greatest window start (where the next evaluation resumes)."""

    @abstractmethod
    def list_window_results(self, monitor: str, *, limit: int = 100) -> list[WindowResult]:
        """The newest ``limit`` results of ``monitor``, newest first."""

    # -- alerts ---------------------------------------------------------------------------------

    @abstractmethod
    def save_alert(
        self, alert: Alert, events: Sequence[AlertEvent] = (), *, expected_state: str | None = None
    ) -> list[AlertEvent]:
        """Insert or replace the alert of ``alert.fingerprint`` and append ``events`` to the
        history, in one transaction; returns the events with their sequence numbers.
        ``expected_state`` makes it a compare-and-set: "absent" (no alert of that fingerprint
        yet), "firing" or "resolved" (its current state); Conflict, changing nothing, otherwise —
        so of several evaluators judging the same rule at once, one records the transition."""

    @abstractmethod
    def add_alert_events(self, events: Sequence[AlertEvent]) -> list[AlertEvent]:
        """Append events (notifications, actions) to the history."""

    @abstractmethod
    def get_alert(self, fingerprint: str) -> Alert:
        """NotFound if no alert has that fingerprint."""

    @abstractmethod
    def list_alerts(self, *, monitor: str | None = None, state: str | None = None) -> list[Alert]:
        """Alerts, newest ``last_seen`` first, optionally of one monitor or state."""

    @abstractmethod
    def list_alert_events(
        self, *, fingerprint: str | None = None, monitor: str | None = None, limit: int = 1000
    ) -> list[AlertEvent]:
        """History entries, oldest first (the newest ``limit``)."""

    # -- silences -------------------------------------------------------------------------------

    @abstractmethod
    def create_silence(self, silence: Silence) -> Silence:
        """AlreadyExists if the id is taken."""

    @abstractmethod
    def expire_silence(self, silence_id: str, *, at: int) -> Silence:
        """End a silence now (its end becomes ``at`` if later than that); NotFound if unknown."""

    @abstractmethod
    def list_silences(self, *, active_at: int | None = None) -> list[Silence]:
        """Silences (active at ``active_at`` when given), by start time."""

    # -- reference profiles ---------------------------------------------------------------------

    @abstractmethod
    def put_reference(self, reference: ReferenceProfile) -> ReferenceProfile:
        """Record (or replace) the reference of (model, version, role); its blob is stored first."""

    @abstractmethod
    def get_reference(self, model: str, version: int, role: str = "training") -> ReferenceProfile:
        """NotFound if none is registered."""

    @abstractmethod
    def list_references(self, model: str) -> list[ReferenceProfile]:
        """The references of ``model``, by version then role."""

    @abstractmethod
    def delete_reference(self, model: str, version: int, role: str) -> bool:
        """Forget the reference of (model, version, role) (its blob stays in the artifact store);
        whether there was one."""
