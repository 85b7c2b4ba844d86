"""modelyard monitor alerts, history, silence, unsilence, silences: the alerts of monitors.

* ``monitor alerts [--monitor M] [--state firing|resolved]``: alerts, newest first;
* ``monitor history [ALERT]``: fired, resolved, notified, failed notifications and actions;
* ``monitor silence --monitor M --for 2h``: matching alerts are recorded, not notified;
  ``monitor unsilence ID`` ends one now, ``monitor silences [--active]`` lists them.

Tables, or JSON with ``--json``; errors are one line and a non-zero exit.
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli._options import JsonOpt, StoreOpt, UserOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, print_json, table
from modelyard.cli.monitor_cmd import _alerts_table, _service, _user, monitor_app


def alerts(
    monitor: Annotated[str | None, typer.Option("--monitor", "-m", help="Only this monitor's.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="firing or resolved.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts, newest first."""
    if state is not None and state not in ("firing", "resolved"):
        fail(f"--state is firing or resolved, got {state!r}", 2)
    service = _service(store)
    with errors_as_exit():
        found = service.alerts(monitor=monitor, state=state)
    if as_json:
        print_json([a.model_dump(mode="json") for a in found])
        return
    _alerts_table(found)


def history(
    alert: Annotated[str | None, typer.Argument(help="An alert id (its fingerprint, or a prefix of it).")] = None,
    monitor: Annotated[str | None, typer.Option("--monitor", "-m", help="Only this monitor's.")] = None,
    last: Annotated[int, typer.Option("--last", "-n", min=1, max=100_000, help="Events to show.")] = 100,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The history of alerts: fired, resolved, notified, failed notifications, actions."""
    service = _service(store)
    with errors_as_exit():
        fingerprint = None
        if alert is not None:
            matches = [a.fingerprint for a in service.alerts() if a.fingerprint.startswith(alert)]
            if len(matches) != 1:
                fail(f"{'no' if not matches else 'more than one'} alert matches {alert!r}", 1 if not matches else 2)
            fingerprint = matches[0]
        events = service.history(fingerprint=fingerprint, monitor=monitor, limit=last)
    if as_json:
        print_json([e.model_dump(mode="json") for e in events])
        return
    rows = [
        (fmt_time(e.at), e.monitor, e.rule, e.kind, e.value, ", ".join(f"{k}={v}" for k, v in e.detail.items())[:90])
        for e in events
    ]
    table("Alert history", ["at", "monitor", "rule", "event", "value", "detail"], rows)


def silence(
    monitor: Annotated[str | None, typer.Option("--monitor", "-m", help="Match this monitor.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Match this rule.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="Match this severity.")] = None,
    duration: Annotated[str, typer.Option("--for", help="How long (30m, 2h, 1d).")] = "1h",
    comment: Annotated[str | None, typer.Option("--comment", "-c", help="Why.")] = None,
    store: StoreOpt = None,
    user: UserOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Silence matching alerts for a while: they are recorded, not notified."""
    from modelyard.auth.timeparse import parse_duration_ms

    matchers = {k: v for k, v in {"monitor": monitor, "rule": rule, "severity": severity}.items() if v is not None}
    if not matchers:
        fail("a silence needs at least one of --monitor, --rule, --severity", 2)
    service = _service(store)
    with errors_as_exit():
        made = service.silence(matchers, duration_ms=parse_duration_ms(duration), actor=_user(user), comment=comment)
    if as_json:
        print_json(made.model_dump(mode="json"))
        return
    console.print(f"silence {made.id} until {fmt_time(made.end)} UTC", highlight=False)


def unsilence(silence_id: Annotated[str, typer.Argument(help="The silence's id.")], store: StoreOpt = None) -> None:
    """End a silence now."""
    service = _service(store)
    with errors_as_exit():
        ended = service.unsilence(silence_id)
    console.print(f"silence {ended.id} ended {fmt_time(ended.end)} UTC", highlight=False)


def silences(
    active: Annotated[bool, typer.Option("--active", help="Only those active now.")] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Silences."""
    service = _service(store)
    with errors_as_exit():
        found = service.silences(active=active)
    if as_json:
        print_json([s.model_dump(mode="json") for s in found])
        return
    rows = [(s.id, ", ".join(f"{k}={v}" for k, v in s.matchers.items()), fmt_time(s.start), fmt_time(s.end),
             s.created_by, s.comment or "") for s in found]  # fmt: skip
    table("Silences", ["id", "matchers", "start", "end", "by", "comment"], rows)


def register(app: typer.Typer) -> None:
    """Add ``modelyard monitor alerts|history|silence|unsilence|silences`` to the monitor group."""
    monitor_app.command("alerts")(alerts)
    monitor_app.command("history")(history)
    monitor_app.command("silence")(silence)
    monitor_app.command("unsilence")(unsilence)
    monitor_app.command("silences")(silences)
