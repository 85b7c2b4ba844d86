"""modelyard monitor report: a deployment's (or a monitor's) monitoring period report.

``modelyard monitor report DEPLOYMENT --since 7d -o report.html`` writes the page (drift per
column and drift share over time, data quality breaches, realized and estimated performance with
their bands, service health per variant, the alerts of the period with their history) loading a
shared ``plotly.min.js`` written beside it, as the drift report does; ``--self-contained`` inlines
plotly.js. ``--json`` prints the JSON form (``-o`` then writes it; so does ``-o report.json``).
DEPLOYMENT may also be a monitor's name; ``--last N`` reads at most the newest N windows of each
monitor. Aggregates only (``reports/monitoring_period.py``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli._output import console, errors_as_exit, fail
from modelyard.cli._report_output import JsonFormOpt, OutputOpt, SelfContainedOpt, emit_report, report_target


def report(
    deployment: Annotated[str, typer.Argument(help="The deployment (all its monitors), or one monitor's name.")],
    since: Annotated[
        str, typer.Option("--since", help="Start of the period: a duration ago (7d, 12h), ISO-8601 time or epoch ms.")
    ] = "7d",
    until: Annotated[str | None, typer.Option("--until", help="End of the period (same forms; default: now).")] = None,
    output: OutputOpt = None,
    json: JsonFormOpt = False,
    self_contained: SelfContainedOpt = False,
    last: Annotated[
        int, typer.Option("--last", "-n", min=1, max=10_000, help="Read at most the newest N windows of each monitor.")
    ] = 10_000,
    points: Annotated[int, typer.Option("--points", help="At most this many points per series.", min=2)] = 300,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URI (default: MODELYARD_STORE_URI or ./.modelyard).")
    ] = None,
) -> None:
    """Write the monitoring period report of a deployment (HTML with plotly, or JSON)."""
    from modelyard.auth.timeparse import parse_time_ms
    from modelyard.cli._stores import cli_stores
    from modelyard.core.tracking import now_millis
    from modelyard.reports.monitoring_period import build_monitoring_report

    target, json = report_target(output, json, self_contained, json_suffix=True)
    with errors_as_exit():
        now = now_millis()
        start = parse_time_ms(since, "--since", now_ms=now)
        end = parse_time_ms(until, "--until", now_ms=now)
        if start is None:
            fail("--since must not be empty", 2)
        stores = cli_stores(store)
        built = build_monitoring_report(
            stores.monitoring, deployment, start_ms=start, end_ms=now + 1 if end is None else end, now_ms=now,
            max_points=points, last=last,
        )  # fmt: skip
    emit_report(built, target, as_json=json, to_json=lambda: built.to_json(indent=1), self_contained=self_contained)
    if target is None:
        return
    firing = f", {built.firing} alert(s) firing" if built.firing else ""
    windows = sum(m["windows"]["total"] for m in built.monitors)
    console.print(f"wrote {output} ({len(built.monitors)} monitor(s), {windows} window(s){firing})", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``modelyard monitor report`` to the monitor group."""
    from modelyard.cli.monitor_cmd import monitor_app

    monitor_app.command("report")(report)
