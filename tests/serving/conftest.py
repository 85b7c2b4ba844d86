"""Registered scikit-learn models in a store of the test's own, and a client over the serving app
(in-process, httpx.ASGITransport: the app's event loop is the test's)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.registry.service import RegistryService
from modelyard.settings import Settings, load_settings
from modelyard.store.bundle import Stores, open_stores


@dataclass
class Registered:
    settings: Settings
    stores: Stores
    registry: RegistryService
    frame: pd.DataFrame  # breast-cancer features
    classifier: Any  # LogisticRegression fitted on the frame ("bc")
    mixed: Any  # a Pipeline over int, float and string columns ("mixed")
    mixed_frame: pd.DataFrame
    tensor_model: Any  # LinearRegression fitted on a numpy array ("tens")


def _mixed() -> tuple[Any, pd.DataFrame]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 60).astype("int64"),
            "income": rng.normal(50, 10, 60),
            "city": rng.choice(["paris", "lyon", "nice"], 60).astype(object),
        }
    )
    target = (frame["income"] > 50).astype(int)
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age", "income"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(frame, target)
    return pipeline, frame


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    home: Path = tmp_path_factory.mktemp("serving-home")
    settings = replace(load_settings({"MODELYARD_HOME": str(home)}))
    stores = open_stores(settings)
    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    frame, target = load_breast_cancer(return_X_y=True, as_frame=True)
    classifier = LogisticRegression(max_iter=5000).fit(frame, target)
    version = registry.log_model(classifier, "bc", actor="tester", project="serving", input_example=frame.head())
    registry.set_alias("bc", "prod", version.version, actor="tester")
    mixed, mixed_frame = _mixed()
    registry.log_model(mixed, "mixed", actor="tester", project="serving", input_example=mixed_frame.head())
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3))
    tensor_model = LinearRegression().fit(x, x @ np.array([1.0, 2.0, -1.0]))
    registry.log_model(tensor_model, "tens", actor="tester", project="serving", input_example=x[:3])
    try:
        yield Registered(settings, stores, registry, frame, classifier, mixed, mixed_frame, tensor_model)
    finally:
        stores.close()
