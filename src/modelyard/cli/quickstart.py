"""``modelyard quickstart``: the whole lifecycle that exists today, on the embedded default.

What ``make quickstart`` runs on a fresh machine (SQLite and local files under MODELYARD_HOME, no
servers), in five short sections:

1. **Data**: the breast-cancer train/test split written as CSV, versioned as
   ``breast-cancer-train`` and ``breast-cancer-test``, the test version validated against a small
   suite (including a drift check against the training version);
2. **Training**: five scikit-learn candidates, each a run that reads both dataset versions (so
   lineage records them), logs params and metrics and registers its model as a draft version;
3. **Governance**: the best candidate staged, evaluated on the test version (plots saved),
   promoted to production with reasons, aliased ``champion``, its model card exported, the history;
4. **Use**: ``load_model("breast-cancer@production")`` (hash-verified) predicting a few test rows;
5. **Lineage**: the production version's lineage tree, as ``modelyard lineage`` draws it;

then what to try next. The work lives in ``quickstart_steps.py``; this module tells the story.
Running it again in the same home reuses the unchanged dataset versions, registers new model
versions and moves production to the new best (the registry archives the one it replaces).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import modelyard
from modelyard.cli import quickstart_steps as steps
from modelyard.cli._output import console, fmt_time, table, verdict_counts
from modelyard.sdk import tracking as _sdk

if TYPE_CHECKING:
    from modelyard.cli.quickstart_steps import CardFiles, Promotion, TrainedCandidate, Validation, VersionedData

SECTIONS = 5


@dataclass(frozen=True)
class QuickstartResult:
    """What one quickstart did, for callers and tests that want more than the printed story."""

    data: VersionedData
    validation: Validation
    trained: list[TrainedCandidate]
    promotion: Promotion
    card: CardFiles


def _section(number: int, title: str, what: str) -> None:
    console.print()
    console.print(f"[bold cyan]{number}/{SECTIONS} {title}[/] [dim]- {what}[/]")


def _show_data(data: VersionedData, validation: Validation) -> None:
    width = max(len(data.train.ref), len(data.test.ref))
    for version, created, rows in (
        (data.train, data.train_created, data.train_rows),
        (data.test, data.test_created, data.test_rows),
    ):
        state = "[green]new version[/]" if created else "[dim]unchanged: the same version[/]"
        console.print(
            f"  [bold]{escape(version.ref):<{width}}[/]  {rows:>4} rows  {version.manifest_digest[:19]}  {state}",
            highlight=False,
        )
    console.print(f"  files in {escape(str(data.directory))}", highlight=False)
    report = validation.report
    table(
        f"{data.test.ref} against the suite {report.suite}",
        ["", "expectation", "failing rows", "observed"],
        [
            (
                "pass" if r.success else "FAIL",
                r.expectation,
                r.failing_count,
                ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.observed.items()),
            )
            for r in report.results
        ],
    )
    goes_on = "" if report.success else " (the demo goes on; a pipeline would stop)"
    console.print(
        f"  {verdict_counts(len(report.failed), len(report.results))}{goes_on}; recorded in run {validation.run_id}",
        highlight=False,
    )


def _train(data: VersionedData, seed: int) -> tuple[str, list[TrainedCandidate]]:
    candidates = steps.candidates(seed)
    trained: list[TrainedCandidate] = []
    with Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("training", total=len(candidates) * (steps.CV_FOLDS + 1))
        with modelyard.start_run(name="quickstart-sweep", tags={"kind": "sweep"}) as sweep:
            modelyard.log_params({"seed": seed, "candidates": len(candidates), "test_size": steps.TEST_SIZE})
            for candidate in candidates:
                progress.update(task, description=f"training {candidate.name:<12}")
                trained.append(steps.train_candidate(candidate, data, seed, lambda: progress.advance(task)))
            progress.update(task, description=f"trained {len(trained)} models   ")
    return sweep.id, trained


def _show_ranking(project: str, sweep_id: str, trained: list[TrainedCandidate]) -> TrainedCandidate:
    """Rank through ``search_runs`` (the same query a user would write), not the in-memory list."""
    frame = modelyard.search_runs(
        project=project, filter=f"parent_run_id = '{sweep_id}'", order_by=["metrics.cv_roc_auc_mean DESC"]
    )
    by_run = {t.run_id: t for t in trained}
    ranked = [by_run[run_id] for run_id in frame["run_id"]]
    table(
        "Candidates ranked by mean cross-validated ROC AUC",
        ["run", "model", "cv_roc_auc", "test_roc_auc", "test_accuracy", "registered as"],
        [
            (
                t.name,
                t.params["model"],
                t.metrics["cv_roc_auc_mean"],
                t.metrics["test_roc_auc"],
                t.metrics["test_accuracy"],
                f"{steps.MODEL_NAME}@{t.version.version} (draft)",
            )
            for t in ranked
        ],
    )
    best = ranked[0]
    console.print(f"  best: [bold green]{best.name}[/] (run {best.run_id})", highlight=False)
    return best


def _show_governance(
    promotion: Promotion, data: VersionedData, card: CardFiles, started_ms: int, n_candidates: int
) -> None:
    name, number = steps.MODEL_NAME, promotion.version
    result = promotion.evaluation
    console.print(f"  {name}@{number}: draft -> staging", highlight=False)
    console.print(
        f"  evaluated on {data.test.ref} ({result.n_rows} rows) in run {promotion.evaluation_run_id}:\n    "
        + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items()),
        highlight=False,
    )
    plots = sorted(p.rsplit("/", 1)[-1].removesuffix(".json") for p in result.artifacts if p.endswith(".json"))
    console.print(f"    plots ({', '.join(plots)}) saved in that run under evaluation/plots/", highlight=False)
    c = result.comparison
    if c is not None:
        verdict = {True: "better than", False: "worse than", None: "not significantly different from"}[c.better]
        console.print(
            f"    {verdict} the champion {c.champion} on {c.metric} "
            f"({c.candidate_value:.3f} vs {c.champion_value:.3f}, {c.test} p = {c.p_value:.2g})",
            highlight=False,
        )
    if promotion.promoted:
        archived = (
            f"; {name}@{promotion.replaced} archived (replaced)" if promotion.replaced not in (None, number) else ""
        )
        console.print(
            f"  [bold green]{name}@{number}: staging -> production[/], alias champion{archived}", highlight=False
        )
    else:
        console.print(f"  [yellow]{escape(promotion.gate)}[/]", highlight=False)
    facts = card.card
    inputs = ", ".join(f"{i['name']}@{i['version']} ({i.get('context')})" for i in (facts.run or {}).get("inputs", []))
    console.print(
        f"  model card of {facts.title}: {facts.state}, aliases {', '.join(facts.aliases) or '-'}, "
        f"{len(facts.features)} features; its run read {inputs}",
        highlight=False,
    )
    console.print(f"    {escape(str(card.markdown))}\n    {escape(str(card.html))} (plots use plotly.min.js beside it)")
    from modelyard.cli.models_cmd import _change  # the same 'change' cell as `modelyard models history`

    events = [
        e
        for e in steps.registry().history(name)
        if e.at >= started_ms and (e.kind.value != "registered" or e.version == number)
    ]
    table(
        f"{name}: history of this quickstart (the {n_candidates - 1} other draft registrations left out)",
        ["at (UTC)", "version", "event", "change", "by", "reason"],
        [(fmt_time(e.at), e.version, e.kind.value, _change(e), e.actor, e.reason) for e in events],
    )


def _show_use(data: VersionedData, reference: str) -> None:
    model = modelyard.load_model(reference)
    resolved = steps.registry().resolve(reference)
    console.print(
        f"  loaded {reference} = {steps.MODEL_NAME}@{resolved.version} ({model.flavor}), "
        f"every file verified against package {resolved.manifest_digest[:19]}",
        highlight=False,
    )
    rows = data.test.to_pandas().head(5)
    predicted = model.predict(rows.drop(columns=[steps.TARGET]))
    label = {1: "benign", 0: "malignant"}
    table(
        f"Predictions on the first rows of {data.test.ref}",
        ["row", "mean radius", "mean texture", "worst area", "predicted", "actual"],
        [
            (i, r["mean radius"], r["mean texture"], r["worst area"], label[int(p)], label[int(r[steps.TARGET])])
            for (i, r), p in zip(rows.iterrows(), predicted, strict=True)
        ],
    )


def _show_lineage(reference: str) -> None:
    from modelyard.lineage import LineageBuilder

    builder = LineageBuilder.from_stores(_sdk._session.stores())
    graph = builder.build(reference, kind="model")
    console.print(f"  [dim]$ modelyard lineage {reference}[/]")
    console.print(graph.to_tree())


def _show_next(data: VersionedData, validation: Validation, promotion: Promotion) -> None:
    name, ui = steps.MODEL_NAME, "http://127.0.0.1:5000/ui"
    console.print()
    console.print("[bold cyan]Try next[/]")
    lines = (
        ("modelyard server", "the REST API and the web UI over the same stores, then open:"),
        (f"  {ui}/models/{name}@production", "the model card, evaluation plots, files and lineage"),
        (f"  {ui}/datasets/{data.train.ref}", "the dataset version and the runs that read it"),
        (f"  {ui}/datasets/{data.test.ref}", "the same, with its validation report"),
        (f"modelyard serve {name}@production", "the model over HTTP: /v1, MLflow's /invocations, KServe V2"),
        (f"modelyard models history {name}", "the full audit trail (--json for programs)"),
        (f"modelyard models card {name} {promotion.version}", "the card as a table (--markdown / --html to export)"),
        (f"modelyard lineage {data.train.ref} --downstream", "every run and model version that used the data"),
        (
            f"modelyard data validate {data.test.ref} --suite {shlex.quote(str(validation.suite_path))}",
            "the validation, from the shell",
        ),
        ("modelyard quickstart", "again: same dataset versions, new model versions, production moves"),
    )
    # Every line works as printed on the core install (tests/e2e/test_quickstart_try_next.py runs
    # each). `modelyard reproduce` is not among them: it needs training started from a script in
    # a git repository, which the quickstart is not (docs/lineage.md).
    # Commands in one column, comments in the next; a command too long for the column (the suite
    # path) gets its comment on the line below instead of pushing every comment to the right.
    width = 60
    for command, why in lines:
        gap = "\n" + " " * (width + 4) if len(command) > width else " " * (width + 2 - len(command))
        console.print(f"  [cyan]{escape(command)}[/]{gap}[dim]# {escape(why)}[/]", highlight=False, soft_wrap=True)


def run_quickstart(project: str = "quickstart", store: str | None = None, seed: int = 42) -> QuickstartResult:
    """Run the demo in the configured home (``store`` overrides the store URI) and print it."""
    if store:
        _sdk.set_store_uri(store)
    _sdk.set_project(project)
    home = _sdk._session.settings().home
    started_ms = int(time.time() * 1000)
    console.print(
        f"[bold]modelyard quickstart[/]: the lifecycle on breast_cancer, project {escape(project)}, "
        f"store {escape(_sdk.get_store_uri())}",
        highlight=False,
    )

    _section(1, "Data", "version the train/test split, validate the test set")
    data = steps.version_data(home, seed)
    validation = steps.validate_test_split(data, project)
    _show_data(data, validation)

    _section(2, "Training", "each candidate is a run that reads both dataset versions and registers its model")
    sweep_id, trained = _train(data, seed)
    best = _show_ranking(project, sweep_id, trained)

    _section(3, "Governance", "stage, evaluate, promote, alias, model card, history")
    promotion = steps.govern(best, data, len(trained))
    card = steps.write_card(promotion.version, home, data.train_rows)
    _show_governance(promotion, data, card, started_ms, len(trained))

    # A version kept in staging by the gate (and no older one in production) is still worth showing.
    reference = f"{steps.MODEL_NAME}@production"
    if steps.current_version(reference) is None:
        reference = f"{steps.MODEL_NAME}@{promotion.version}"
    _section(4, "Use", "load the production version and predict")
    _show_use(data, reference)

    _section(5, "Lineage", "where the production version came from")
    _show_lineage(reference)

    _show_next(data, validation, promotion)
    return QuickstartResult(data=data, validation=validation, trained=trained, promotion=promotion, card=card)
