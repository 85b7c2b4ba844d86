"""``modelyard drift REF CUR``: drift between two datasets, and ``modelyard profile DATA``.

REF and CUR are CSV/TSV/Parquet/JSON Lines files (or folders of them), dataset versions
``NAME@VERSION`` of the store, or saved profiles (``modelyard profile DATA -o ref.myprofile``):
drift against a saved profile never reads the reference data again. Prints one row per column
(``--json``: the report's JSON form); ``--report drift.html`` writes the HTML report (its charts
load a shared ``plotly.min.js`` beside it; ``--self-contained`` inlines it), ``--report x.json``
the JSON. Exit 0, or 1 with ``--fail-on-drift`` when the dataset drifted; 2 for bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli._output import console, errors_as_exit, fail, print_json, table


def _load(source: str, store: str | None, *, profile: bool, columns: list[str] | None = None) -> Any:
    from modelyard.monitoring.sources import load_source, looks_like_dataset_ref

    datasets = None
    if looks_like_dataset_ref(source) and not Path(source).exists():
        from modelyard.cli._stores import dataset_service

        datasets = dataset_service(store)
    return load_source(source, datasets=datasets, profile=profile, columns=columns)


def _column_options(values: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for raw in values:
        name, sep, spec = raw.partition("=")
        if not sep or not name or not spec:
            fail(f"--column takes COLUMN=METHOD, COLUMN=METHOD:THRESHOLD or COLUMN=:THRESHOLD, got {raw!r}", 2)
        method, _, threshold = spec.partition(":")
        opt: dict[str, Any] = {}
        if method:
            opt["method"] = method
        if threshold:
            try:
                opt["threshold"] = float(threshold)
            except ValueError:
                fail(f"--column {raw!r}: threshold {threshold!r} is not a number", 2)
        out[name] = opt
    return out


def drift(
    reference: Annotated[str, typer.Argument(help="Reference: a file, a folder, NAME@VERSION or a saved profile.")],
    current: Annotated[str, typer.Argument(help="Current data: a file, a folder, NAME@VERSION or a saved profile.")],
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the report here (.html with plots, or .json).")
    ] = None,
    self_contained: Annotated[
        bool, typer.Option("--self-contained", help="With --report: plotly.js inlined (one ~5 MB file).")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    columns: Annotated[
        str | None, typer.Option("--columns", help="Compare only these columns (comma-separated).")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help="One method for every column: ks, chisquare, z, wasserstein, jensenshannon, psi."
        ),
    ] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="One threshold for every column.")] = None,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="Per column: COLUMN=METHOD[:THRESHOLD] or COLUMN=:THRESHOLD (repeatable)."),
    ] = None,
    prediction: Annotated[str | None, typer.Option("--prediction", help="The prediction column.")] = None,
    drift_share: Annotated[
        float, typer.Option("--drift-share", help="Share of drifted columns at which the dataset drifts.")
    ] = 0.5,
    domain_classifier: Annotated[
        bool,
        typer.Option("--domain-classifier", help="Also test multivariate drift with a classifier (not with profiles)."),
    ] = False,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="Exit 1 when the dataset drifted.")] = False,
    store: Annotated[str | None, typer.Option("--store", help="Store URI (for NAME@VERSION).")] = None,
) -> None:
    """Drift of CUR against REF, column by column (tests chosen by type and size)."""
    from modelyard.monitoring.drift import DriftOptions, compute_drift

    if self_contained and report is None:
        fail("--self-contained needs --report FILE", 2)
    with errors_as_exit():
        options = DriftOptions(
            method=method,
            threshold=threshold,
            columns=_column_options(column or []),
            drift_share=drift_share,
            prediction=prediction,
            domain_classifier=domain_classifier,
        )
        names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
        as_profiles = not domain_classifier  # files are profiled as they are read (bounded memory)
        ref = _load(reference, store, profile=as_profiles, columns=names)
        cur = _load(current, store, profile=as_profiles, columns=names)
        result = compute_drift(ref, cur, columns=names, options=options)
        if report is not None:
            from modelyard.reports.drift import write_drift_report

            write_drift_report(
                result, report, title=f"Drift of {current} against {reference}", self_contained=self_contained
            )
    if json:
        from modelyard.reports.drift import drift_report_dict

        print_json(drift_report_dict(result) if report is None else result.to_dict())
    else:
        rows = [
            (c.column, c.kind, c.role, "DRIFT" if c.drifted else "ok", c.method, c.score, c.threshold, c.psi)
            for c in result.columns
        ]
        table(None, ["column", "kind", "role", "drift", "method", "score", "threshold", "psi"], rows)
        for name, why in result.skipped.items():
            console.print(f"[dim]not tested: {name}: {why}[/dim]")
        if result.domain is not None:
            d = result.domain
            console.print(
                f"domain classifier ROC AUC {d.roc_auc:.3f} (threshold {d.threshold}): "
                + ("[bold red]drift[/]" if d.drifted else "[green]no drift[/]")
            )
        verdict = "[bold red]dataset drift[/]" if result.dataset_drift else "[green]no dataset drift[/]"
        console.print(
            f"{verdict}: {len(result.drifted_columns)} of "
            f"{sum(1 for c in result.columns if c.role == 'feature')} columns drifted "
            f"(share {result.share_drifted:.2f}, threshold {result.drift_share})"
        )
        if report is not None:
            console.print(f"report: {report}")
    if fail_on_drift and result.dataset_drift:
        raise typer.Exit(1)


def profile(
    data: Annotated[str, typer.Argument(help="A file, a folder or NAME@VERSION.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Write the profile here (e.g. ref.myprofile).")],
    columns: Annotated[str | None, typer.Option("--columns", help="Only these columns (comma-separated).")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    store: Annotated[str | None, typer.Option("--store", help="Store URI (for NAME@VERSION).")] = None,
) -> None:
    """Save the mergeable profile of DATA: a drift reference that is never rescanned."""
    from modelyard.core.html_assets import write_if_changed
    from modelyard.monitoring.profiles import profile_frame
    from modelyard.stats.profile import DatasetProfile

    with errors_as_exit():
        names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
        loaded = _load(data, store, profile=True, columns=names)
        prof = loaded if isinstance(loaded, DatasetProfile) else profile_frame(loaded, names)
        payload = prof.to_bytes()
        try:
            write_if_changed(out, payload)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}", 2)
    summary = {
        "path": str(out),
        "rows": prof.rows,
        "columns": {k: v.kind for k, v in prof.columns.items()},
        "bytes": len(payload),
    }
    if json:
        print_json(summary)
    else:
        console.print(f"profile of {prof.rows:,} rows × {len(prof.columns)} columns → {out} ({len(payload):,} bytes)")


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)
    app.command("profile")(profile)
