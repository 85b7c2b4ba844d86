"""``set_reference`` in one call: the version scores the reference data, its outputs are profiled
under the column names a window of the prediction log gives them (so prediction drift compares
like with like), and with a target the label-free estimator is fitted and stored; bad input is a
one-line error that stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.service import MonitoringService
from modelyard.monitoring.windows import PREDICTION
from modelyard.registry.service import RegistryService
from modelyard.serving.deployments import DeploymentService
from modelyard.serving.endpoint import PredictionRecord
from modelyard.serving.predlog import PredictionLogger
from modelyard.settings import Settings
from modelyard.store.bundle import open_stores
from tests.integration.test_monitoring_service import MINUTE, Clock


class Linear:
    """A regressor: 2a + 1 (b is ignored)."""

    def predict(self, data: Any) -> Any:
        return 2.0 * np.asarray(data["a"], dtype=float) + 1.0


def labelled(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, n)
    return pd.DataFrame({"a": a, "b": rng.choice(["x", "y"], n), "y": 2.0 * a + 1.0 + rng.normal(0, 0.5, n)})


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SimpleNamespace]:
    settings = Settings(home=tmp_path, store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifact_uri=str(tmp_path / "a"))
    with open_stores(settings) as stores:
        registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
        example = labelled(2, 0)[["a", "b"]]
        registry.log_model(Linear(), "r", actor="t", project="mon", input_example=example)
        DeploymentService(stores.serving, registry).create("api", ["main=r@1"], actor="t")
        clock = Clock(10 * MINUTE)
        yield SimpleNamespace(stores=stores, registry=registry, clock=clock, tmp=tmp_path,
                              service=MonitoringService(stores, clock=clock, owner="test"))  # fmt: skip


def log(world: SimpleNamespace, start_ms: int, frame: pd.DataFrame, outputs: np.ndarray, per_request: int = 20) -> None:
    logger = PredictionLogger(world.stores.serving, world.stores.artifacts, flush_interval_s=0.05)
    for i in range(0, len(frame), per_request):
        chunk = frame.iloc[i : i + per_request]
        logger.offer(PredictionRecord(
            request_id=f"q{start_ms}-{i}", endpoint="api", variant="main", model_name="r", model_version=1,
            inputs={"a": chunk["a"].tolist(), "b": chunk["b"].tolist()}, outputs=outputs[i : i + per_request].tolist(),
            latency_ms=5.0, timestamp_ms=start_ms + i, shadow=False, status="ok", error=None,
        ))  # fmt: skip
    logger.close()


def test_one_call_profiles_outputs_and_fits_the_estimator(world: SimpleNamespace) -> None:
    service = world.service
    saved = service.set_reference("r", 1, labelled(2000, 1), target="y", actor="t")
    assert saved.role == "training" and saved.rows == 2000
    assert set(saved.summary["columns"]) == {"a", "b"} and saved.summary["outputs"] == [PREDICTION]
    assert saved.summary["estimator"] == "regression"
    ref = service.load_reference("r", 1)
    assert ref.profile is not None and "y" not in ref.profile.columns
    assert set(ref.profile.columns) == {"a", "b", PREDICTION}
    out = ref.profile.columns[PREDICTION]
    assert out.kind == "numeric" and abs(out.mean - 1.0) < 0.2 and 1.6 < out.std < 2.4  # 2a + 1, a ~ N(0, 1)
    assert ref.estimator is not None and ref.estimator.kind == "regression"
    roles = {r.role for r in service.store.list_references("r")}
    assert roles == {"training", "estimator"}

    service.create("p", "api", window={"size": MINUTE, "delay_ms": 0}, signals=["drift", "estimated"], start=0,
                   actor="ana")  # fmt: skip
    same, moved = labelled(400, 2), labelled(400, 3)
    log(world, 0, same, 2.0 * same["a"].to_numpy() + 1.0)  # what the model gives: no drift
    log(world, MINUTE, moved, 2.0 * moved["a"].to_numpy() + 4.0)  # same inputs, shifted predictions
    world.clock.now = 2 * MINUTE + 1
    first, second = sorted(service.run().results, key=lambda r: r.window_start)
    assert first.status == second.status == "ok", (first.notes, second.notes)
    assert first.values["drift"]["prediction_drift"] is False
    assert second.values["drift"]["prediction_drift"] is True
    assert second.values["drift"]["columns"][PREDICTION]["drifted"] is True
    assert second.values["drift"]["columns"]["a"]["drifted"] is False
    estimated = first.values["estimated"]
    assert estimated["mae"] is not None and 0.2 < estimated["mae"] < 0.6  # noise sd 0.5: mae ~ 0.4
    assert estimated["mae_lower"] <= estimated["mae"] <= estimated["mae_upper"]


def test_a_classifier_gets_its_score_estimator(world: SimpleNamespace) -> None:
    frame = labelled(1500, 4)
    frame["y"] = (frame["a"] + np.random.default_rng(5).normal(0, 0.5, len(frame)) > 0).astype(int)
    clf = LogisticRegression().fit(frame[["a"]], frame["y"])
    world.registry.log_model(clf, "c", actor="t", project="mon", input_example=frame[["a"]].head(2))
    saved = world.service.set_reference("c", 1, frame[["a", "y"]], target="y", role="evaluation", actor="t")
    assert saved.summary["estimator"] == "binary_classification" and saved.summary["outputs"] == [PREDICTION]
    ref = world.service.load_reference("c", 1, "evaluation")
    assert ref.profile is not None and set(ref.profile.columns) == {"a", PREDICTION}
    scores = clf.predict_proba(frame[["a"]].head(300))
    found = ref.estimator.estimate(scores.tolist())  # a proba endpoint's logged outputs
    assert found["accuracy"].value is not None and 0.6 < found["accuracy"].value <= 1.0


def test_old_calls_still_work(world: SimpleNamespace) -> None:
    frame = labelled(300, 6).drop(columns=["y"])
    saved = world.service.set_reference("r", 1, frame.assign(prediction=1.0), actor="t")  # outputs given
    assert "outputs" not in saved.summary
    saved = world.service.set_reference("r", 1, frame, actor="t")  # scored, no estimator
    assert saved.summary["outputs"] == [PREDICTION] and "estimator" not in saved.summary
    assert {r.role for r in world.service.store.list_references("r")} == {"training"}


def test_bad_input_is_one_line_and_stores_nothing(world: SimpleNamespace) -> None:
    service = world.service
    with pytest.raises(InvalidArgument, match="target column 'label' is not in the reference data") as info:
        service.set_reference("r", 1, labelled(50, 1), target="label", actor="t")
    assert "\n" not in str(info.value)
    with pytest.raises(InvalidArgument, match="task is classification or regression"):
        service.set_reference("r", 1, labelled(50, 1), target="y", task="ranking", actor="t")
    with pytest.raises(InvalidArgument, match="could not score"):
        service.set_reference("r", 1, pd.DataFrame({"z": [1.0, 2.0]}), actor="t")
    for blob in (world.tmp / "a").rglob("*"):  # every stored file of the package tampered with
        if blob.is_file():
            blob.write_bytes(b"tampered")
    with pytest.raises(InvalidArgument, match="r@1 has no loadable model") as info:
        service.set_reference("r", 1, labelled(50, 1), target="y", actor="t")
    assert "\n" not in str(info.value)
    assert service.store.list_references("r") == []
