"""The steps of ``modelyard quickstart``, without the printing.

``quickstart.py`` tells the story (headings, tables, the progress bar); this module does the work
through the public SDK only (``modelyard.datasets``, ``log_model``, ``evaluate``, ``transition``,
``set_alias``, ...), so the demo exercises exactly what a user's own script would call. Each step
returns a small dataclass that the story prints and the e2e tests can reason about.

Re-running in the same home is part of the contract: the CSV files are rewritten only when their
bytes change, so unchanged data resolves to the same dataset versions; every run registers new
model versions, and promoting the new best to production lets the registry's state machine archive
the version it replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import modelyard
from modelyard.core.errors import NotFound
from modelyard.sdk import datasets
from modelyard.sdk import tracking as _sdk

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.core.registry import ModelVersion
    from modelyard.data.validation import ValidationReport
    from modelyard.evaluation import EvaluationResult

MODEL_NAME = "breast-cancer"
TRAIN_DATASET = "breast-cancer-train"
TEST_DATASET = "breast-cancer-test"
TARGET = "benign"  # scikit-learn's target: 1 = benign, 0 = malignant
TEST_SIZE = 0.25
CV_FOLDS = 5
#: The evaluation gate before production: the test accuracy a candidate must reach.
MIN_TEST_ACCURACY = 0.9
ACTOR = "quickstart"  # recorded as the actor of every registry change, so the history says who


@dataclass(frozen=True)
class VersionedData:
    """The two dataset versions the rest of the demo reads, and whether this call created them."""

    train: datasets.DatasetVersion
    test: datasets.DatasetVersion
    train_created: bool
    test_created: bool
    train_rows: int
    test_rows: int
    directory: Path


@dataclass(frozen=True)
class Candidate:
    name: str
    estimator: Any
    params: dict[str, Any]


@dataclass
class TrainedCandidate:
    """One candidate's run and the model version its ``log_model`` registered."""

    name: str
    run_id: str
    version: ModelVersion
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Validation:
    report: ValidationReport
    run_id: str
    suite_path: Path


@dataclass(frozen=True)
class CardFiles:
    card: modelyard.ModelCard
    markdown: Path
    html: Path


@dataclass(frozen=True)
class Promotion:
    """What governance did with the best candidate: evaluated, staged, and promoted if it passed."""

    version: int
    evaluation: EvaluationResult
    evaluation_run_id: str
    promoted: bool
    gate: str  # why it was (or was not) promoted, as recorded in the history
    replaced: int | None  # the version that was in production before, archived by the registry


def _frame(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns={"target": TARGET})
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=seed, stratify=frame[TARGET])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _write_if_changed(path: Path, text: str) -> None:
    """Rewrite a file only when its bytes change: an untouched file keeps its stat, so the
    dataset stat cache recognises it without hashing and a re-run finds the same version."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.write_text(text, encoding="utf-8")


def _latest_number(name: str) -> int | None:
    try:
        return int(datasets.get(name, log_input=False).version)
    except NotFound:
        return None


def version_data(home: Path, seed: int) -> VersionedData:
    """Write the stratified train/test split as CSV under ``home/quickstart/data`` and version both
    files. The split's parameters are recorded with each version so its page says how it was made."""
    directory = home / "quickstart" / "data"
    directory.mkdir(parents=True, exist_ok=True)
    train, test = _frame(seed)
    params = {"source": "sklearn.datasets.load_breast_cancer", "test_size": TEST_SIZE, "seed": seed, "stratify": TARGET}
    added: dict[str, tuple[datasets.DatasetVersion, bool]] = {}
    for name, part, split in ((TRAIN_DATASET, train, "train"), (TEST_DATASET, test, "test")):
        path = directory / f"{name}.csv"
        _write_if_changed(path, part.to_csv(index=False))
        before = _latest_number(name)
        version = datasets.add(
            path,
            name=name,
            message=f"breast cancer {split} split ({len(part)} rows)",
            params={**params, "split": split},
        )
        added[name] = (version, before != int(version.version))
    return VersionedData(
        train=added[TRAIN_DATASET][0],
        test=added[TEST_DATASET][0],
        train_created=added[TRAIN_DATASET][1],
        test_created=added[TEST_DATASET][1],
        train_rows=len(train),
        test_rows=len(test),
        directory=directory,
    )


def suite_yaml(reference: str) -> str:
    """A small suite for the test split: shape, completeness, a plausible range, the label set, and
    a drift check of one feature against the training version (a split that drifted from its own
    training data would make every test metric meaningless)."""
    return (
        "name: breast-cancer-test\n"
        "expectations:\n"
        "  - {expect: row_count, min: 100}\n"
        "  - {expect: not_null, column: 'mean radius'}\n"
        "  - {expect: not_null, column: 'worst area'}\n"
        "  - {expect: between, column: 'mean radius', min: 5, max: 35}\n"
        f"  - {{expect: in_set, column: {TARGET}, values: [0, 1]}}\n"
        f"  - {{expect: distribution, column: 'mean radius', reference: '{reference}', max_psi: 0.2}}\n"
    )


def validate_test_split(data: VersionedData, project: str) -> Validation:
    """Validate the test version against the suite and record the report as a run, as
    ``modelyard data validate`` does, so the dataset's page in the web UI lists it."""
    from modelyard.data.ingest import validate_version
    from modelyard.data.validation import Suite
    from modelyard.data.validation.records import record_validation

    suite_path = data.directory / "breast-cancer-test.suite.yaml"
    _write_if_changed(suite_path, suite_yaml(data.train.ref))
    suite = Suite.from_yaml(suite_path)
    version, report = validate_version(datasets.service(), data.test.ref, suite)
    client = _sdk._session.client()
    run = record_validation(client.store, client.artifacts, version, report, project=project, suite=suite)
    return Validation(report=report, run_id=run.id, suite_path=suite_path)


def candidates(seed: int) -> list[Candidate]:
    """Five small, fast scikit-learn models: different enough that the ranking means something."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        Candidate(
            "logreg-C1",
            make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)),
            {"model": "logreg", "C": 1.0},
        ),
        Candidate(
            "logreg-C0.1",
            make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500)),
            {"model": "logreg", "C": 0.1},
        ),
        Candidate(
            "knn-7",
            make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=7)),
            {"model": "knn", "n_neighbors": 7},
        ),
        Candidate(
            "forest-200",
            RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1),
            {"model": "random_forest", "n_estimators": 200},
        ),
        Candidate(
            "gboost-100",
            GradientBoostingClassifier(n_estimators=100, random_state=seed),
            {"model": "gradient_boosting", "n_estimators": 100},
        ),
    ]


def train_candidate(
    candidate: Candidate, data: VersionedData, seed: int, advance: Callable[[], None]
) -> TrainedCandidate:
    """Train one candidate in a nested run of the active sweep run.

    Both dataset versions are read through ``datasets.get`` inside the run, so the run records
    exactly which bytes it trained and was tested on (the lineage graph and ``modelyard reproduce``
    rely on that). Candidates are ranked on the mean cross-validated ROC AUC of the training split;
    the test metrics are logged for comparison but never used to choose, so the test split stays an
    honest estimate for the evaluation that gates production. ``advance`` moves the progress bar."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    model = candidate.estimator
    with modelyard.start_run(name=candidate.name, nested=True) as run:
        train = datasets.get(data.train.ref, context="training").to_pandas()
        test = datasets.get(data.test.ref, context="evaluation").to_pandas()
        X_train, y_train = train.drop(columns=[TARGET]), train[TARGET]
        X_test, y_test = test.drop(columns=[TARGET]), test[TARGET]
        modelyard.log_params({**candidate.params, "seed": seed, "cv_folds": CV_FOLDS})
        scores: list[float] = []
        for fold, (tr, va) in enumerate(folds.split(X_train, y_train)):
            model.fit(X_train.iloc[tr], y_train.iloc[tr])
            score = float(roc_auc_score(y_train.iloc[va], model.predict_proba(X_train.iloc[va])[:, 1]))
            modelyard.log_metric("cv_roc_auc", score, step=fold)
            scores.append(score)
            advance()
        model.fit(X_train, y_train)
        proba = model.predict_proba(X_test)[:, 1]
        pred = (proba >= 0.5).astype(int)
        metrics = {
            "cv_roc_auc_mean": sum(scores) / len(scores),
            "test_roc_auc": float(roc_auc_score(y_test, proba)),
            "test_accuracy": float(accuracy_score(y_test, pred)),
            "test_f1": float(f1_score(y_test, pred)),
        }
        modelyard.log_metrics(metrics, step=0)
        version = modelyard.log_model(
            model,
            MODEL_NAME,
            input_example=X_train.head(5),
            description=f"{candidate.name} trained on {data.train.ref}",
            actor=ACTOR,
        )
        advance()
    return TrainedCandidate(candidate.name, run.id, version, candidate.params, metrics)


def registry() -> modelyard.RegistryClient:
    """The registry over the SDK session's stores (``--store`` included), not a fresh configuration."""
    return modelyard.RegistryClient(stores=_sdk._session.stores())


def current_version(reference: str) -> int | None:
    """The version an alias or state points at now, or None (a fresh home has no champion)."""
    try:
        return registry().resolve(reference).version
    except NotFound:
        return None


def govern(best: TrainedCandidate, data: VersionedData, n_candidates: int) -> Promotion:
    """Stage the best candidate, evaluate it on the test version (against the current champion,
    if there is one), and promote it to production and the ``champion`` alias when it passes the
    gate. Every change carries a reason, so the history explains itself."""
    number = best.version.version
    champion = current_version(f"{MODEL_NAME}@champion")
    replaced = current_version(f"{MODEL_NAME}@production")
    modelyard.transition(
        MODEL_NAME,
        number,
        "staging",
        reason=f"best mean CV ROC AUC ({best.metrics['cv_roc_auc_mean']:.4f}) of {n_candidates} candidates",
        actor=ACTOR,
    )
    with modelyard.start_run(name=f"evaluate {MODEL_NAME}@{number}", tags={"kind": "evaluation"}) as run:
        test = datasets.get(data.test.ref, context="evaluation").to_pandas()
        result = modelyard.evaluate(
            f"{MODEL_NAME}@{number}",
            test,
            target=TARGET,
            champion=None if champion is None else f"{MODEL_NAME}@{champion}",
            actor=ACTOR,
        )
    accuracy = result.metrics.get("accuracy", 0.0)
    worse = result.comparison is not None and result.comparison.better is False
    evidence = f"accuracy {accuracy:.3f}, ROC AUC {result.metrics.get('roc_auc', float('nan')):.3f} on {data.test.ref}"
    if accuracy < MIN_TEST_ACCURACY or worse:
        why = "significantly worse than the champion" if worse else f"below the {MIN_TEST_ACCURACY} accuracy gate"
        return Promotion(number, result, run.id, False, f"kept in staging: {evidence}, {why}", replaced)
    modelyard.transition(
        MODEL_NAME, number, "production", reason=f"passed the evaluation gate: {evidence}", actor=ACTOR
    )
    modelyard.set_alias(MODEL_NAME, "champion", number, reason="promoted to production", actor=ACTOR)
    return Promotion(number, result, run.id, True, f"promoted: {evidence}", replaced)


def write_card(version: int, home: Path, n_train: int) -> CardFiles:
    """Fill the hand-written fields of the card and export it as Markdown and HTML under
    ``home/quickstart/cards`` (with one shared ``plotly.min.js`` there): files a reviewer can open
    without a server."""
    card = modelyard.update_model_card(
        MODEL_NAME,
        version,
        intended_use="A demonstration of the modelyard lifecycle; not for any clinical use.",
        limitations=f"Trained on {n_train} rows of the Wisconsin diagnostic breast cancer data set.",
        owners="you (modelyard quickstart)",
        actor=ACTOR,
    )
    directory = home / "quickstart" / "cards"
    directory.mkdir(parents=True, exist_ok=True)
    markdown, html = directory / f"{MODEL_NAME}-v{version}.md", directory / f"{MODEL_NAME}-v{version}.html"
    markdown.write_text(card.to_markdown(), encoding="utf-8")
    card.write_html(html)  # its charts load the one shared plotly.min.js in the same directory
    return CardFiles(card, markdown, html)
