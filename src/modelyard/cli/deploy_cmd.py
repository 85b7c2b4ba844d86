"""modelyard deploy: create, update, show, list, history, rollback, delete (and compare: the A/B test).

A deployment is a named endpoint whose traffic is split between variants, each a model version
(``[NAME=]MODEL@SELECTOR[:PERCENT]``: ``blue=churn@3:90``); shadows (``--shadow``) see a copy of
every request and are never answered from. Every command prints a table, or JSON with ``--json``;
errors are one line on stderr and a non-zero exit, and change nothing.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from modelyard.cli._options import JsonOpt, ReasonOpt, StoreOpt, UserOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, print_json, table
from modelyard.core.validation import MAX_VERSION

if TYPE_CHECKING:
    from modelyard.core.serving import Deployment, DeploymentSpec
    from modelyard.serving.deployments import DeploymentService

deploy_app = typer.Typer(
    help="Deployments: named endpoints with canary, shadow and A/B variants; history and rollback.",
    no_args_is_help=True,
)

VariantOpt = Annotated[
    list[str] | None,
    typer.Option("--variant", "-v", help="[NAME=]MODEL@VERSION|ALIAS[:PERCENT], repeatable (blue=churn@3:90)."),
]
ShadowOpt = Annotated[
    list[str] | None, typer.Option("--shadow", help="[NAME=]MODEL@SELECTOR mirrored, never answered (repeatable).")
]
StickyOpt = Annotated[
    str | None, typer.Option("--sticky-key", help="Request header or field whose value keeps a caller on one variant.")
]
MaxErrorOpt = Annotated[float | None, typer.Option("--max-error-rate", min=0.0, max=1.0, help="SLO: error rate.")]
MaxP99Opt = Annotated[float | None, typer.Option("--max-p99-ms", min=0.001, max=3_600_000.0, help="SLO: p99 latency.")]
WindowOpt = Annotated[int | None, typer.Option("--slo-window", min=1, max=86_400, help="SLO window in seconds.")]
MinRequestsOpt = Annotated[
    int | None, typer.Option("--min-requests", min=1, max=10_000_000, help="SLO: requests before judging.")
]


def _user(user: str | None) -> str:
    if user:
        return user
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # no user database entry (some containers)
        return "unknown"


def _service(store: str | None) -> DeploymentService:
    from modelyard.cli._stores import cli_stores
    from modelyard.registry.service import RegistryService
    from modelyard.serving.deployments import DeploymentService

    with errors_as_exit():
        stores = cli_stores(store)
        return DeploymentService(stores.serving, RegistryService(stores.registry, stores.tracking, stores.artifacts))


def _variants(variants: list[str] | None, shadows: list[str] | None) -> list[Any] | None:
    from modelyard.serving.deployments import parse_variant

    if not variants and not shadows:
        return None
    single = len(variants or []) == 1
    out: list[Any] = [parse_variant(v, default_name="main" if single else None) for v in variants or []]
    for i, s in enumerate(shadows or []):
        out.append(parse_variant(s, shadow=True, default_name=f"shadow{i + 1}" if i else "shadow"))
    return out


def _slo(
    current: Any, max_error_rate: float | None, max_p99_ms: float | None, window: int | None, min_requests: int | None
) -> Any:
    given = {
        k: v
        for k, v in {
            "max_error_rate": max_error_rate,
            "max_p99_ms": max_p99_ms,
            "window_s": window,
            "min_requests": min_requests,
        }.items()
        if v is not None
    }
    if not given:
        return current
    base = current.model_dump() if current is not None else {}
    return {**base, **given}


def _spec_rows(spec: DeploymentSpec) -> list[tuple[Any, ...]]:
    return [(v.name, f"{v.model}@{v.ref}", v.version, "shadow" if v.shadow else f"{v.traffic}%") for v in spec.variants]


def _print(deployment: Deployment) -> None:
    spec = deployment.spec
    console.print(
        f"[bold]{deployment.name}[/] revision {deployment.revision}, updated {fmt_time(deployment.updated_at)} "
        f"by {deployment.updated_by}",
        highlight=False,
    )
    table("Variants", ["variant", "reference", "version", "traffic"], _spec_rows(spec))
    if spec.sticky_key:
        console.print(f"sticky key: {spec.sticky_key}", highlight=False)
    if spec.slo is not None:
        slo = spec.slo
        console.print(
            f"SLO: error rate <= {slo.max_error_rate}, p99 <= {slo.max_p99_ms} ms over {slo.window_s}s "
            f"(at least {slo.min_requests} requests); automatic rollback {'on' if spec.auto_rollback else 'off'}",
            highlight=False,
        )
    if spec.log_retention_days is not None:
        console.print(f"prediction logs kept {spec.log_retention_days} day(s)", highlight=False)


RetentionOpt = Annotated[
    int | None,
    typer.Option(
        "--log-retention-days", min=0, max=36_500,
        help="Delete logged predictions older than this many days (0: keep them; pruned by serve or the server).",
    ),
]  # fmt: skip


@deploy_app.command("create")
def deploy_create(
    name: Annotated[str, typer.Argument(help="The deployment (endpoint) name.")],
    variant: VariantOpt = None,
    shadow: ShadowOpt = None,
    sticky_key: StickyOpt = None,
    max_error_rate: MaxErrorOpt = None,
    max_p99_ms: MaxP99Opt = None,
    slo_window: WindowOpt = None,
    min_requests: MinRequestsOpt = None,
    auto_rollback: Annotated[bool, typer.Option("--auto-rollback", help="Roll back when the SLO is breached.")] = False,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    log_retention_days: RetentionOpt = None,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Create a deployment: `modelyard deploy create churn-api -v churn@champion`."""
    if not variant:
        fail("give at least one --variant MODEL@VERSION|ALIAS", 2)
    service = _service(store)
    with errors_as_exit():
        created = service.create(
            name,
            _variants(variant, shadow) or [],
            actor=_user(user),
            sticky_key=sticky_key,
            slo=_slo(None, max_error_rate, max_p99_ms, slo_window, min_requests),
            auto_rollback=auto_rollback,
            description=description,
            reason=reason,
            log_retention_days=log_retention_days or None,
        )
    if json:
        print_json(created.model_dump(mode="json"))
        return
    _print(created)


@deploy_app.command("update")
def deploy_update(
    name: str,
    variant: VariantOpt = None,
    shadow: ShadowOpt = None,
    traffic: Annotated[
        list[str] | None, typer.Option("--traffic", "-t", help="VARIANT=PERCENT: change one share (repeatable).")
    ] = None,
    sticky_key: StickyOpt = None,
    no_sticky: Annotated[bool, typer.Option("--no-sticky", help="Drop the sticky key.")] = False,
    max_error_rate: MaxErrorOpt = None,
    max_p99_ms: MaxP99Opt = None,
    slo_window: WindowOpt = None,
    min_requests: MinRequestsOpt = None,
    auto_rollback: Annotated[
        bool | None, typer.Option("--auto-rollback/--no-auto-rollback", help="Roll back on an SLO breach.")
    ] = None,
    expected_revision: Annotated[
        int | None, typer.Option("--expected-revision", min=1, max=MAX_VERSION, help="Refuse if it changed since.")
    ] = None,
    log_retention_days: RetentionOpt = None,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Change a deployment (a new revision): new variants, traffic shares, sticky key, SLO."""
    shares: dict[str, int] = {}
    for item in traffic or []:
        key, sep, value = item.partition("=")
        if not sep or not value.isdigit() or int(value) > 100:
            fail(f"invalid --traffic {item!r}: expected VARIANT=PERCENT (0-100)", 2)
        shares[key] = int(value)
    service = _service(store)
    with errors_as_exit():
        current = service.get(name)
        kwargs: dict[str, Any] = {}
        if sticky_key is not None or no_sticky:
            kwargs["sticky_key"] = None if no_sticky else sticky_key
        slo = _slo(current.spec.slo, max_error_rate, max_p99_ms, slo_window, min_requests)
        if slo is not current.spec.slo:
            kwargs["slo"] = slo
        if log_retention_days is not None:
            kwargs["log_retention_days"] = log_retention_days or None
        updated = service.update(
            name,
            actor=_user(user),
            variants=_variants(variant, shadow),
            traffic=shares or None,
            auto_rollback=auto_rollback,
            expected_revision=expected_revision,
            reason=reason,
            **kwargs,
        )
    if json:
        print_json(updated.model_dump(mode="json"))
        return
    _print(updated)


@deploy_app.command("show")
def deploy_show(
    name: str,
    ab: Annotated[bool, typer.Option("--ab", help="Compare the variants' outcomes on logged predictions.")] = False,
    since: Annotated[str, typer.Option("--since", help="With --ab: how far back (30m, 24h, 7d).")] = "7d",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """The current revision: variants, traffic, SLO (and with --ab the A/B comparison)."""
    service = _service(store)
    with errors_as_exit():
        deployment = service.get(name)
    if ab:
        _compare(name, since, json, store)
        return
    if json:
        print_json(deployment.model_dump(mode="json"))
        return
    _print(deployment)


@deploy_app.command("list")
def deploy_list(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Every deployment."""
    service = _service(store)
    with errors_as_exit():
        found = service.list_deployments()
    if json:
        print_json([d.model_dump(mode="json") for d in found])
        return
    rows = [
        (
            d.name,
            d.revision,
            ", ".join(f"{r[0]}={r[1]}->{r[2]} {r[3]}" for r in _spec_rows(d.spec)),
            d.updated_by,
            fmt_time(d.updated_at),
        )
        for d in found
    ]
    table(f"Deployments ({len(found)})", ["name", "revision", "variants", "by", "updated"], rows)


@deploy_app.command("history")
def deploy_history(name: str, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Every revision: who, when, why, and the variants after it."""
    service = _service(store)
    with errors_as_exit():
        events = service.history(name)
    if json:
        print_json([e.model_dump(mode="json") for e in events])
        return

    def variants(spec: Any) -> str:
        return "" if spec is None else ", ".join(f"{r[0]}={r[1]}->{r[2]} {r[3]}" for r in _spec_rows(spec))

    rows = [
        (
            e.revision,
            e.action + (f" to {e.restored_from}" if e.restored_from else ""),
            e.actor,
            fmt_time(e.at),
            e.reason or "",
            variants(e.after),
        )
        for e in events
    ]
    table(f"{name}: history", ["revision", "action", "by", "at", "reason", "variants after"], rows)


@deploy_app.command("rollback")
def deploy_rollback(
    name: str,
    to: Annotated[int | None, typer.Option("--to", min=1, max=MAX_VERSION, help="Restore this revision.")] = None,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Restore the previous state (or --to REVISION) as a new revision."""
    service = _service(store)
    with errors_as_exit():
        restored = service.rollback(name, actor=_user(user), reason=reason, to_revision=to)
    if json:
        print_json(restored.model_dump(mode="json"))
        return
    console.print(f"rolled back {name}", highlight=False)
    _print(restored)


@deploy_app.command("delete")
def deploy_delete(
    name: str,
    reason: ReasonOpt = None,
    user: UserOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete a deployment (its history stays readable)."""
    service = _service(store)
    with errors_as_exit():
        event = service.delete(name, actor=_user(user), reason=reason)
    if json:
        print_json(event.model_dump(mode="json"))
        return
    console.print(f"deleted {name} (revision {event.revision})", highlight=False)


@deploy_app.command("compare")
def deploy_compare(
    name: str,
    since: Annotated[str, typer.Option("--since", help="How far back (30m, 24h, 7d).")] = "7d",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """A/B: compare the variants' outcomes (logged predictions joined with feedback) with a
    significance test."""
    _compare(name, since, json, store)


def _compare(name: str, since: str, json: bool, store: str | None) -> None:
    from modelyard.cli._stores import cli_stores
    from modelyard.serving.abtest import compare_variants
    from modelyard.serving.predictions import predictions, since_ms

    with errors_as_exit():
        stores = cli_stores(store)
        start = since_ms(since)
        frame = predictions(stores, name, start)
        result = compare_variants(frame)
    if json:
        print_json(result.as_dict())
        return
    table(
        f"{name}: variants ({result.metric})",
        ["variant", "requests", "with feedback", result.metric, "errors", "p99 ms"],
        [
            (v.variant, v.requests, v.labelled, "" if v.value is None else f"{v.value:.4g}", v.errors,
             "" if v.p99_ms is None else f"{v.p99_ms:.1f}")
            for v in result.variants
        ],
    )  # fmt: skip
    console.print(result.summary(), highlight=False)


predictions_app = typer.Typer(help="Logged predictions of an endpoint, joined with feedback.", no_args_is_help=True)


@predictions_app.command("show")
def predictions_show(
    endpoint: str,
    since: Annotated[str, typer.Option("--since", help="How far back (30m, 24h, 7d) or a date.")] = "24h",
    until: Annotated[str | None, typer.Option("--until", help="End of the range (default: now).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1_000_000, help="At most this many rows.")] = 50,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """The most recent logged predictions of ENDPOINT (request, variant, version, output or the
    error of a failed request, feedback)."""
    from modelyard.cli._stores import cli_stores
    from modelyard.serving.predictions import predictions, since_ms, time_ms

    with errors_as_exit():
        frame = predictions(cli_stores(store), endpoint, since_ms(since), time_ms(until, "until"))
    frame = frame.tail(limit)
    if json:
        print_json(frame.to_dict("records"))
        return
    rows = [
        (fmt_time(int(r["timestamp_ms"])), r["request_id"], r["variant"] + (" (shadow)" if r["shadow"] else ""),
         r["model_version"], r["status"], _short(r["outputs"] if r["error"] is None else r["error"]),
         _short(r["feedback"]), f"{r['latency_ms']:.2f}")
        for r in frame.to_dict("records")
    ]  # fmt: skip
    table(
        f"{endpoint}: {len(rows)} prediction(s)",
        ["time", "request", "variant", "version", "status", "output", "feedback", "ms"],
        rows,
    )


def _maintain(endpoint: str, older_than: str, store: str | None, run: Any) -> Any:
    """Run one maintenance pass (``run(maintainer, before_ms)``); busy is an error."""
    from modelyard.auth.timeparse import parse_duration_ms
    from modelyard.cli._stores import cli_stores
    from modelyard.core.tracking import now_millis
    from modelyard.serving.logmaint import LogMaintainer

    with errors_as_exit():
        before_ms = now_millis() - parse_duration_ms(older_than)
        stores = cli_stores(store)
        if stores.remote:  # the server does it, where blobs can be deleted
            from modelyard.client.serving import HttpServingStore, RemoteLogMaintainer

            result = run(RemoteLogMaintainer(cast(HttpServingStore, stores.serving)), before_ms)
        else:
            result = run(LogMaintainer(stores), before_ms)
    if result.busy:
        fail(f"{endpoint}: another process is compacting or pruning its log; nothing done (try again later)", 1)
    return result


@predictions_app.command("compact")
def predictions_compact(
    endpoint: str,
    older_than: Annotated[str, typer.Option("--older-than", help="Only rows older than this (1h, 1d).")] = "1h",
    target_rows: Annotated[
        int, typer.Option("--target-rows", min=1, max=100_000_000, help="Rows per merged partition.")
    ] = 500_000,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Merge ENDPOINT's small log partitions (one per logger flush) into large ones; the replaced
    blobs are deleted."""
    result = _maintain(
        endpoint, older_than, store, lambda m, before: m.compact(endpoint, before_ms=before, target_rows=target_rows)
    )
    if json:
        print_json(result.as_dict())
        return
    console.print(f"{endpoint}: {result.replaced} partition(s) merged into {result.written}", highlight=False)


@predictions_app.command("prune")
def predictions_prune(
    endpoint: str,
    older_than: Annotated[str, typer.Option("--older-than", help="Delete rows older than this (30d, 12h).")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete ENDPOINT's logged predictions older than --older-than (whole partitions), with their
    feedback and blobs."""
    result = _maintain(endpoint, older_than, store, lambda m, before: m.prune(endpoint, before_ms=before))
    if json:
        print_json(result.as_dict())
        return
    counts = f"{result.pruned_rows} row(s), {result.blobs_deleted} blob(s)"
    console.print(f"{endpoint}: {result.pruned} partition(s) deleted ({counts})", highlight=False)


def _short(value: Any, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def register(app: typer.Typer) -> None:
    """Add ``modelyard deploy ...`` and ``modelyard predictions ...`` to the root app."""
    app.add_typer(deploy_app, name="deploy")
    app.add_typer(predictions_app, name="predictions")
