"""``modelyard quickstart``: the lifecycle demo on the embedded default (no servers).

First version: train several scikit-learn models on the breast-cancer dataset that ships with
scikit-learn, track each as a run (params, per-fold and final metrics, the model as an artifact,
system info), then print a comparison table ranked by validation ROC AUC. Later issues extend
this loop to registry, serving and monitoring.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelyard import _sdk
from modelyard.cli._output import console, table


def _candidates(seed: int) -> list[tuple[str, Any, dict[str, Any]]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return [
        (
            "logreg-C1",
            make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)),
            {"model": "logreg", "C": 1.0},
        ),
        (
            "logreg-C0.1",
            make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500)),
            {"model": "logreg", "C": 0.1},
        ),
        (
            "knn-7",
            make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=7)),
            {"model": "knn", "n_neighbors": 7},
        ),
        (
            "forest-200",
            RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1),
            {"model": "random_forest", "n_estimators": 200},
        ),
        (
            "gboost-100",
            GradientBoostingClassifier(n_estimators=100, random_state=seed),
            {"model": "gradient_boosting", "n_estimators": 100},
        ),
    ]


def run_quickstart(project: str = "quickstart", store: str | None = None, seed: int = 42) -> list[str]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if store:
        _sdk.set_store_uri(store)
    _sdk.set_project(project)
    data = load_breast_cancer(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=seed, stratify=data.target
    )
    candidates = _candidates(seed)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    run_ids: list[str] = []
    console.print(
        f"[bold]modelyard quickstart[/]: {len(candidates)} models on breast_cancer "
        f"({len(X_train)} train / {len(X_test)} test rows), store {_sdk.get_store_uri()}"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("training", total=len(candidates) * (folds.get_n_splits() + 1))
        with _sdk.start_run(name="quickstart-sweep", tags={"kind": "sweep"}) as parent:
            _sdk.log_input(
                "sklearn/breast_cancer", version=None, source="sklearn.datasets.load_breast_cancer", context="training"
            )
            for name, model, params in candidates:
                progress.update(task, description=f"training {name}")
                with _sdk.start_run(name=name, nested=True) as run:
                    _sdk.log_params({**params, "seed": seed, "test_size": 0.25})
                    _sdk.log_input(
                        "sklearn/breast_cancer", source="sklearn.datasets.load_breast_cancer", context="training"
                    )
                    for fold, (tr, va) in enumerate(folds.split(X_train, y_train)):
                        model.fit(X_train.iloc[tr], y_train.iloc[tr])
                        proba = model.predict_proba(X_train.iloc[va])[:, 1]
                        _sdk.log_metric("cv_roc_auc", float(roc_auc_score(y_train.iloc[va], proba)), step=fold)
                        progress.advance(task)
                    model.fit(X_train, y_train)
                    proba = model.predict_proba(X_test)[:, 1]
                    pred = (proba >= 0.5).astype(int)
                    _sdk.log_metrics(
                        {
                            "test_roc_auc": float(roc_auc_score(y_test, proba)),
                            "test_accuracy": float(accuracy_score(y_test, pred)),
                            "test_f1": float(f1_score(y_test, pred)),
                        },
                        step=0,
                    )
                    blob = io.BytesIO()
                    pickle.dump(model, blob, protocol=pickle.HIGHEST_PROTOCOL)
                    _sdk._session.client().log_bytes(run.id, blob.getvalue(), "model/model.pkl")
                    run_ids.append(run.id)
                    progress.advance(task)
            _sdk.set_tags({"runs": str(len(run_ids))})
            parent_id = parent.id
    frame = _sdk.search_runs(
        project=project, filter=f"parent_run_id = '{parent_id}'", order_by=["metrics.test_roc_auc DESC"]
    )
    rows = [
        (
            r["name"],
            r["params.model"],
            r["metrics.test_roc_auc"],
            r["metrics.test_accuracy"],
            r["metrics.test_f1"],
            r["run_id"],
        )
        for _, r in frame.iterrows()
    ]
    table("Models ranked by test ROC AUC", ["run", "model", "test_roc_auc", "test_accuracy", "test_f1", "run_id"], rows)
    best = rows[0] if rows else None
    if best:
        console.print(
            f"best: [bold green]{best[0]}[/] (run {best[5]}); inspect it with [cyan]modelyard runs show {best[5]}[/]"
        )
    return run_ids
