"""``modelyard.autolog()``: scikit-learn estimators, searches, pipelines, MLflow's metric names,
failures that become warnings, XGBoost and LightGBM, and disabling."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from modelyard.registry.packaging import load_directory
from modelyard.sdk import _autolog_common
from modelyard.sdk._autolog_common import param_text


@pytest.fixture
def sdk(modelyard_home: Path) -> Iterator[None]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("autolog")
    modelyard.autolog()
    yield
    modelyard.autolog(disable=True)
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


def _runs() -> list[modelyard.Run]:
    client = modelyard.TrackingClient()
    try:
        runs, _ = client.search_runs(["autolog"], max_results=5000)
    except modelyard.NotFound:
        return []
    finally:
        client.store.close()
    return runs


def _only(name: str) -> modelyard.Run:
    [run] = [r for r in _runs() if r.name == name]
    return run


def _load_model(run_id: str, tmp_path: Path) -> Any:
    path = modelyard.download_artifacts(run_id, "model", tmp_path / run_id)
    return load_directory(path)


def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def _binary() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :6], y


# -- estimators whose fit is inherited ------------------------------------------------------


class Mine(LogisticRegression):
    """A user's estimator: its own fit (not patched) calls the patched one."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Mine:
        self.seen_ = len(X)
        return super().fit(X, y, sample_weight)


def test_svc_and_random_forest_are_logged_once_each(sdk: None, tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.svm import SVC

    X, y = _iris()
    svc = SVC(C=3.0).fit(X, y)
    forest = RandomForestClassifier(n_estimators=7, random_state=0).fit(X, y)
    runs = _runs()
    assert sorted(r.name for r in runs) == ["RandomForestClassifier", "SVC"]  # no run per tree
    svc_run, forest_run = _only("SVC"), _only("RandomForestClassifier")
    assert svc_run.params["C"] == "3.0" and svc_run.params["kernel"] == "rbf"
    assert forest_run.params["n_estimators"] == "7"
    assert forest_run.tags["estimator_class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert all(r.status == modelyard.RunStatus.FINISHED for r in runs)
    loaded = _load_model(forest_run.id, tmp_path)
    assert np.array_equal(loaded.native.predict(X), forest.predict(X))
    assert svc_run.metrics["training_score"].value == pytest.approx(svc.score(X, y))


def test_a_subclass_calling_super_fit_logs_one_run(sdk: None, tmp_path: Path) -> None:
    X, y = _iris()
    assert Mine(max_iter=500).fit(X, y).seen_ == len(X)
    [run] = _runs()
    assert run.name == "Mine" and run.params["max_iter"] == "500"
    loaded = _load_model(run.id, tmp_path)  # not a scikit-learn class: the generic flavor
    assert loaded.flavor == "python" and isinstance(loaded.native, Mine)


def test_fit_transform_and_fit_predict_log_one_run_each(sdk: None) -> None:
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    X, _ = _iris()
    StandardScaler(with_mean=False).fit_transform(X)  # TransformerMixin.fit_transform calls fit
    labels = KMeans(n_clusters=3, n_init=2, random_state=0).fit_predict(X)
    assert len(set(labels)) == 3
    assert sorted(r.name for r in _runs()) == ["KMeans", "StandardScaler"]
    assert _only("StandardScaler").params["with_mean"] == "False"
    assert "training_score" in _only("KMeans").metrics  # KMeans.score(X) without y


# -- searches -----------------------------------------------------------------------------


def _check_search(parent: modelyard.Run, search: Any, children: list[modelyard.Run], expected_children: int) -> None:
    assert parent.parent_run_id is None
    for key, value in search.best_params_.items():
        assert parent.params[f"best_{key}"] == str(value)
    assert parent.metrics["best_cv_score"].value == pytest.approx(search.best_score_)
    assert len(children) == expected_children
    results = search.cv_results_
    for child in children:
        row = int(child.tags["modelyard.autolog.candidate"])
        assert child.parent_run_id == parent.id
        assert child.params == {k: str(v) for k, v in results["params"][row].items()}
        assert child.metrics["mean_test_score"].value == pytest.approx(results["mean_test_score"][row])
        assert child.metrics["std_test_score"].value == pytest.approx(results["std_test_score"][row])
    first = next(c for c in children if c.tags["modelyard.autolog.position"] == "1")
    assert int(first.tags["modelyard.autolog.candidate"]) == search.best_index_


def test_grid_search_logs_a_parent_and_children_without_conflict(sdk: None, tmp_path: Path) -> None:
    from sklearn.model_selection import GridSearchCV

    X, y = _iris()
    search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 1, 10]}, cv=3)
    assert search.fit(X, y) is search  # the conflict raised here
    runs = _runs()
    [parent] = [r for r in runs if r.parent_run_id is None]
    assert parent.name == "GridSearchCV"
    assert parent.params["estimator__C"] == "1.0" and parent.params["cv"] == "3"
    _check_search(parent, search, [r for r in runs if r.parent_run_id == parent.id], 3)
    assert len(runs) == 4  # the clones and the refit are no runs of their own
    assert "cv_results.csv" in {a.path for a in modelyard.list_artifacts(parent.id)}
    best = _load_model(parent.id, tmp_path).native
    assert type(best).__name__ == "LogisticRegression" and search.best_params_["C"] == best.C
    assert parent.metrics["training_accuracy_score"].value == pytest.approx(float(np.mean(search.predict(X) == y)))


def test_inner_fits_in_worker_threads_are_not_runs(sdk: None) -> None:
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y = _iris()
    with parallel_backend("threading", n_jobs=2):
        GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=2, n_jobs=2).fit(X, y)
    runs = _runs()
    assert sorted(r.name for r in runs if r.parent_run_id is None) == ["GridSearchCV"]
    assert len(runs) == 3


def test_randomized_search_keeps_the_best_max_tuning_runs(sdk: None) -> None:
    from scipy.stats import loguniform
    from sklearn.model_selection import RandomizedSearchCV

    modelyard.autolog(max_tuning_runs=3)
    X, y = _iris()
    search = RandomizedSearchCV(
        LogisticRegression(max_iter=500), {"C": loguniform(1e-4, 1e2)}, n_iter=8, cv=3, random_state=0
    ).fit(X, y)
    runs = _runs()
    [parent] = [r for r in runs if r.parent_run_id is None]
    children = [r for r in runs if r.parent_run_id == parent.id]
    _check_search(parent, search, children, 3)
    ranks = sorted(search.cv_results_["rank_test_score"])
    assert sorted(c.metrics["rank_test_score"].value for c in children) == [float(r) for r in ranks[:3]]


def test_halving_grid_search(sdk: None) -> None:
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    X, y = _binary()
    grid = {"max_depth": [1, 2, 3, 4], "min_samples_leaf": [1, 5]}
    search = HalvingGridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=3, random_state=0).fit(X, y)
    runs = _runs()
    [parent] = [r for r in runs if r.parent_run_id is None]
    assert parent.name == "HalvingGridSearchCV"
    children = [r for r in runs if r.parent_run_id == parent.id]
    _check_search(parent, search, children, 5)
    assert len({tuple(sorted(c.params.items())) for c in children}) == 5  # each candidate once


def test_pipeline_logs_its_deep_params(sdk: None) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _iris()
    Pipeline([("scaler", StandardScaler(with_mean=False)), ("clf", LogisticRegression(C=0.5, max_iter=300))]).fit(X, y)
    [run] = _runs()
    assert run.params["scaler__with_mean"] == "False" and run.params["clf__C"] == "0.5"
    assert run.params["clf__max_iter"] == "300"


# -- metric names -------------------------------------------------------------------------


def test_training_metrics_have_mlflow_names_and_values(sdk: None) -> None:
    from sklearn import metrics as skm
    from sklearn.linear_model import LinearRegression

    X, y = _binary()
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    got = {k: m.value for k, m in _only("LogisticRegression").metrics.items()}
    pred, proba = clf.predict(X), clf.predict_proba(X)
    assert got == pytest.approx(
        {
            "training_accuracy_score": skm.accuracy_score(y, pred),
            "training_precision_score": skm.precision_score(y, pred),
            "training_recall_score": skm.recall_score(y, pred),
            "training_f1_score": skm.f1_score(y, pred),
            "training_log_loss": skm.log_loss(y, proba),
            "training_roc_auc": skm.roc_auc_score(y, proba[:, 1]),
            "training_score": clf.score(X, y),
        }
    )

    target = X[:, 0] * 2.0 + X[:, 1]
    reg = LinearRegression().fit(X[:, 1:], target)
    got = {k: m.value for k, m in _only("LinearRegression").metrics.items()}
    pred = reg.predict(X[:, 1:])
    mse = skm.mean_squared_error(target, pred)
    assert got == pytest.approx(
        {
            "training_mean_squared_error": mse,
            "training_root_mean_squared_error": float(np.sqrt(mse)),
            "training_mean_absolute_error": skm.mean_absolute_error(target, pred),
            "training_r2_score": skm.r2_score(target, pred),
            "training_score": reg.score(X[:, 1:], target),
        }
    )


# -- failures -----------------------------------------------------------------------------


def test_a_logging_failure_is_one_warning_and_fit_returns(sdk: None, monkeypatch: pytest.MonkeyPatch) -> None:

    def broken(*_: Any, **__: Any) -> None:
        raise modelyard.StoreUnavailable("the store is down")

    from modelyard.tracking.service import TrackingService  # the class of the SDK session's client

    monkeypatch.setattr(TrackingService, "log_params", broken)
    monkeypatch.setattr(TrackingService, "log_batch", broken)
    X, y = _iris()
    model = LogisticRegression(max_iter=500)
    with pytest.warns(modelyard.AutologgingWarning, match="the store is down") as record:
        assert model.fit(X, y) is model
    assert len([w for w in record if issubclass(w.category, modelyard.AutologgingWarning)]) == 1
    assert model.predict(X).shape == y.shape  # fitted
    [run] = _runs()
    assert run.status == modelyard.RunStatus.FINISHED and run.params == {}
    assert modelyard.active_run() is None


def test_a_store_that_cannot_start_a_run_still_trains(sdk: None, monkeypatch: pytest.MonkeyPatch) -> None:

    def broken(*_: Any, **__: Any) -> None:
        raise modelyard.StoreUnavailable("cannot reach the store")

    from modelyard.sdk import tracking

    monkeypatch.setattr(tracking, "_start_run", broken)
    X, y = _iris()
    with pytest.warns(modelyard.AutologgingWarning, match="cannot reach the store"):
        model = LogisticRegression(max_iter=500).fit(X, y)
    assert model.score(X, y) > 0.9

    modelyard.autolog(silent=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        LogisticRegression(max_iter=500).fit(X, y)
    assert not [w for w in caught if issubclass(w.category, modelyard.AutologgingWarning)]  # silent


def test_the_users_error_passes_through_and_the_run_fails(sdk: None) -> None:
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        LogisticRegression().fit(np.array([[np.nan], [1.0]]), np.array([0, 1]))
    [run] = _runs()
    assert run.status == modelyard.RunStatus.FAILED
    assert modelyard.active_run() is None


def test_a_conflict_inside_the_users_run_is_a_warning(sdk: None) -> None:
    from sklearn.linear_model import Ridge

    X = np.arange(20.0).reshape(10, 2)
    with modelyard.start_run(name="mine"):
        Ridge(alpha=1.0).fit(X, X[:, 0])
        with pytest.warns(modelyard.AutologgingWarning, match="alpha"):
            model = Ridge(alpha=2.0).fit(X, X[:, 0])
    assert model.alpha == 2.0
    assert _only("mine").params["alpha"] == "1.0"


# -- XGBoost and LightGBM -----------------------------------------------------------------


def _importance(run_id: str, name: str, tmp_path: Path) -> dict[str, float]:
    path = modelyard.download_artifacts(run_id, name, tmp_path / f"imp-{run_id}")
    return json.loads(Path(path).read_text())


def test_xgboost_train_and_classifier(sdk: None, tmp_path: Path) -> None:
    xgboost = pytest.importorskip("xgboost")
    X, y = _binary()
    dtrain, dvalid = xgboost.DMatrix(X[:400], y[:400]), xgboost.DMatrix(X[400:], y[400:])
    params = {"objective": "binary:logistic", "max_depth": 3, "eval_metric": "logloss"}
    booster = xgboost.train(params, dtrain, num_boost_round=6, evals=[(dtrain, "train"), (dvalid, "valid")])
    run = _only("xgboost.train")
    assert run.params["max_depth"] == "3" and run.params["num_boost_round"] == "6"
    history = modelyard.get_metric_history(run.id, "valid-logloss")
    assert [p.step for p in history] == list(range(6))
    assert len(modelyard.get_metric_history(run.id, "train-logloss")) == 6
    gain = _importance(run.id, "feature_importance_gain.json", tmp_path)
    assert gain == pytest.approx(booster.get_score(importance_type="gain"))
    loaded = _load_model(run.id, tmp_path).native
    assert np.allclose(loaded.predict(dvalid), booster.predict(dvalid))

    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2, early_stopping_rounds=3)
    model.fit(X[:400], y[:400], eval_set=[(X[400:], y[400:])], verbose=False)
    run = _only("XGBClassifier")
    assert run.params["n_estimators"] == "5" and run.params["max_depth"] == "2"
    steps = [p.step for p in modelyard.get_metric_history(run.id, "validation_0-logloss")]
    assert steps == list(range(len(model.evals_result()["validation_0"]["logloss"])))
    assert run.metrics["best_iteration"].value == model.best_iteration
    assert run.metrics["stopped_iteration"].value == steps[-1]
    assert _importance(run.id, "feature_importance_weight.json", tmp_path)
    loaded = _load_model(run.id, tmp_path).native
    assert np.array_equal(loaded.predict(X[400:]), model.predict(X[400:]))
    assert len(_runs()) == 2  # the classifier's inner xgboost.train is not a run


def test_lightgbm_train_and_classifier(sdk: None, tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = _binary()
    train = lightgbm.Dataset(X[:400], y[:400])
    valid = lightgbm.Dataset(X[400:], y[400:], reference=train)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "metric": "binary_logloss"}
    booster = lightgbm.train(params, train, num_boost_round=4, valid_sets=[valid], valid_names=["valid"])
    run = _only("lightgbm.train")
    assert run.params["num_leaves"] == "7" and run.params["num_boost_round"] == "4"
    assert [p.step for p in modelyard.get_metric_history(run.id, "valid-binary_logloss")] == list(range(4))
    split = _importance(run.id, "feature_importance_split.json", tmp_path)
    assert list(split.values()) == [float(v) for v in booster.feature_importance("split")]
    loaded = _load_model(run.id, tmp_path).native
    assert np.allclose(loaded.predict(X[400:]), booster.predict(X[400:]))

    model = lightgbm.LGBMClassifier(n_estimators=3, num_leaves=5, verbose=-1)
    model.fit(X[:400], y[:400], eval_X=(X[400:],), eval_y=(y[400:],))
    run = _only("LGBMClassifier")
    assert run.params["n_estimators"] == "3" and run.params["num_leaves"] == "5"
    assert [p.step for p in modelyard.get_metric_history(run.id, "valid_0-binary_logloss")] == list(range(3))
    assert _importance(run.id, "feature_importance_gain.json", tmp_path)
    loaded = _load_model(run.id, tmp_path).native
    assert np.array_equal(loaded.predict(X[400:]), model.predict(X[400:]))
    assert len(_runs()) == 2


# -- disabling ----------------------------------------------------------------------------


def test_disable_restores_every_patched_attribute(sdk: None) -> None:
    import sklearn.base
    from sklearn.svm import SVC
    from sklearn.utils.parallel import Parallel  # noqa: F401  (imported by all_estimators anyway)

    patched = list(_autolog_common._patches)
    assert len(patched) > 100
    assert _autolog_common.is_patched(sklearn.base.TransformerMixin.__dict__["fit_transform"])
    modelyard.autolog(disable=True)
    assert _autolog_common._patches == []
    for owner, name, original in patched:
        current = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        assert current is original
    X, y = _iris()
    SVC().fit(X, y)
    assert modelyard.active_run() is None and _runs() == []


def test_max_tuning_runs_is_validated(sdk: None) -> None:
    with pytest.raises(modelyard.InvalidArgument):
        modelyard.autolog(max_tuning_runs=-1)


# -- every estimator ------------------------------------------------------------------------


def test_every_constructible_estimator_is_logged(sdk: None) -> None:
    """Each estimator that builds with defaults and fits a small dataset gets exactly one run
    with its params; the inner fits of meta-estimators are no runs of their own."""
    from sklearn.utils import all_estimators

    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 1.0, size=(36, 4))  # positive: chi2, NMF, MultinomialNB accept it
    y_class = np.arange(36) % 3
    y_reg = X @ np.array([1.0, 2.0, 0.5, 3.0])  # positive: Poisson and Gamma regressors accept it
    y_two = np.c_[y_reg, X[:, 0]]  # multi-task estimators want 2-d targets
    targets = {"classifier": [y_class], "regressor": [y_reg, y_two], "transformer": [y_class, y_two], "cluster": [None]}
    fitted: dict[str, Any] = {}
    refused: list[tuple[str, type, Any]] = []  # every (estimator, target) that failed to fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and the like, from the estimators
        warnings.simplefilter("error", modelyard.AutologgingWarning)
        for kind, choices in targets.items():
            for name, cls in all_estimators(type_filter=kind):
                if name in fitted or name in {"TSNE", "MDS"}:  # slow manifold learners
                    continue
                try:
                    estimator = cls()
                except TypeError:  # required arguments (meta-estimators, column selectors)
                    continue
                for target in choices:
                    try:
                        estimator.fit(X, target)
                    except modelyard.AutologgingWarning:
                        raise
                    except Exception:  # needs other input (text, 1-d X, square kernels...)
                        refused.append((name, cls, target))
                        continue
                    fitted[name] = estimator
                    break
    assert len(fitted) > 130, sorted({r[0] for r in refused} - set(fitted))
    runs = _runs()
    assert len(runs) == len(fitted) + len(refused)  # one run per fit, those that raised as FAILED
    finished = {r.name: r for r in runs if r.status == modelyard.RunStatus.FINISHED}
    assert set(finished) == set(fitted)
    for name, estimator in fitted.items():
        run = finished[name]
        params = estimator.get_params(deep=True)
        assert set(run.params) == set(params), name
        assert all(run.params[k] == param_text(v) for k, v in params.items() if not callable(v)), name
        assert run.tags["estimator_name"] == name
    assert sum(r.status == modelyard.RunStatus.FAILED for r in runs) == len(refused)

    # what failed under autolog fails without it too: autologging is not what broke them
    modelyard.autolog(disable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, cls, target in refused:
            with pytest.raises(Exception):  # noqa: B017
                cls().fit(X, target)
