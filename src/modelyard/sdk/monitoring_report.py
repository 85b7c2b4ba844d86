"""``modelyard.monitoring_report()``: a deployment's (or a monitor's) monitoring period report —
drift, quality, performance (realized and estimated), service health and alerts over a period,
aggregates only — over the SDK session's stores (a local store or a modelyard server).

>>> report = modelyard.monitoring_report("churn-api", since="7d")
>>> report.write_html("churn-week.html")     # shared plotly.min.js beside it; self_contained=True inlines it
>>> report.to_dict()["alerts"]               # the JSON form, for programs
"""

from __future__ import annotations

from modelyard.reports.monitoring_period import DEFAULT_MAX_POINTS, MonitoringReport

__all__ = ["monitoring_report"]


def monitoring_report(
    deployment: str,
    *,
    since: str | int = "7d",
    until: str | int | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
) -> MonitoringReport:
    """The report of ``deployment`` (every monitor watching it; or one monitor, by its name) over
    ``[since, until)``: each a duration ago ("7d", "12h"), an ISO-8601 time or epoch milliseconds;
    ``until`` defaults to now."""
    from modelyard.auth.timeparse import parse_time_ms
    from modelyard.core.tracking import now_millis
    from modelyard.reports.monitoring_period import build_monitoring_report
    from modelyard.sdk.session import _session

    now = now_millis()
    start = parse_time_ms(str(since), "since", now_ms=now)
    end = parse_time_ms(None if until is None else str(until), "until", now_ms=now)
    assert start is not None
    return build_monitoring_report(
        _session.stores().monitoring, deployment, start_ms=start, end_ms=now + 1 if end is None else end,
        now_ms=now, max_points=max_points,
    )  # fmt: skip
