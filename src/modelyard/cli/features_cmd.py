"""``modelyard features``: apply definitions, list and show them, diff versions, build training sets.

``register(app)`` adds the group to the root Typer app; heavy imports (DuckDB, pandas) stay inside
the commands so that ``modelyard --help`` stays fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli._options import JsonOpt, StoreOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, print_json, table

if TYPE_CHECKING:
    from modelyard.features import FeatureStoreService

features_app = typer.Typer(
    help="Feature store: apply definitions, list/show/diff versions, training sets, online reads.",
    no_args_is_help=True,
)

KindOpt = Annotated[str, typer.Option("--kind", "-k", help="entity, view or service.")]
_KINDS = ("entity", "view", "service")


OnlineOpt = Annotated[
    str | None,
    typer.Option("--online", help="Online store URI (default: MODELYARD_ONLINE_STORE_URI or <home>/online.db)."),
]


def _service(store: str | None, online: str | None = None) -> FeatureStoreService:
    from modelyard.cli._stores import feature_service

    with errors_as_exit():
        return feature_service(store, online)


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r}: expected an ISO 8601 time such as 2024-05-01T12:00:00+00:00", 2)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _kind(kind: str) -> str:
    if kind not in _KINDS:
        fail(f"--kind must be one of {', '.join(_KINDS)}, got {kind!r}", 2)
    return kind


@features_app.command("apply")
def apply(
    path: Annotated[Path, typer.Argument(help="A Python file defining entities, feature views and services.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Register the definitions in PATH: a changed view gets a new version, an unchanged one nothing."""
    from modelyard.features.definitions import load_definitions

    service = _service(store)
    with errors_as_exit():
        applied = service.apply(load_definitions(path))
    if json:
        print_json([{**vars(a), "ref": a.ref} for a in applied])
        return
    rows = [(a.kind, a.ref, "created" if a.created else "unchanged", a.digest[:19]) for a in applied]
    table(f"applied {path}", ["kind", "version", "change", "digest"], rows)
    created = sum(a.created for a in applied)
    console.print(f"{created} new version(s), {len(applied) - created} unchanged")


def _versions(service: FeatureStoreService, kind: str, name: str | None) -> list[Any]:
    store = service.store
    if kind == "entity":
        return list(store.list_entities() if name is None else store.list_entity_versions(name))
    if kind == "view":
        return list(store.list_views() if name is None else store.list_view_versions(name))
    return list(store.list_services() if name is None else store.list_service_versions(name))


def _summary(version: Any) -> str:
    d = version.definition
    if hasattr(d, "join_keys"):
        return "keys: " + ", ".join(d.join_keys)
    if hasattr(d, "source"):
        return f"{len(d.features)} features from {d.source.kind} (keys: {', '.join(version.join_keys)})"
    return f"{len(d.features)} features"


@features_app.command("list")
def list_(
    kind: KindOpt = "view",
    name: Annotated[str | None, typer.Argument(help="Show every version of this one.")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List the latest version of every view (or entity, service), or every version of NAME."""
    service = _service(store)
    with errors_as_exit():
        versions = _versions(service, _kind(kind), name)
    if json:
        print_json([v.model_dump(mode="json") for v in versions])
        return
    rows = [(v.ref, fmt_time(v.created_at), v.digest[:19], _summary(v)) for v in versions]
    table(
        f"feature {kind}s" if name is None else f"versions of {kind} {name}",
        ["version", "created", "digest", "what"],
        rows,
    )


@features_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@vN.")],
    kind: KindOpt = "view",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show one version of a view (or entity, service): its full definition."""
    service = _service(store)
    name, _, text = ref.partition("@")
    number = text.lstrip("v")
    if text and not number.isdigit():
        fail(f"invalid reference {ref!r}: NAME or NAME@vN", 2)
    version = int(number) if text else None
    with errors_as_exit():
        if _kind(kind) == "view":
            found: Any = service.view(name, version)
        elif kind == "entity":
            found = service.store.get_entity(name, version)
        else:
            found = service.store.get_service(name, version)
    summary = _profile_summary(service, found) if kind == "view" else None
    if json:
        print_json({**found.model_dump(mode="json"), **({"profile": summary} if kind == "view" else {})})
        return
    console.print(f"[bold]{kind} {found.ref}[/] {found.digest}  created {fmt_time(found.created_at)}")
    d = found.definition
    if kind == "view":
        console.print(f"entities: {', '.join(d.entities)} (join keys: {', '.join(found.join_keys)})")
        console.print(f"source: {d.source.kind} {d.source.location}")
        console.print(f"timestamp: {d.timestamp_field}   ttl: {d.ttl_seconds or 'none'} s")
        if d.transformation:
            console.print(f"transformation: {d.transformation}")
        table(None, ["feature", "type", "description"], [(f.name, f.dtype, f.description) for f in d.features])
        if summary is not None:
            _print_profile(summary)
    elif kind == "entity":
        console.print(f"join keys: {', '.join(d.join_keys)}")
    else:
        table(None, ["feature"], [(f,) for f in d.features])
    if d.description:
        console.print(d.description)


@features_app.command("diff")
def diff(
    name: Annotated[str, typer.Argument(help="The view (or entity, service).")],
    old: Annotated[int | None, typer.Argument(help="Old version (default: the one before NEW).")] = None,
    new: Annotated[int | None, typer.Argument(help="New version (default: the latest).")] = None,
    kind: KindOpt = "view",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """What changed between two versions of a definition."""
    service = _service(store)
    with errors_as_exit():
        result = service.diff(_kind(kind), name, old, new)
    if json:
        print_json(result)
        return
    head = f"{kind} {name}: v{result['from']} → v{result['to']}"
    if not result["changed"]:
        console.print(f"[green]no changes[/]: {head}")
        return
    console.print(f"[bold]{head}[/]")
    features = result.get("features") or {}
    for label in ("added", "removed"):
        if features.get(label):
            console.print(f"features {label}: {', '.join(features[label])}")
    for feature, change in (features.get("retyped") or {}).items():
        console.print(f"feature {feature}: {change['from']} → {change['to']}")
    for key, change in result["changed"].items():
        if key != "features":
            console.print(f"{key}: {change['from']!r} → {change['to']!r}")


@features_app.command("training-set")
def training_set(
    entities: Annotated[Path, typer.Argument(help="A Parquet file of entity rows (join keys + timestamp).")],
    feature: Annotated[
        list[str] | None, typer.Option("--feature", "-f", help="view:feature or view@vN:feature (repeatable).")
    ] = None,
    service_ref: Annotated[str | None, typer.Option("--service", help="A feature service (NAME or NAME@vN).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result to this Parquet file.")] = None,
    save: Annotated[str | None, typer.Option("--save", help="Save it as the next version of this dataset.")] = None,
    timestamp_column: Annotated[str, typer.Option("--timestamp-column")] = "event_timestamp",
    full_feature_names: Annotated[bool, typer.Option("--full-feature-names")] = False,
    store: StoreOpt = None,
) -> None:
    """Build a point-in-time-correct training set (DuckDB ASOF joins; spills to disk past RAM)."""
    if (feature is None) == (service_ref is None):
        fail("give either --feature (repeatable) or --service", 2)
    if out is None and save is None:
        fail("give --out PATH, --save DATASET, or both", 2)
    service = _service(store)
    wanted: Any = service_ref if service_ref is not None else list(feature or [])
    with (
        errors_as_exit(),
        service.get_training_set(
            str(entities), wanted, timestamp_column=timestamp_column, full_feature_names=full_feature_names
        ) as ts,
        console.status("joining…"),
    ):
        if out is not None:
            ts.to_parquet(out)
            console.print(f"wrote {out} ({len(ts.columns)} columns from {', '.join(v.ref for v in ts.views)})")
        if save is not None:
            saved = service.save_training_set(ts, save, code="modelyard features training-set")
            verb = "saved" if saved.created else "unchanged, already"
            console.print(f"{verb} [bold]{saved.dataset.ref}[/] from {', '.join(saved.views)}")


@features_app.command("materialize")
def materialize(
    start: Annotated[str | None, typer.Option("--start", help="Window start (ISO 8601; naive is UTC).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Window end, exclusive (default: now).")] = None,
    view: Annotated[list[str] | None, typer.Option("--view", "-v", help="NAME or NAME@vN (repeatable).")] = None,
    online: OnlineOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Load the newest feature values into the online store: every row with an event time in
    [--start, --end), or, without --start, only what came since each view's last run. Each run
    records the statistics profile of its rows and the view's expectations they failed (the
    rows are written either way)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    begin, until = _when(start, "--start"), _when(end, "--end")
    service = _service(store, online)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("materialising", total=None)
        read: dict[str, int] = {}

        def progress(ref: str, n: int) -> None:
            read[ref] = read.get(ref, 0) + n
            bar.update(task, description=f"{ref}: {read[ref]:,} rows read")

        with errors_as_exit():
            if begin is None:
                runs = service.materialize_incremental(until, views=view, progress=progress)
            else:
                runs = service.materialize(begin, until or datetime.now(UTC), views=view, progress=progress)
    if json:
        print_json([r.model_dump(mode="json") for r in runs])
        return
    if not runs:
        console.print("[green]up to date[/]: nothing to materialise")
        return
    rows = [(f"{r.view}@v{r.version}", r.target, fmt_time(r.start), fmt_time(r.end), f"{r.rows:,}") for r in runs]
    table("materialised", ["view", "online store", "from", "until", "rows"], rows)
    for r in runs:
        for failed in r.failed_checks:
            console.print(f"[yellow]check failed[/] {r.view}@v{r.version}: {failed}", highlight=False)


@features_app.command("freshness")
def freshness(
    view: Annotated[list[str] | None, typer.Option("--view", "-v", help="NAME or NAME@vN (repeatable).")] = None,
    online: OnlineOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """How far each view is materialised into the online store, and how far behind now."""
    service = _service(store, online)
    with errors_as_exit():
        found = service.freshness(view)
    if json:
        print_json([vars(f) for f in found])
        return
    rows = [
        (
            f.view,
            f.target,
            fmt_time(f.materialized_until) or "never",
            "" if f.lag_seconds is None else f"{f.lag_seconds:,.0f} s",
            f"{f.rows:,}",
        )
        for f in found
    ]
    table("freshness", ["view", "online store", "materialised until", "lag", "rows"], rows)


@features_app.command("online")
def online_read(
    entity: Annotated[
        list[str],
        typer.Option("--entity", "-e", help="A JSON object of join keys, e.g. '{\"driver_id\": 1}' (repeatable)."),
    ],
    feature: Annotated[list[str] | None, typer.Option("--feature", "-f", help="view:feature (repeatable).")] = None,
    service_ref: Annotated[str | None, typer.Option("--service", help="A feature service (NAME or NAME@vN).")] = None,
    online: OnlineOpt = None,
    store: StoreOpt = None,
) -> None:
    """Read the latest feature values of some entities from the online store (JSON out)."""
    rows, wanted = _entities_and_features(entity, feature, service_ref)
    service = _service(store, online)
    with errors_as_exit():
        result = service.get_online_features(rows, wanted)
    print_json(
        [
            {
                "entity": row,
                "values": dict(zip(result.features, values, strict=True)),
                "found": dict(zip(result.views, found, strict=True)),
            }
            for row, values, found in zip(rows, result.values, result.found, strict=True)
        ]
    )


@features_app.command("pin")
def pin(
    model: Annotated[str, typer.Argument(help="The registered model.")],
    version: Annotated[int, typer.Argument(help="Its version.", min=1, max=2**31 - 1)],
    service_ref: Annotated[
        str, typer.Option("--service", help="The feature service it was trained on (NAME or NAME@vN).")
    ],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Pin a model version to the feature service version (and so the view versions) it was trained on."""
    service = _service(store)
    with errors_as_exit():
        found = service.pin_model(model, version, service_ref)
        views = service.check_model_pin(model, version)
    if json:
        print_json({**found.model_dump(mode="json"), "views": [v.ref for v in views]})
        return
    console.print(f"model {model} version {version} → {found.service_ref} ({', '.join(v.ref for v in views)})")


@features_app.command("parity")
def parity(
    entity: Annotated[list[str], typer.Option("--entity", "-e", help="A JSON object of join keys (repeatable).")],
    feature: Annotated[list[str] | None, typer.Option("--feature", "-f", help="view:feature (repeatable).")] = None,
    service_ref: Annotated[str | None, typer.Option("--service", help="A feature service (NAME or NAME@vN).")] = None,
    online: OnlineOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Compare the online values of some entities with the offline join at now; exit 1 on a mismatch."""
    rows, wanted = _entities_and_features(entity, feature, service_ref)
    service = _service(store, online)
    with errors_as_exit():
        report = service.parity(rows, wanted)
    if json:
        print_json({"ok": report.ok, "compared": report.compared, "mismatches": report.mismatches})
    elif report.ok:
        console.print(f"[green]parity[/]: {report.compared:,} values of {report.rows:,} entities match")
    else:
        table(
            f"{len(report.mismatches):,} of {report.compared:,} values differ",
            ["entity row", "feature", "offline", "online"],
            [(i, f, a, b) for i, f, a, b in report.mismatches[:100]],
        )
    if not report.ok:
        raise typer.Exit(1)


def _profile_summary(service: FeatureStoreService, view: Any) -> dict[str, Any] | None:
    """The view version's current materialised profile, summarised (None: no profile yet)."""
    from modelyard.client.features import view_profile
    from modelyard.core.errors import InvalidArgument
    from modelyard.features.quality import profile_summary

    try:
        _, profile, runs = view_profile(service, view.ref)
    except InvalidArgument:
        return None
    features = [vars(s) for s in profile_summary(profile, [f.name for f in view.definition.features])]
    return {"rows": profile.rows, "runs": runs, "features": features}


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:,.4g}"


def _print_profile(summary: dict[str, Any]) -> None:
    rows = [
        (
            f["name"],
            f["kind"],
            f"{f['missing_share']:.1%}",
            _num(f["min"]),
            _num(f["max"]),
            _num(f["mean"]),
            "" if f["distinct"] is None else f"{f['distinct']:,}",
            f["top"] or "",
        )
        for f in summary["features"]
    ]
    title = f"materialised profile: {summary['rows']:,} rows in {summary['runs']} run(s)"
    table(title, ["feature", "kind", "missing", "min", "max", "mean", "distinct", "top"], rows)


@features_app.command("drift")
def drift(
    view: Annotated[str, typer.Argument(help="NAME or NAME@vN.")],
    against: Annotated[
        str | None,
        typer.Option("--against", help="Training set DATASET@VER (default: the newest saved from the view)."),
    ] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Served features against training: drift of the view's materialised profile from the
    training set's (computed by the server when --store is one). Exit 3 when the features drift
    (1/2 for errors, as elsewhere)."""
    from modelyard.client.features import view_drift

    service = _service(store)
    with errors_as_exit():
        done = view_drift(service, view, against)
    result, ref = done.result, done.against
    if json:
        print_json({"view": done.view, "against": ref, **result.to_dict()})
    else:
        rows = [
            (
                c.column,
                c.method,
                _num(c.score),
                _num(c.threshold),
                "[red]drift[/]" if c.drifted else "ok",
            )
            for c in result.columns
        ]
        table(
            f"{done.view} ({result.current_rows:,} rows served) vs {ref} ({result.reference_rows:,} rows)",
            ["feature", "test", "score", "threshold", "verdict"],
            rows,
        )
        for name, why in result.skipped.items():
            console.print(f"{name}: not tested ({why})")
        verdict = "[red]drift[/]" if result.dataset_drift else "[green]no drift[/]"
        console.print(f"{verdict}: {len(result.drifted_columns)} of {len(result.columns)} feature(s) drifted")
    if result.dataset_drift:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")


def _entities_and_features(
    entity: list[str], feature: list[str] | None, service_ref: str | None
) -> tuple[list[dict[str, Any]], Any]:
    """The ``--entity`` JSON objects and what to read (the ``--feature`` list or the ``--service``)."""
    import orjson

    if (feature is None) == (service_ref is None):
        fail("give either --feature (repeatable) or --service", 2)
    rows = []
    for text in entity:
        try:
            row = orjson.loads(text)
        except orjson.JSONDecodeError:
            fail(f"--entity {text!r}: not JSON", 2)
        if not isinstance(row, dict):
            fail(f"--entity {text!r}: expected a JSON object of join keys", 2)
        rows.append(row)
    return rows, (service_ref if service_ref is not None else list(feature or []))
