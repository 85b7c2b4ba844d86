"""``MonitoringService``: the rules of the monitoring room, over a ``Stores`` bundle.

The SDK, the CLI (``modelyard monitor ...``), the server's continuous mode and the tests build
one, so there is one copy of the rules:

* **monitors** — created on a deployment that exists, with windows, signals, a reference and
  alert rules; a monitor starts at its creation time unless told otherwise (no backlog from the
  epoch).
* **references** — ``set_reference(model, version, data, target=...)`` stores the version's
  reference once: a DataFrame is scored by the (hash-verified) version and profiled with its
  outputs under the prediction log's window column names (never kept), as a ``DatasetProfile``
  blob in the artifact store with a summary (columns, outputs, kinds, the validation suite of the
  quality checks); with ``target`` the label-free ``Estimator`` (``monitoring.estimation``) is
  fitted on the same rows and registered the same way under role ``estimator``.
* **runs** — ``run()`` evaluates every due window of every enabled monitor: it *claims* each
  window in the store first (so any number of CLI runs and server replicas evaluate each window
  once), reads its traffic, computes the signals, stores the result and judges the alert rules,
  which notify and act (``alerts.py``, ``actions.py``). A window that fails to evaluate is stored
  with status "error" and its reason, and the run goes on with the next one.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, ModelyardError, NotFound
from modelyard.core.ids import new_id
from modelyard.core.monitoring import (
    Alert,
    AlertEvent,
    AlertRule,
    Monitor,
    MonitorSpec,
    ReferenceProfile,
    Silence,
    WindowResult,
    WindowSpec,
    validate_monitor_name,
)
from modelyard.core.serving import Deployment, validate_deployment_name
from modelyard.core.tracking import now_millis
from modelyard.core.validation import validate_name
from modelyard.monitoring import alerts as alert_rules
from modelyard.monitoring.late_labels import revise_late_labels
from modelyard.monitoring.windows import LogPosition, Window, WindowData, due_windows, read_log, window_frame

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.signals import Reference
    from modelyard.store.bundle import Stores

__all__ = ["MonitoringService", "RunReport"]

logger = logging.getLogger("modelyard.monitoring")

#: How long a claimed window stays with its evaluator before another may take it over.
DEFAULT_LEASE_MS = 300_000


@dataclass
class RunReport:
    """What one ``run()`` did: the windows it evaluated, the alerts that fired or resolved."""

    results: list[WindowResult] = field(default_factory=list)
    transitions: list[alert_rules.Transition] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Windows evaluated before whose performance was re-evaluated for late labels.
    revised: list[WindowResult] = field(default_factory=list)

    @property
    def fired(self) -> list[Alert]:
        return [t.alert for t in self.transitions if t.status == "firing"]

    @property
    def resolved(self) -> list[Alert]:
        return [t.alert for t in self.transitions if t.status == "resolved"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "windows": [
                {
                    "monitor": r.monitor,
                    "window_start": r.window_start,
                    "window_end": r.window_end,
                    "status": r.status,
                    "rows": r.rows,
                    "notes": list(r.notes),
                }
                for r in self.results
            ],
            "fired": [a.model_dump(mode="json") for a in self.fired],
            "resolved": [a.model_dump(mode="json") for a in self.resolved],
            "errors": list(self.errors),
            "revised": [
                {"monitor": r.monitor, "window_start": r.window_start, "window_end": r.window_end,
                 "performance": r.values.get("performance")}
                for r in self.revised
            ],
        }  # fmt: skip


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


class MonitoringService:
    """Monitors, references, runs, alerts and silences over ``stores`` (see the module docstring)."""

    def __init__(
        self,
        stores: Stores,
        *,
        clock: Any = now_millis,
        owner: str | None = None,
        lease_ms: int = DEFAULT_LEASE_MS,
    ) -> None:
        self.stores = stores
        self.store = stores.monitoring
        self.clock = clock
        self.owner = owner or _default_owner()
        self.lease_ms = lease_ms

    # -- monitors -------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        deployment: str,
        *,
        window: WindowSpec | Mapping[str, Any],
        signals: Sequence[str] = ("health",),
        rules: Sequence[AlertRule | Mapping[str, Any]] = (),
        reference_model: str | None = None,
        reference_version: int | None = None,
        reference_role: str = "training",
        options: Mapping[str, Any] | None = None,
        start: int | None = None,
        label_horizon_ms: int = 0,
        actor: str,
    ) -> Monitor:
        """A monitor of ``deployment`` (which must exist), evaluated from ``start`` (default now);
        ``label_horizon_ms``: how long late labels still re-evaluate a window's performance."""
        name = validate_monitor_name(name)
        deployment = validate_deployment_name(deployment)
        self.stores.serving.get_deployment(deployment)  # DeploymentNotFound in one line
        spec = _spec(
            window=window, signals=tuple(signals), rules=tuple(rules), reference_model=reference_model,
            reference_version=reference_version, reference_role=reference_role, options=dict(options or {}),
            start=self.clock() if start is None else start, label_horizon_ms=label_horizon_ms,
        )  # fmt: skip
        return self.store.create_monitor(name, deployment, spec, actor=_actor(actor), at=self.clock())

    def update(self, name: str, *, actor: str, **changes: Any) -> Monitor:
        """Change fields of a monitor's spec (window, signals, rules, reference_*, options, enabled)."""
        current = self.store.get_monitor(name)
        unknown = set(changes) - set(MonitorSpec.model_fields)
        if unknown:
            raise InvalidArgument(f"unknown monitor field(s) {sorted(unknown)}")
        data = current.spec.model_dump()
        data.update({k: v for k, v in changes.items()})
        return self.store.update_monitor(name, _spec(**data), actor=_actor(actor), at=self.clock())

    def get(self, name: str) -> Monitor:
        return self.store.get_monitor(name)

    def list_monitors(self, deployment: str | None = None) -> list[Monitor]:
        return self.store.list_monitors(deployment)

    def delete(self, name: str) -> None:
        self.store.delete_monitor(name)

    def results(self, name: str, *, limit: int = 100) -> list[WindowResult]:
        self.store.get_monitor(name)
        return self.store.list_window_results(name, limit=limit)

    # -- references -----------------------------------------------------------------------------

    def set_reference(
        self,
        model: str,
        version: int,
        data: Any,
        *,
        target: str | None = None,
        task: str | None = None,
        role: str = "training",
        actor: str,
    ) -> ReferenceProfile:
        """Register what ``model`` version ``version`` is judged against (see the module
        docstring), in one call: a DataFrame is scored by the version itself (loaded with every
        file hash-verified) and profiled with the model's outputs under the column names the
        prediction log's outputs get in a window (``prediction``, ``prediction.KEY``), so
        prediction drift compares like with like; with ``target`` (a column of the frame, left
        out of the profile) the label-free estimator is fitted on the same rows and stored under
        role ``estimator`` (``task``: classification or regression, default classification when
        the model has class scores or labels; a classifier without scores gets no estimator, which
        the summary's ``estimator_skipped`` says, and an estimator registered before for the
        version is removed: ``estimator_removed``). A frame that already holds a ``prediction`` column and no ``target``
        is profiled as given. A ``DatasetProfile`` or a fitted ``Estimator`` (role ``estimator``)
        is stored as it is. The version must exist in the registry."""
        import pandas as pd

        from modelyard.monitoring.profiles import profile_frame
        from modelyard.monitoring.scoring import has_outputs, score_version
        from modelyard.monitoring.signals import reference_summary
        from modelyard.stats.profile import DatasetProfile

        self.stores.registry.get_model_version(model, int(version))
        actor = _actor(actor)
        if task not in (None, "classification", "regression"):
            raise InvalidArgument(f"task is classification or regression, got {task!r}")
        if target is not None and not isinstance(data, pd.DataFrame):
            raise InvalidArgument("a target column needs reference data as a table, not a profile or an estimator")
        estimator: Any = None
        if isinstance(data, pd.DataFrame):
            if not len(data):
                raise InvalidArgument("the reference data has no rows")
            features = data
            if target is not None:
                if target not in data.columns:
                    names = ", ".join(map(str, data.columns))
                    raise InvalidArgument(f"target column {target!r} is not in the reference data (columns: {names})")
                features = data.drop(columns=[target])
                if features.shape[1] == 0:
                    raise InvalidArgument(f"the reference data has no column besides the target {target!r}")
            summary = reference_summary(frame=features)
            if target is not None or not has_outputs(features):
                scored = score_version(self.stores, model, int(version), features)
                profiled = pd.concat([features.reset_index(drop=True), scored.outputs], axis=1)
                summary["outputs"] = list(scored.outputs.columns)
                if target is not None:
                    kind = task or scored.task()
                    if kind == "classification" and not scored.loaded.has_proba:
                        summary["estimator_skipped"] = "the classifier gives no class scores (predict_proba)"
                    else:
                        estimator = scored.fit_estimator(data[target].tolist(), kind)
                        summary["estimator"] = estimator.kind
            else:
                profiled = features
            profile = profile_frame(profiled)
            payload, fmt, rows = profile.to_bytes(), "profile", len(data)
            if estimator is not None:  # stored once everything else worked
                self._put(model, version, "estimator", "estimator", estimator.to_bytes(), 0,
                          {"kind": estimator.kind, "target": target, "from": role, "rows": len(features)},
                          actor)  # fmt: skip
            elif "estimator_skipped" in summary and self.store.delete_reference(model, int(version), "estimator"):
                # an estimator fitted on earlier data no longer matches this reference: never left behind
                summary["estimator_removed"] = True
        elif isinstance(data, DatasetProfile):
            payload, fmt, rows, summary = data.to_bytes(), "profile", data.rows, reference_summary(profile=data)
        elif hasattr(data, "to_bytes") and hasattr(data, "estimate"):
            payload, fmt, rows, summary = data.to_bytes(), "estimator", 0, {"kind": getattr(data, "kind", "")}
            role = "estimator"
        else:
            raise InvalidArgument("a reference is a DataFrame, a DatasetProfile or a fitted Estimator")
        return self._put(model, version, role, fmt, payload, rows, summary, actor)

    def _put(
        self,
        model: str,
        version: int,
        role: str,
        fmt: str,
        payload: bytes,
        rows: int,
        summary: dict[str, Any],
        actor: str,
    ) -> ReferenceProfile:
        blob = self.stores.artifacts.put_bytes(payload)
        record = ReferenceProfile(
            model=model, version=int(version), role=role, format=fmt, digest=blob.digest,  # type: ignore[arg-type]
            size=blob.size, rows=rows, summary=summary, created_at=self.clock(), created_by=actor,
        )  # fmt: skip
        return self.store.put_reference(record)

    def load_reference(self, model: str, version: int, role: str = "training") -> Reference:
        """The reference of a version as the signals use it (missing parts stay empty)."""
        from modelyard.monitoring.signals import Reference
        from modelyard.stats.profile import DatasetProfile

        ref = Reference(model=model, version=version)
        try:
            record = self.store.get_reference(model, version, role)
            ref.profile = DatasetProfile.from_bytes(self.stores.artifacts.get_bytes(record.digest))
            ref.summary = dict(record.summary)
        except NotFound:
            pass
        try:
            record = self.store.get_reference(model, version, "estimator")
            from modelyard.monitoring.estimation import load_estimator

            ref.estimator = load_estimator(self.stores.artifacts.get_bytes(record.digest))
        except NotFound:
            pass
        try:
            from modelyard.monitoring.performance import baseline_metrics
            from modelyard.registry.service import RegistryService

            registry = RegistryService(self.stores.registry, self.stores.tracking, self.stores.artifacts)
            ref.baseline = baseline_metrics(registry, model, version)
        except ModelyardError:
            pass
        return ref

    # -- evaluation -----------------------------------------------------------------------------

    def run(self, names: Sequence[str] | None = None, *, limit: int = 100, notify: bool = True) -> RunReport:
        """Evaluate every due window of the enabled monitors (or of ``names``), at most ``limit``
        per monitor, claiming each first; judge their alert rules. Never raises for one bad
        monitor or window: its error is in the report (and stored as an "error" result)."""
        report = RunReport()
        monitors = [self.store.get_monitor(n) for n in names] if names else self.store.list_monitors()
        for monitor in monitors:
            if not monitor.spec.enabled and not names:
                continue
            try:
                self._run_monitor(monitor, report, limit=limit, notify=notify)
            except ModelyardError as exc:
                report.errors.append(f"{monitor.name}: {exc}")
                logger.warning("monitor %s: %s", monitor.name, exc)
        return report

    def _run_monitor(self, monitor: Monitor, report: RunReport, *, limit: int, notify: bool) -> None:
        spec = monitor.spec
        last = self.store.last_claim(monitor.name)
        position, log, total = LogPosition(spec.start, 0), None, None
        if spec.window.by == "count":  # read from where the newest count window began, not from the start
            position = self._count_position(monitor)
            log = read_log(self.stores, monitor.deployment, position.ms)
            total = position.offset + int((~log["shadow"].astype(bool)).sum())
        windows = due_windows(
            spec.window, start=spec.start, last_start=None if last is None else last.window_start,
            now_ms=self.clock(), total_rows=total, limit=limit,
        )  # fmt: skip
        references: dict[tuple[str, int], Reference] = {}
        for window in windows:
            claim = self.store.claim_window(
                monitor.name, window.start, window.end, owner=self.owner, at=self.clock(), lease_ms=self.lease_ms
            )
            if claim is None:
                continue  # another evaluator has it
            deployment = self._deployment(monitor.deployment)
            result = self.evaluate_window(
                monitor, window, deployment=deployment, references=references, log=log, offset=position.offset
            )
            try:
                self.store.complete_window(result)
            except ModelyardError as exc:  # the lease was taken over meanwhile: theirs counts
                report.errors.append(f"{monitor.name} window {window.start}: {exc}")
                continue
            report.results.append(result)
            self._judge(monitor, deployment, report, notify=notify)
        if spec.label_horizon_ms and "performance" in spec.signals:
            evaluated = {r.window_start for r in report.results if r.monitor == monitor.name}
            if revise_late_labels(self, monitor, report, evaluated, references, limit=limit):
                self._judge(monitor, self._deployment(monitor.deployment), report, notify=notify)

    def _judge(self, monitor: Monitor, deployment: Deployment | None, report: RunReport, *, notify: bool) -> None:
        """Judge the monitor's alert rules on its newest stored windows; record what changed."""
        recent = self.store.list_window_results(monitor.name, limit=max(50, _longest(monitor) * 4))
        runner = None
        if deployment is not None:
            from modelyard.monitoring.actions import ActionRunner

            runner = ActionRunner(self._deployments(), monitor.deployment, deployment.revision, now=self.clock())
        report.transitions.extend(
            alert_rules.evaluate_rules(self.store, monitor, recent, now=self.clock(), act=runner, notify=notify)
        )

    def _count_position(self, monitor: Monitor) -> LogPosition:
        """Where the newest count window with a recorded position began (else the monitor's start)."""
        for result in self.store.list_window_results(monitor.name, limit=20):
            found = LogPosition.from_values(result.values)
            if found is not None and found.ms >= monitor.spec.start:
                return found
        return LogPosition(monitor.spec.start, 0)

    def _deployment(self, name: str) -> Deployment | None:
        try:
            return self.stores.serving.get_deployment(name)
        except NotFound:
            return None

    def _deployments(self) -> Any:
        from modelyard.registry.service import RegistryService
        from modelyard.serving.deployments import DeploymentService

        registry = RegistryService(self.stores.registry, self.stores.tracking, self.stores.artifacts)
        return DeploymentService(self.stores.serving, registry, clock=self.clock)

    def evaluate_window(
        self,
        monitor: Monitor,
        window: Window,
        *,
        deployment: Deployment | None = None,
        references: dict[tuple[str, int], Reference] | None = None,
        log: pd.DataFrame | None = None,
        offset: int = 0,
    ) -> WindowResult:
        """The result of one window (not stored): its signals, or "no_traffic", or "error"."""
        spec = monitor.spec
        base = {
            "monitor": monitor.name, "window_start": window.start, "window_end": window.end,
            "evaluated_at": self.clock(), "evaluated_by": self.owner,
        }  # fmt: skip
        try:
            data = window_frame(
                self.stores, monitor.deployment, spec.window, window, start_ms=spec.start, log=log, offset=offset
            )
            if data.empty:
                return WindowResult(**base, status="no_traffic", rows=0, notes=("no traffic in this window",))
            reference = self.reference_for(monitor, data, deployment, references if references is not None else {})
            values, notes = self._signals(monitor, data, reference)
            if reference.model is not None:
                values["reference"] = {"model": reference.model, "version": reference.version}
            if data.position is not None:
                values["log"] = data.position.to_json()
            missing = [c for c in reference.columns if c not in data.input_columns]
            if missing and "quality" not in spec.signals:
                notes.insert(0, f"column(s) {', '.join(map(repr, missing))} of the reference are missing from the log")
            return WindowResult(
                **base, status="ok", rows=len(data.requests), first_ms=data.first_ms, last_ms=data.last_ms,
                values=values, notes=tuple(notes),
            )  # fmt: skip
        except Exception as exc:  # one bad window must not stop the others: recorded with its reason
            logger.exception("monitor %s: window %s failed", monitor.name, window.start)
            return WindowResult(**base, status="error", rows=0, notes=(f"{type(exc).__name__}: {exc}"[:1000],))

    def reference_for(
        self, monitor: Monitor, data: WindowData, deployment: Deployment | None, cache: dict[tuple[str, int], Reference]
    ) -> Reference:
        from modelyard.monitoring.signals import Reference

        spec = monitor.spec
        model, version = spec.reference_model, spec.reference_version
        if model is None or version is None:
            served = _served_version(data.rows)
            if served is not None and (model is None or model == served[0]):
                model, version = served
            elif deployment is not None:
                live = deployment.spec.live[0]
                model, version = model or live.model, version or live.version
        if model is None or version is None:
            return Reference()
        key = (model, int(version))
        if key not in cache:
            cache[key] = self.load_reference(model, int(version), spec.reference_role)
        return cache[key]

    def _signals(self, monitor: Monitor, data: WindowData, reference: Reference) -> tuple[dict[str, Any], list[str]]:
        from modelyard.monitoring import signals

        spec = monitor.spec
        values: dict[str, Any] = {}
        notes: list[str] = list(data.notes)
        span = spec.window.size if spec.window.by == "time" else None
        for group in spec.signals:
            options = spec.options.get(group) or {}
            try:
                if group == "health":
                    out = signals.health_signal(data, span_ms=span)
                elif group == "quality":
                    out = signals.quality_signal(data, reference)
                elif group == "drift":
                    out = signals.drift_signal(data, reference, options=options)
                elif group == "performance":
                    out = signals.performance_signal(data, reference, options=options)
                else:
                    out = signals.estimated_signal(data, reference, options=options)
            except ModelyardError as exc:
                notes.append(f"{group}: {exc}")
                continue
            values[group] = out.values
            notes.extend(f"{group}: {n}" for n in out.notes)
        return values, notes

    # -- alerts and silences --------------------------------------------------------------------

    def alerts(self, *, monitor: str | None = None, state: str | None = None) -> list[Alert]:
        return self.store.list_alerts(monitor=monitor, state=state)

    def history(
        self, *, fingerprint: str | None = None, monitor: str | None = None, limit: int = 1000
    ) -> list[AlertEvent]:
        return self.store.list_alert_events(fingerprint=fingerprint, monitor=monitor, limit=limit)

    def silence(
        self,
        matchers: Mapping[str, str],
        *,
        duration_ms: int | None = None,
        start: int | None = None,
        end: int | None = None,
        actor: str,
        comment: str | None = None,
    ) -> Silence:
        """Silence alerts matching ``matchers`` (monitor, rule, severity, signal) from ``start``
        (now) for ``duration_ms`` or until ``end``."""
        now = self.clock()
        begin = now if start is None else int(start)
        if end is None:
            if duration_ms is None or duration_ms <= 0:
                raise InvalidArgument("a silence needs a positive duration or an end")
            end = begin + int(duration_ms)
        try:
            silence = Silence(
                id=new_id()[:32], matchers=dict(matchers), start=begin, end=int(end), created_by=_actor(actor),  # type: ignore[arg-type]
                created_at=now, comment=comment,
            )  # fmt: skip
        except ValueError as exc:
            raise InvalidArgument(_first_error(exc)) from None
        return self.store.create_silence(silence)

    def unsilence(self, silence_id: str) -> Silence:
        return self.store.expire_silence(silence_id, at=self.clock())

    def silences(self, *, active: bool = False) -> list[Silence]:
        return self.store.list_silences(active_at=self.clock() if active else None)

    def gate(self, deployment: str | None = None) -> list[Alert]:
        """The firing alerts holding the gate of ``deployment`` closed (empty: the gate is open)."""
        from modelyard.monitoring.actions import closed_gates

        return closed_gates(self.store, deployment)


def _longest(monitor: Monitor) -> int:
    return max((r.for_windows for r in monitor.spec.rules), default=1)


def _served_version(rows: pd.DataFrame) -> tuple[str, int] | None:
    """The (model, version) that served most of the window's live rows."""
    if not len(rows):
        return None
    counts = Counter(zip(rows["model_name"].tolist(), rows["model_version"].tolist(), strict=True))
    (model, version), _ = counts.most_common(1)[0]
    return str(model), int(version)


def _actor(actor: str) -> str:
    return validate_name(actor, "actor")


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        items = errors()
        if items:
            first = items[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc).splitlines()[0]


def _spec(**fields: Any) -> MonitorSpec:
    try:
        spec = MonitorSpec.model_validate(fields)
    except ValueError as exc:
        raise InvalidArgument(f"invalid monitor: {_first_error(exc)}") from None
    from modelyard.monitoring.notifiers import validate_config

    for rule in spec.rules:
        for config in rule.notifiers:
            try:
                validate_config(dict(config))
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid monitor: rule {rule.name!r}: {exc}") from None
    return spec
