"""modelyard models card / evaluate commands (issue: Models).

``modelyard models card NAME VERSION`` prints, edits (``--set field=text``) and exports
(``--markdown FILE``, ``--html FILE``; ``-`` is stdout) a version's model card. An HTML file
loads plotly.js from one shared ``plotly.min.js`` beside it (``--self-contained``: inlined).
``modelyard evaluate NAME@VERSION --data FILE --target COLUMN`` evaluates a registered version
on a CSV or Parquet file, logs an "evaluation" run and records the result on the version.

``register(app)`` adds the commands; heavy imports stay inside the commands.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli._options import JsonOpt, StoreOpt
from modelyard.cli._output import console, errors_as_exit, fail, fmt_time, fmt_value, print_json, table
from modelyard.cli._parsers import VersionArg

if TYPE_CHECKING:
    from modelyard.reports.cards import ModelCard
    from modelyard.sdk.models import RegistryClient



@contextmanager
def _open_registry(store: str | None) -> Iterator[RegistryClient]:
    """A registry over an existing store (``cli_stores``, which keeps one per process and closes it
    when other settings are asked for)."""
    from modelyard.cli._stores import cli_stores
    from modelyard.sdk.models import RegistryClient

    with errors_as_exit():
        registry = RegistryClient(stores=cli_stores(store))
    yield registry


def _parse_assignments(items: list[str]) -> dict[str, str | None]:
    changes: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"invalid --set {item!r}: expected FIELD=TEXT (an empty TEXT clears the field)", 2)
        changes[key.strip()] = value or None
    return changes


def _write(text: str, destination: str) -> None:
    if destination == "-":
        typer.echo(text, nl=False)
        return
    path = Path(destination)
    if not path.parent.is_dir():
        fail(f"cannot write {destination!r}: directory {str(path.parent)!r} does not exist", 2)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {destination!r}: {exc.strerror or exc}", 1)
    console.print(f"wrote {destination}")


def _write_html(model_card: ModelCard, destination: str, *, self_contained: bool) -> None:
    """The card as an HTML file; unless self-contained, with the shared plotly.min.js beside it."""
    path = Path(destination)
    if not path.parent.is_dir():
        fail(f"cannot write {destination!r}: directory {str(path.parent)!r} does not exist", 2)
    try:
        with errors_as_exit():
            model_card.write_html(path, self_contained=self_contained)
    except OSError as exc:
        fail(f"cannot write {destination!r}: {exc.strerror or exc}", 1)
    console.print(f"wrote {destination}")


def card(
    name: str,
    version: VersionArg,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help='Edit a field: intended_use="...", limitations=..., owners=... (repeatable).'),
    ] = None,
    markdown: Annotated[str | None, typer.Option("--markdown", help="Export Markdown to FILE (- for stdout).")] = None,
    html: Annotated[
        str | None,
        typer.Option(
            "--html", help="Export HTML to FILE (- for stdout); its charts load plotly.min.js, written once beside it."
        ),
    ] = None,
    self_contained: Annotated[
        bool, typer.Option("--self-contained", help="With --html: one file with plotly.js inlined (~5 MB).")
    ] = False,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Who is editing (default: the OS user).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show, edit or export the model card of a version."""
    from modelyard.reports.cards import EDITABLE_FIELDS, build_card, update_card
    from modelyard.sdk.models import current_user

    if self_contained and not html:
        fail("--self-contained needs --html FILE", 2)
    changes = _parse_assignments(set_ or [])
    with _open_registry(store) as registry, errors_as_exit():
        if changes:
            model_card = update_card(registry, name, version, changes, actor=user or current_user())
        else:
            model_card = build_card(registry, name, version)
        markdown_text = model_card.to_markdown() if markdown else None
        html_text = model_card.to_html() if html == "-" else None  # stdout: one self-contained page
    if markdown is not None and markdown_text is not None:
        _write(markdown_text, markdown)
    if html is not None and html_text is not None:
        _write(html_text, html)
    elif html:
        _write_html(model_card, html, self_contained=self_contained)
    if markdown or html:
        return
    if json:
        print_json(model_card.to_dict())
        return
    rows: list[tuple[Any, ...]] = [
        ("project", model_card.project),
        ("state", model_card.state),
        ("aliases", ", ".join(model_card.aliases)),
        ("flavor", model_card.flavor),
        ("run", (model_card.run or {}).get("id")),
        ("features", ", ".join(str(f["name"]) for f in model_card.features)),
        ("evaluated", "yes" if model_card.evaluation else "no"),
    ]
    rows += [(label, model_card.fields.get(key, "")) for key, label in EDITABLE_FIELDS.items()]
    if model_card.fields_updated_at:
        rows.append(("edited", f"{fmt_time(model_card.fields_updated_at)} by {model_card.fields_updated_by}"))
    table(f"Model card: {model_card.title}", ["field", "value"], rows)


def evaluate(
    reference: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@ALIAS, NAME@latest, NAME@production")],
    data: Annotated[str, typer.Option("--data", "-d", help="A CSV or Parquet file with the features and target.")],
    target: Annotated[str, typer.Option("--target", "-t", help="The target column.")],
    slice_: Annotated[
        list[str] | None, typer.Option("--slice", "-s", help="Report metrics per value of this column (repeatable).")
    ] = None,
    champion: Annotated[
        str | None, typer.Option("--champion", "-c", help="Compare with this version, e.g. NAME@champion.")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="classification or regression (default: inferred).")
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="Metric compared with the champion (default accuracy / rmse).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Who is evaluating (default: the OS user).")] = None,
    importance: Annotated[
        bool | None,
        typer.Option(
            "--importance/--no-importance",
            help="Compute feature importance (default: when the model has at most 100 features).",
        ),
    ] = None,
    importance_rows: Annotated[
        int, typer.Option("--importance-rows", min=1, max=10_000_000, help="Rows importance is computed on (cap).")
    ] = 2000,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Evaluate a registered model version on a data file; logs a run and records the result."""
    from modelyard.evaluation import evaluate as run_evaluation
    from modelyard.sdk.models import current_user

    if task is not None and task not in ("classification", "regression"):
        fail(f"invalid --task {task!r}: use classification or regression", 2)
    with _open_registry(store) as registry, errors_as_exit():
        result = run_evaluation(
            reference,
            data,
            target=target,
            task=task,  # type: ignore[arg-type]
            slices=slice_ or None,
            champion=champion,
            registry=registry,
            actor=user or current_user(),
            compare_metric=metric,
            importance=importance,
            importance_rows=importance_rows,
        )
    if json:
        print_json(result.to_dict())
        return
    console.print(
        f"{result.model}: {result.task} on {result.n_rows} rows, logged in run {result.run_id}", highlight=False
    )
    table(
        "Metrics",
        ["metric", "value"],
        [(k, v) for k, v in result.metrics.items()],
    )
    if result.slices:
        keys = [k for k in next(iter(result.slices.values())) if k != "n"]
        rows = [
            (name, int(values["n"]), *[values.get(k, math.nan) for k in keys]) for name, values in result.slices.items()
        ]
        table("Slices", ["slice", "rows", *keys], rows)
    for method, values in result.importance.items():
        features = values["features"][:10]
        table(
            f"Feature importance ({method})", ["feature", "importance"], [(f["feature"], f["value"]) for f in features]
        )
    c = result.comparison
    if c is not None:
        verdict = {True: "better than", False: "worse than", None: "not significantly different from"}[c.better]
        console.print(
            f"{result.model} is {verdict} {c.champion} on {c.metric}: {fmt_value(c.candidate_value)} vs "
            f"{fmt_value(c.champion_value)} ({c.test}, p = {fmt_value(c.p_value)})",
            highlight=False,
        )
    elif champion is not None:
        console.print(f"{result.model} is the champion {champion}: nothing to compare")


def register(app: typer.Typer) -> None:
    """Add ``modelyard models card`` (to the models group) and ``modelyard evaluate``."""
    from modelyard.cli.models_cmd import models_app

    models_app.command("card")(card)
    app.command("evaluate")(evaluate)
