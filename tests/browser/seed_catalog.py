"""Datasets and registered models for the UI tests of the dataset and model pages.

One small, complete story, written through the services the product uses (no SQL):

    customers@v1 (CSV) -> prepare run -> customers-clean@v1 (derived, params) -> train run
        -> churn-model@1 (staging -> production, alias champion, an approval, card fields, an
           evaluation with plots) and churn-model@2 (staging)
    customers@v2 (a column added, rows added), validations recorded as runs (customers-clean@v1 passes
    in project churn, customers@v1 fails in project fraud),
    photos@v1 (250 files, for paging), and in project "fraud": a run that read customers@v1 and
    registered fraud-model@1 (for the permission tests: churn viewers must not see it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.tracking import RunInput
from modelyard.data.service import DatasetService
from modelyard.data.validation import Suite, validate
from modelyard.data.validation.records import record_validation
from modelyard.evaluation import evaluate
from modelyard.registry.service import RegistryService
from modelyard.reports.cards import update_card
from modelyard.tracking.service import TrackingService

PHOTO_FILES = 250
SUITE = """
name: clean-customers
expectations:
  - {expect: not_null, column: customer_id}
  - {expect: between, column: age, min: 18, max: 70}
  - {expect: in_set, column: segment, values: [smb, mid]}
"""


@dataclass
class Catalog:
    project: str = "churn"
    other_project: str = "fraud"
    model: str = "churn-model"
    other_model: str = "fraud-model"
    raw: str = "customers"
    clean: str = "customers-clean"
    photos: str = "photos"
    run_ids: dict[str, str] = field(default_factory=dict)
    validation_run: str = ""  # of customers-clean@v1, in project churn; it passes
    fraud_validation_run: str = ""  # of customers@v1, in project fraud; it fails
    evaluation_id: str = ""


def customers(rows: int, seed: int, with_region: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "age": rng.integers(18, 80, rows).astype(float),
            "segment": rng.choice(["smb", "mid", "ent"], rows),
            "spend": rng.normal(50, 12, rows).round(2),
            "tenure": rng.integers(0, 60, rows),
        }
    )
    frame.loc[frame.index % 17 == 0, "spend"] = np.nan  # some nulls for the profile
    frame["churned"] = ((frame["tenure"] < 20) ^ (rng.random(rows) < 0.1)).astype(int)
    if with_region:
        frame["region"] = rng.choice(["north", "south"], rows)
    return frame


def seed_catalog(tracking: TrackingService, workdir: Path) -> Catalog:
    from sklearn.linear_model import LogisticRegression

    store, artifacts = tracking.store, tracking.artifacts
    catalog = Catalog()
    data = DatasetService(store, artifacts, workdir / "cache")  # type: ignore[arg-type]
    registry = RegistryService(store, store, artifacts)  # type: ignore[arg-type]
    workdir.mkdir(parents=True, exist_ok=True)

    raw_frame = customers(400, seed=1)
    raw_file = workdir / "customers.csv"
    raw_frame.to_csv(raw_file, index=False)
    raw = data.add(raw_file, name=catalog.raw, message="CRM export").version

    prepare = tracking.create_run(catalog.project, name="prepare")
    catalog.run_ids["prepare"] = prepare.id
    tracking.log_inputs(
        prepare.id, [RunInput(name=raw.name, version=f"v{raw.version}", digest=raw.manifest_digest, context="source")]
    )
    clean_frame = raw_frame[(raw_frame["age"] <= 70) & (raw_frame["segment"] != "ent")]
    clean_file = workdir / "customers-clean.csv"
    clean_frame.to_csv(clean_file, index=False)
    clean = data.add(
        clean_file,
        name=catalog.clean,
        parents=[raw],
        code=f"run:{prepare.id}",
        params={"max_age": 70, "drop_segment": "ent"},
    ).version
    tracking.end_run(prepare.id)

    train = tracking.create_run(catalog.project, name="train")
    catalog.run_ids["train"] = train.id
    tracking.log_inputs(
        train.id,
        [RunInput(name=clean.name, version=f"v{clean.version}", digest=clean.manifest_digest, context="training")],
    )
    tracking.log_params(train.id, {"C": 0.5})
    X, y = clean_frame[["tenure", "age"]], clean_frame["churned"]
    model = LogisticRegression(C=0.5, max_iter=500).fit(X, y)
    tracking.log_metric(train.id, "train_accuracy", float(model.score(X, y)))
    tracking.end_run(train.id)
    registry.log_model(model, catalog.model, actor="ana", run_id=train.id, input_example=X.head())
    second = LogisticRegression(C=0.1, max_iter=500).fit(X, y)
    registry.log_model(second, catalog.model, actor="ana", run_id=train.id, input_example=X.head())
    registry.set_policy(catalog.project, actor="ana", required_approvals=1)
    registry.transition(catalog.model, 1, "staging", actor="ana", reason="first candidate")
    registry.approve(catalog.model, 1, approver="bob", comment="recall is fine")
    registry.transition(catalog.model, 1, "production", actor="ana", reason="approved by bob")
    registry.transition(catalog.model, 2, "staging", actor="ana", reason="smaller C")
    registry.set_alias(catalog.model, "champion", 1, actor="ana", reason="current best")
    update_card(
        registry,
        catalog.model,
        1,
        {"intended_use": "Rank customers by churn risk.", "owners": "growth team"},
        actor="ana",
    )
    result = evaluate(
        f"{catalog.model}@1",
        clean_frame[["tenure", "age", "churned"]],
        target="churned",
        registry=registry,
        actor="ana",
    )
    catalog.evaluation_id = result.evaluation_id

    grown = customers(500, seed=2, with_region=True)
    grown_file = workdir / "v2" / "customers.csv"  # the same file name: the diff shows it changed
    grown_file.parent.mkdir()
    grown.to_csv(grown_file, index=False)
    data.add(grown_file, name=catalog.raw, message="CRM export with regions")

    suite = Suite.from_yaml(SUITE)
    report = validate(clean_frame, suite)
    catalog.validation_run = record_validation(
        store,
        artifacts,
        clean,
        report,  # type: ignore[arg-type]
        project=catalog.project,
        suite=suite,
    ).id
    failing = validate(raw_frame, suite)  # the raw export has 'ent' customers and ages over 70
    catalog.fraud_validation_run = record_validation(
        store,
        artifacts,
        raw,
        failing,  # type: ignore[arg-type]
        project=catalog.other_project,
        suite=suite,
    ).id

    photos = workdir / "photos"
    for i in range(PHOTO_FILES):
        (photos / f"batch-{i // 100}").mkdir(parents=True, exist_ok=True)
        (photos / f"batch-{i // 100}" / f"img-{i:04d}.bin").write_bytes(f"photo {i}".encode() * 4)
    data.add(photos, name=catalog.photos)

    fraud = tracking.create_run(catalog.other_project, name="fraud-train")
    catalog.run_ids["fraud-train"] = fraud.id
    tracking.log_inputs(
        fraud.id, [RunInput(name=raw.name, version=f"v{raw.version}", digest=raw.manifest_digest, context="training")]
    )
    fraud_X = raw_frame[["tenure", "age"]]
    fraud_model = LogisticRegression(max_iter=500).fit(fraud_X, raw_frame["churned"])
    tracking.end_run(fraud.id)
    registry.log_model(fraud_model, catalog.other_model, actor="eve", run_id=fraud.id, input_example=fraud_X.head())
    data.close()
    return catalog


def drawn_nodes(html: str) -> list[str]:
    """The ids of the nodes drawn in a page's lineage SVG."""
    import re

    svg = html.split('id="lineage-graph"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r'<g class="node[^"]*" data-node-id="([^"]+)"', svg)


def drawn_edges(html: str) -> list[tuple[str, str, str]]:
    import re

    svg = html.split('id="lineage-graph"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r'data-from="([^"]+)" data-to="([^"]+)" data-kind="([^"]+)"', svg)


def figures_of(html: str) -> dict[str, Any]:
    """The plotly figures a page embedded for figures.js."""
    import json
    import re

    match = re.search(r'<script type="application/json" id="ui-figures">(.*?)</script>', html, re.S)
    assert match is not None, "the page embeds no figures"
    return dict(json.loads(match.group(1)))
