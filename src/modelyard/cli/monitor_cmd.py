"""modelyard monitor: monitors of deployments, their runs, alerts, silences, references, gate.

* ``monitor create NAME --deployment D --window 5m --signal health --signal drift --rule
  "drift: drift.share_drifted > 0.3 for 2 critical rollback"`` (or ``--spec monitor.yaml``);
* ``monitor update NAME`` replaces its rules or other fields, ``--disable``/``--enable``;
* ``monitor run [NAME...]`` evaluates every due window once (cron-friendly: a window is claimed in
  the store, so overlapping runs and server replicas never evaluate it twice); with
  ``--fail-on-alert`` it exits 3 when an alert of the monitors run is firing;
* ``monitor reference MODEL@VERSION DATA [--target y]`` registers what a version is judged against
  (the data scored by the version and profiled with its outputs; with a target, its estimator);
* ``monitor results``, ``monitor gate DEPLOYMENT`` (exit 1 while closed);
* ``monitor alerts``, ``monitor history``, ``monitor silence``, ``monitor unsilence``,
  ``monitor silences`` (their own module, cli/monitor_alerts_cmd.py);
* ``monitor report DEPLOYMENT|MONITOR --since 7d -o report.html`` (or ``.json``): the monitoring
  period report (its own module, cli/monitor_report_cmd.py).

Every command prints a table, or JSON with ``--json``; errors are one line on stderr and a
non-zero exit, and change nothing.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli._options import JsonOpt, StoreOpt, UserOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, print_json, table

if TYPE_CHECKING:
    from modelyard.core.monitoring import Monitor
    from modelyard.monitoring.service import MonitoringService

monitor_app = typer.Typer(
    help="Monitoring: windows over a deployment's predictions, signals, alerts that notify and act.",
    no_args_is_help=True,
)


#: ``NAME: SIGNAL OP THRESHOLD [for N] [info|warning|critical] [rollback] [gate]``
_RULE = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9_.\-]{1,64})\s*:\s*(?P<signal>[A-Za-z0-9_.\-:]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<threshold>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?P<rest>(?:\s+\S+)*)\s*$"
)


def _user(user: str | None) -> str:
    if user:
        return user
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no user database entry (some containers)
        return "unknown"


def _service(store: str | None) -> MonitoringService:
    from modelyard.cli._stores import cli_stores
    from modelyard.monitoring.service import MonitoringService

    with errors_as_exit():
        return MonitoringService(cli_stores(store))


def parse_rule(text: str, webhooks: list[str] | None = None) -> dict[str, Any]:
    """A rule from ``NAME: SIGNAL OP THRESHOLD [for N] [SEVERITY] [rollback] [gate]``."""
    match = _RULE.match(text)
    if match is None:
        fail(f"invalid rule {text!r}: write NAME: SIGNAL OP THRESHOLD [for N] [info|warning|critical] [rollback] "
             "[gate], e.g. 'drift: drift.share_drifted > 0.3 for 2 critical'", 2)  # fmt: skip
    rule: dict[str, Any] = {
        "name": match["name"], "signal": match["signal"], "comparator": match["op"],
        "threshold": float(match["threshold"]), "actions": [],
    }  # fmt: skip
    words = match["rest"].split()
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word == "for" and i + 1 < len(words) and words[i + 1].isdigit():
            rule["for_windows"] = int(words[i + 1])
            i += 2
            continue
        if word in ("info", "warning", "critical"):
            rule["severity"] = word
        elif word in ("rollback", "gate"):
            rule["actions"].append({"type": word})
        else:
            fail(f"invalid rule {text!r}: unknown word {words[i]!r} (for N, a severity, rollback or gate)", 2)
        i += 1
    if webhooks:
        rule["notifiers"] = [{"type": "webhook", "url": url} for url in webhooks]
    return rule


def _window(size: str, by: str, step: str | None, delay: str | None) -> dict[str, Any]:
    from modelyard.auth.timeparse import parse_duration_ms

    def amount(text: str, what: str) -> int:
        if by == "count":
            if not text.isdigit() or int(text) < 1:
                fail(f"invalid {what} {text!r}: count windows are a number of requests (e.g. 1000)", 2)
            return int(text)
        with errors_as_exit():
            return parse_duration_ms(text)

    window: dict[str, Any] = {"by": by, "size": amount(size, "--window")}
    if step is not None:
        window.update(kind="sliding", step=amount(step, "--step"))
    if delay is not None:
        with errors_as_exit():
            window["delay_ms"] = 0 if delay.strip() in ("0", "0s") else parse_duration_ms(delay)
    return window


def _load_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}", 2)
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {' '.join(str(exc).split())}", 2)
    if not isinstance(data, dict):
        fail(f"{path}: a monitor spec is a mapping (window, signals, rules, options, reference_model...)", 2)
    return data


@monitor_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The monitor's name.")],
    deployment: Annotated[str, typer.Option("--deployment", "-d", help="The deployment it watches.")],
    window: Annotated[
        str | None, typer.Option("--window", "-w", help="Window size: 5m, 1h (time) or 1000 (count).")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="time or count.")] = "time",
    step: Annotated[
        str | None, typer.Option("--step", help="Sliding windows: the step (smaller than the size).")
    ] = None,
    delay: Annotated[
        str | None, typer.Option("--delay", help="Time windows: wait this long after a window ends (5s).")
    ] = None,
    signal: Annotated[
        list[str] | None,
        typer.Option("--signal", "-s", help="health, quality, drift, performance, estimated (repeatable)."),
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option("--rule", help="NAME: SIGNAL OP THRESHOLD [for N] [SEVERITY] [rollback] [gate] (repeatable)."),
    ] = None,
    webhook: Annotated[
        list[str] | None, typer.Option("--webhook", help="Notify this URL (JSON) for every --rule (repeatable).")
    ] = None,
    task: Annotated[str | None, typer.Option("--task", help="performance: classification or regression.")] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="MODEL@VERSION to judge against (default: the version serving).")
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="YAML spec: window, signals, rules (notifiers, actions), options.")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="Evaluate windows from this time: ISO, epoch ms or 2h ago (default: now)."),
    ] = None,
    label_horizon: Annotated[
        str | None,
        typer.Option("--label-horizon", help="performance: re-evaluate windows whose labels arrive this late (1d)."),
    ] = None,
    store: StoreOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a monitor of a deployment."""
    fields: dict[str, Any] = _load_spec(spec) if spec is not None else {}
    if by not in ("time", "count"):
        fail(f"--by is time or count, got {by!r}", 2)
    if window is not None:
        fields["window"] = _window(window, by, step, delay)
    elif "window" not in fields:
        fail("give the window size (--window 5m, or --by count --window 1000) or a --spec", 2)
    if signal:
        fields["signals"] = list(dict.fromkeys(signal))
    if rule:
        fields["rules"] = [*fields.get("rules", []), *(parse_rule(r, webhook) for r in rule)]
    if task is not None:
        fields.setdefault("options", {}).setdefault("performance", {})["task"] = task
        fields["options"].setdefault("estimated", {})
    if reference is not None:
        model, _, version = reference.rpartition("@")
        if not model or not version.isdigit():
            fail(f"--reference is MODEL@VERSION (a version number), got {reference!r}", 2)
        fields["reference_model"], fields["reference_version"] = model, int(version)
    if start is not None:
        from modelyard.auth.timeparse import parse_time_ms
        from modelyard.core.tracking import now_millis

        with errors_as_exit():
            fields["start"] = parse_time_ms(start, "--start", now_ms=now_millis())
    if label_horizon is not None:
        from modelyard.auth.timeparse import parse_duration_ms

        with errors_as_exit():
            fields["label_horizon_ms"] = parse_duration_ms(label_horizon)
    if "signals" not in fields and fields.get("rules"):
        groups = [r["signal"].split(".", 1)[0] for r in fields["rules"] if isinstance(r, dict) and "signal" in r]
        fields["signals"] = list(dict.fromkeys(["health", *groups]))
    service = _service(store)
    with errors_as_exit():
        known = {"window", "signals", "rules", "reference_model", "reference_version", "reference_role", "options",
                 "start", "label_horizon_ms"}  # fmt: skip
        unknown = set(fields) - known
        if unknown:
            fail(f"unknown field(s) in the spec: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})", 2)
        created = service.create(name, deployment, actor=_user(user), **fields)
    if as_json:
        print_json(_shown(created))
        return
    _print(created)


@monitor_app.command("update")
def update(
    name: Annotated[str, typer.Argument(help="The monitor.")],
    rule: Annotated[
        list[str] | None, typer.Option("--rule", help="Replace the rules: NAME: SIGNAL OP THRESHOLD ... (repeatable).")
    ] = None,
    webhook: Annotated[list[str] | None, typer.Option("--webhook", help="Notify this URL for every --rule.")] = None,
    spec: Annotated[Path | None, typer.Option("--spec", help="YAML: the fields of the spec to change.")] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Evaluate it (or not) in runs of every monitor.")
    ] = None,
    store: StoreOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a monitor: its rules, any field of its spec, or whether runs evaluate it."""
    changes: dict[str, Any] = _load_spec(spec) if spec is not None else {}
    if rule:
        changes["rules"] = [parse_rule(r, webhook) for r in rule]
    if enable is not None:
        changes["enabled"] = enable
    if not changes:
        fail("nothing to change: give --rule, --spec, --enable or --disable", 2)
    service = _service(store)
    with errors_as_exit():
        updated = service.update(name, actor=_user(user), **changes)
    if as_json:
        print_json(_shown(updated))
        return
    _print(updated)


def _shown(monitor: Monitor) -> dict[str, Any]:
    """A monitor as JSON with the notifier secrets given literally redacted (references to
    environment variables shown as they are: they are not secrets)."""
    from modelyard.monitoring.notifiers import redact

    data = monitor.model_dump(mode="json")
    for rule in data["spec"]["rules"]:
        rule["notifiers"] = [redact(n) for n in rule["notifiers"]]
    return data


def _literal_secrets(monitor: Monitor) -> list[str]:
    from modelyard.monitoring.notifiers import redact

    return [f"{r.name}/{n.get('type')}" for r in monitor.spec.rules for n in r.notifiers if redact(n) != n]


def _print(monitor: Monitor) -> None:
    spec = monitor.spec
    w = spec.window
    size = f"{w.size} requests" if w.by == "count" else f"{w.size / 1000:g}s"
    step = "" if w.kind == "tumbling" else f", every {w.step if w.by == 'count' else f'{(w.step or 0) / 1000:g}s'}"
    console.print(
        f"[bold]{monitor.name}[/] watches [bold]{monitor.deployment}[/]: {w.kind} windows of {size}{step}; "
        f"signals {', '.join(spec.signals)}; from {fmt_time(spec.start)} UTC"
        f"{f'; late labels counted for {spec.label_horizon_ms / 1000:g}s' if spec.label_horizon_ms else ''}"
        f"{'' if spec.enabled else ' (disabled)'}",
        highlight=False,
    )
    if spec.rules:
        rows = [
            (r.name, f"{r.signal} {r.comparator} {r.threshold:g}", r.for_windows, r.severity,
             ", ".join(str(n.get("type")) for n in r.notifiers), ", ".join(a.type for a in r.actions))
            for r in spec.rules
        ]  # fmt: skip
        table("Rules", ["rule", "condition", "windows", "severity", "notifiers", "actions"], rows)
    literal = _literal_secrets(monitor)
    if literal:
        console.print(
            f"note: notifier secrets stored as given ({', '.join(literal)}); prefer env:NAME or ${{NAME}}: "
            "resolved when a notification is sent, never stored",
            highlight=False,
        )


@monitor_app.command("list")
def list_monitors(
    deployment: Annotated[str | None, typer.Option("--deployment", "-d", help="Only this deployment's.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every monitor."""
    service = _service(store)
    with errors_as_exit():
        found = service.list_monitors(deployment)
    if as_json:
        print_json([_shown(m) for m in found])
        return
    rows = [(m.name, m.deployment, m.spec.window.kind, m.spec.window.by, ", ".join(m.spec.signals), len(m.spec.rules))
            for m in found]  # fmt: skip
    table("Monitors", ["name", "deployment", "windows", "by", "signals", "rules"], rows)


@monitor_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The monitor.")],
    last: Annotated[int, typer.Option("--last", "-n", min=1, max=10_000, help="Windows to show.")] = 10,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A monitor, its latest windows and its alerts."""
    service = _service(store)
    with errors_as_exit():
        monitor = service.get(name)
        results = service.results(name, limit=last)
        alerts = service.alerts(monitor=name)
    if as_json:
        print_json({
            "monitor": _shown(monitor),
            "results": [r.model_dump(mode="json") for r in results],
            "alerts": [a.model_dump(mode="json") for a in alerts],
        })  # fmt: skip
        return
    _print(monitor)
    _results_table(results)
    _alerts_table(alerts)


def _headline(values: dict[str, Any]) -> str:
    parts = []
    health = values.get("health") or {}
    if health.get("error_rate") is not None:
        parts.append(f"errors {health['error_rate']:.1%}")
    if health.get("p95_ms") is not None:
        parts.append(f"p95 {health['p95_ms']:.1f}ms")
    drift = values.get("drift") or {}
    if drift.get("share_drifted") is not None:
        parts.append(f"drift {drift['share_drifted']:.0%}")
    quality = values.get("quality") or {}
    if quality.get("failed_expectations"):
        parts.append(f"quality {quality['failed_expectations']} failed")
    perf = values.get("performance") or {}
    for key in ("accuracy", "roc_auc", "rmse", "mae"):
        if perf.get(key) is not None:
            parts.append(f"{key} {perf[key]:.3g}")
            break
    return ", ".join(parts)


def _results_table(results: list[Any]) -> None:
    rows = [(r.window_start, r.window_end, r.status, r.rows, _headline(r.values), "; ".join(r.notes)[:80])
            for r in results]  # fmt: skip
    table("Windows (newest first)", ["start", "end", "status", "requests", "signals", "notes"], rows)


def _alerts_table(alerts: list[Any]) -> None:
    rows = [(a.fingerprint[:12], a.monitor, a.rule, a.state + (" (silenced)" if a.silenced else ""), a.severity,
             a.value, fmt_time(a.first_seen), fmt_time(a.last_seen)) for a in alerts]  # fmt: skip
    table("Alerts", ["id", "monitor", "rule", "state", "severity", "value", "since", "last seen"], rows)


@monitor_app.command("results")
def results(
    name: Annotated[str, typer.Argument(help="The monitor.")],
    last: Annotated[int, typer.Option("--last", "-n", min=1, max=10_000, help="Windows to show.")] = 20,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest window results of a monitor, with every signal value (--json)."""
    service = _service(store)
    with errors_as_exit():
        found = service.results(name, limit=last)
    if as_json:
        print_json([r.model_dump(mode="json") for r in found])
        return
    _results_table(found)


@monitor_app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="The monitor.")], store: StoreOpt = None) -> None:
    """Delete a monitor and its window results (its alerts' history stays)."""
    service = _service(store)
    with errors_as_exit():
        service.delete(name)
    console.print(f"deleted monitor {name}", highlight=False)


@monitor_app.command("run")
def run(
    names: Annotated[list[str] | None, typer.Argument(help="Monitors to run (default: every enabled one).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Most windows per monitor.")] = 100,
    no_notify: Annotated[bool, typer.Option("--no-notify", help="Record alerts without calling notifiers.")] = False,
    fail_on_alert: Annotated[
        bool, typer.Option("--fail-on-alert", help="Exit 3 when an alert of these monitors is firing.")
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate every due window once (cron-friendly), judge the alert rules, notify and act."""
    service = _service(store)
    with errors_as_exit():
        report = service.run(names or None, limit=limit, notify=not no_notify)
        watched = set(names or [m.name for m in service.list_monitors()])
        firing = [a for a in service.alerts(state="firing") if a.monitor in watched]
    if as_json:
        print_json({**report.to_dict(), "firing": [a.model_dump(mode="json") for a in firing]})
    else:
        console.print(
            f"{len(report.results)} window(s) evaluated, {len(report.fired)} alert(s) fired, "
            f"{len(report.resolved)} resolved; {len(firing)} firing"
            + (f"; {len(report.revised)} window(s) re-evaluated for late labels" if report.revised else ""),
            highlight=False,
        )
        for result in report.results:
            note = f" ({'; '.join(result.notes)})" if result.notes else ""
            console.print(f"  {result.monitor} [{result.window_start}, {result.window_end}): {result.status}, "
                          f"{result.rows} request(s) {_headline(result.values)}{note}", highlight=False)  # fmt: skip
        for result in report.revised:
            perf = result.values.get("performance") or {}
            console.print(f"  {result.monitor} [{result.window_start}, {result.window_end}): late labels, performance "
                          f"re-evaluated on {perf.get('labelled', 0)} labelled row(s) {_headline(result.values)}",
                          highlight=False)  # fmt: skip
        for alert in report.fired:
            console.print(f"  [bold red]firing[/] {alert.monitor}/{alert.rule} ({alert.severity}): {alert.signal} = "
                          f"{alert.value}", highlight=False)  # fmt: skip
        for alert in report.resolved:
            console.print(f"  [green]resolved[/] {alert.monitor}/{alert.rule}", highlight=False)
        for error in report.errors:
            console.print(f"  [yellow]error[/] {error}", highlight=False)
    if fail_on_alert and firing:
        raise typer.Exit(3)


@monitor_app.command("reference")
def reference(
    model_ref: Annotated[str, typer.Argument(help="MODEL@VERSION.")],
    data: Annotated[str, typer.Argument(help="Its reference data: a file, a directory, a profile or NAME@VERSION.")],
    role: Annotated[str, typer.Option("--role", help="training, evaluation or outputs.")] = "training",
    target: Annotated[
        str | None, typer.Option("--target", help="The label column: not profiled; fits the label-free estimator.")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="classification or regression (default: from the model).")
    ] = None,
    store: StoreOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register what a model version is judged against: the data is scored by the version and
    profiled with its outputs once (the data is not kept); with --target the estimator is fitted too."""
    from modelyard.cli._stores import dataset_service
    from modelyard.monitoring.sources import load_source

    model, _, version = model_ref.rpartition("@")
    if not model or not version.isdigit():
        fail(f"give MODEL@VERSION with a version number, got {model_ref!r}", 2)
    if role not in ("training", "evaluation", "outputs"):
        fail(f"--role is training, evaluation or outputs, got {role!r}", 2)
    service = _service(store)
    with errors_as_exit():
        source = load_source(data, datasets=dataset_service(store), profile=False)
        saved = service.set_reference(
            model, int(version), source, target=target, task=task, role=role, actor=_user(user)
        )
    if as_json:
        print_json(saved.model_dump(mode="json"))
        return
    columns = ", ".join([*(saved.summary.get("columns") or {}).keys(), *saved.summary.get("outputs", [])])
    console.print(f"{model}@{version} {role} reference: {saved.rows:,} rows profiled ({columns}); {saved.digest[:19]}",
                  highlight=False)  # fmt: skip
    if saved.summary.get("estimator"):
        console.print(f"{model}@{version} label-free estimator: {saved.summary['estimator']} (from {target!r})",
                      highlight=False)  # fmt: skip
    elif saved.summary.get("estimator_skipped"):
        removed = "; the estimator registered before was removed" if saved.summary.get("estimator_removed") else ""
        console.print(f"no label-free estimator: {saved.summary['estimator_skipped']}{removed}", highlight=False)


@monitor_app.command("gate")
def gate(
    deployment: Annotated[str | None, typer.Argument(help="A deployment (default: every monitored one).")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Exit 1 while an alert with a gate action is firing (a CI step before promoting)."""
    service = _service(store)
    with errors_as_exit():
        closed = service.gate(deployment)
    if as_json:
        print_json({"open": not closed, "alerts": [a.model_dump(mode="json") for a in closed]})
    elif closed:
        for alert in closed:
            console.print(f"gate closed by {alert.monitor}/{alert.rule} since {fmt_time(alert.first_seen)} UTC",
                          highlight=False)  # fmt: skip
    else:
        console.print("gate open", highlight=False)
    if closed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``modelyard monitor ...`` to the root app."""
    app.add_typer(monitor_app, name="monitor")
