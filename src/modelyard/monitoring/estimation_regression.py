"""DLE-style label-free estimation for regressors (see ``estimation`` for the method and the
bands): gradient-boosted loss models kept as plain node arrays, so an estimator serializes
without pickle, and the encoder that turns a window's inputs into the numbers they were fit on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.estimation import REGRESSION_ESTIMATES, Estimator, _z
from modelyard.monitoring.performance import MetricEstimate

__all__ = ["RegressionEstimator"]


class _Forest:
    """A fitted HistGradientBoostingRegressor (squared error) kept as plain node arrays and
    evaluated here, so it serializes without pickle. Categorical splits are never used: inputs
    are encoded to numbers before fitting."""

    FIELDS = ("feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf", "value")

    def __init__(self, arrays: dict[str, np.ndarray], baseline: float, depth: int) -> None:
        self.arrays = arrays
        self.baseline = baseline
        self.depth = depth

    @classmethod
    def from_sklearn(cls, model: Any) -> _Forest:
        parts: dict[str, list[np.ndarray]] = {f: [] for f in cls.FIELDS}
        roots: list[int] = []
        offset = 0
        depth = 0
        for iteration in model._predictors:
            for tree in iteration:
                nodes = tree.nodes
                roots.append(offset)
                for f in cls.FIELDS:
                    col = np.asarray(nodes[f])
                    if f in ("left", "right"):
                        col = col.astype(np.int64) + offset
                    parts[f].append(col)
                depth = max(depth, int(np.max(nodes["depth"])))
                offset += len(nodes)
        arrays = {f: np.concatenate(v) if v else np.zeros(0) for f, v in parts.items()}
        arrays["roots"] = np.asarray(roots, dtype=np.int64)
        return cls(arrays, float(np.ravel(model._baseline_prediction)[0]), depth)

    def predict(self, x: np.ndarray) -> np.ndarray:
        a = self.arrays
        roots = a["roots"]
        out = np.full(len(x), self.baseline)
        if len(roots) == 0:
            return out
        feat, thr = a["feature_idx"].astype(np.int64), a["num_threshold"]
        mleft, left, right = a["missing_go_to_left"].astype(bool), a["left"], a["right"]
        leaf, value = a["is_leaf"].astype(bool), a["value"]
        x = np.ascontiguousarray(x, dtype=float)
        width = x.shape[1]
        flat = x.ravel()
        for start in range(0, len(x), 20_000):
            stop = min(start + 20_000, len(x))
            node = np.tile(roots, stop - start)  # row-major: (row, tree)
            base = np.repeat(np.arange(start, stop, dtype=np.int64) * width, len(roots))
            todo = np.flatnonzero(~leaf[node])
            while len(todo):  # walk only the (row, tree) pairs not yet at a leaf
                at = node[todo]
                xv = flat[base[todo] + feat[at]]
                go_left = np.where(np.isnan(xv), mleft[at], xv <= thr[at])
                nxt = np.where(go_left, left[at], right[at])
                node[todo] = nxt
                todo = todo[~leaf[nxt]]
            out[start:stop] += value[node].reshape(stop - start, len(roots)).sum(axis=1)
        return out

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": v for k, v in self.arrays.items()}

    @classmethod
    def from_state(cls, prefix: str, arrays: dict[str, np.ndarray], baseline: float, depth: int) -> _Forest:
        return cls({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}, baseline, depth)


class _Encoder:
    """Inputs to a float matrix: numeric columns as they are, any other column as the code of its
    value among the reference's categories (NaN for a value never seen)."""

    def __init__(self, columns: list[str], categories: dict[str, list[str]]) -> None:
        self.columns = columns
        self.categories = categories

    @classmethod
    def fit(cls, features: Any) -> _Encoder:
        import pandas as pd

        frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(np.asarray(features))
        columns = [str(c) for c in frame.columns]
        categories: dict[str, list[str]] = {}
        for c, name in zip(frame.columns, columns, strict=True):
            if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
                categories[name] = sorted({str(v) for v in frame[c].dropna().tolist()})
        return cls(columns, categories)

    def transform(self, features: Any) -> np.ndarray:
        import pandas as pd

        frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(np.asarray(features))
        frame = frame.rename(columns=str)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise InvalidArgument(f"the window lacks the input column(s) {missing}")
        out = np.empty((len(frame), len(self.columns)), dtype=float)
        for j, name in enumerate(self.columns):
            col = frame[name]
            if name in self.categories:
                codes = {v: float(i) for i, v in enumerate(self.categories[name])}
                out[:, j] = [codes.get(str(v), math.nan) if v is not None else math.nan for v in col.tolist()]
            else:
                out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        return out


class RegressionEstimator(Estimator):
    """DLE-style estimator for a regressor (see the module docstring)."""

    kind = "regression"

    def __init__(
        self,
        encoder: _Encoder | None,
        models: list[tuple[_Forest, _Forest]],
        kappa: float,
        confidence: float,
        reference_metrics: dict[str, float],
    ) -> None:
        self.encoder = encoder
        self.models = models  # (absolute error, squared error); [0] on the whole reference
        self.kappa = kappa
        self.confidence = confidence
        self.reference_metrics = reference_metrics

    @classmethod
    def fit(
        cls,
        predictions: Any,
        labels: Any,
        *,
        features: Any = None,
        confidence: float = 0.95,
        n_models: int = 5,
        random_state: int | None = 0,
    ) -> RegressionEstimator:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        p = np.asarray(predictions, dtype=float)
        y = np.asarray(labels, dtype=float)
        if p.ndim != 1 or y.shape != p.shape:
            raise InvalidArgument(
                f"reference predictions and labels must be 1-D of one length, got {p.shape}, {y.shape}"
            )
        if len(p) < 20:
            raise InvalidArgument("the reference needs at least 20 labelled rows")
        if not (np.isfinite(p).all() and np.isfinite(y).all()):
            raise InvalidArgument("reference predictions and labels must be finite numbers")
        if n_models < 1:
            raise InvalidArgument("n_models must be at least 1")
        encoder = _Encoder.fit(features) if features is not None else None
        x = cls._matrix(encoder, features, p)
        err = y - p
        rng = np.random.default_rng(random_state)
        models: list[tuple[_Forest, _Forest]] = []
        # one OpenMP thread: on a shared machine more threads make these small fits far slower
        with threadpool_limits(limits=1, user_api="openmp"):
            for i in range(n_models):
                idx = np.arange(len(p)) if i == 0 else rng.integers(0, len(p), len(p))
                pair = []
                for target in (np.abs(err[idx]), err[idx] ** 2):
                    hgb = HistGradientBoostingRegressor(max_iter=100, max_leaf_nodes=15, min_samples_leaf=40,
                                                        random_state=random_state)  # fmt: skip
                    pair.append(_Forest.from_sklearn(hgb.fit(x[idx], target)))
                models.append((pair[0], pair[1]))
        # kurtosis ratio: Var(e² | x) ≈ κ·E[e² | x]², pooled over the reference (ratio of sums, so
        # rows where the model predicts a tiny squared error cannot blow it up)
        _, s = cls._losses(models[0], x)
        kappa = float(np.sum((err**2 - s) ** 2) / max(float(np.sum(s**2)), 1e-300))
        reference_metrics = {
            "mae": float(np.mean(np.abs(err))), "mse": float(np.mean(err**2)), "rmse": float(np.sqrt(np.mean(err**2))),
        }  # fmt: skip
        return cls(encoder, models, kappa, confidence, reference_metrics)

    @staticmethod
    def _losses(pair: tuple[_Forest, _Forest], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = np.maximum(pair[0].predict(x), 0.0)
        return m, np.maximum(pair[1].predict(x), m**2)  # E[e²] >= E[|e|]²

    @staticmethod
    def _matrix(encoder: _Encoder | None, features: Any, p: np.ndarray) -> np.ndarray:
        if encoder is None:
            if features is not None:
                raise InvalidArgument("this estimator was fitted without input features")
            return p[:, None]
        if features is None:
            raise InvalidArgument(f"the window's input features {encoder.columns} are needed")
        x = encoder.transform(features)
        if len(x) != len(p):
            raise InvalidArgument(f"{len(x)} feature rows for {len(p)} predictions")
        return np.column_stack([x, p])

    def estimate(
        self, window: Any, *, predictions: Any = None, features: Any = None, confidence: float | None = None
    ) -> dict[str, MetricEstimate]:
        """Estimated MAE, RMSE and MSE of a window from its predictions (``window``) and inputs."""
        z = _z(self.confidence if confidence is None else confidence)
        p = np.asarray(window if window is not None else predictions, dtype=float)
        if p.ndim != 1:
            raise InvalidArgument(f"window predictions must be 1-D, got {p.shape}")
        n = len(p)
        if n == 0:
            return {m: MetricEstimate.undefined(0, "no rows in the window") for m in REGRESSION_ESTIMATES}
        if not np.isfinite(p).all():
            raise InvalidArgument("window predictions must be finite numbers")
        x = self._matrix(self.encoder, features, p)
        m, s = self._losses(self.models[0], x)
        mae, mse = float(m.mean()), float(s.mean())
        rmse = math.sqrt(mse)
        # sampling: the window's losses given its inputs; reference: the spread of the bootstrap models
        others = [self._losses(pair, x) for pair in self.models[1:]]
        spread_mae = float(np.var([o[0].mean() for o in others], ddof=1)) if len(others) > 1 else 0.0
        spread_mse = float(np.var([o[1].mean() for o in others], ddof=1)) if len(others) > 1 else 0.0
        var_mae = float(np.sum(s - m**2)) / n**2 + spread_mae
        var_mse = self.kappa * float(np.sum(s**2)) / n**2 + spread_mse
        se_mae, se_mse = math.sqrt(var_mae), math.sqrt(var_mse)
        se_rmse = se_mse / (2 * rmse) if rmse > 0 else 0.0
        return {
            "mae": MetricEstimate(mae, max(0.0, mae - z * se_mae), mae + z * se_mae, n),
            "rmse": MetricEstimate(rmse, max(0.0, rmse - z * se_rmse), rmse + z * se_rmse, n),
            "mse": MetricEstimate(mse, max(0.0, mse - z * se_mse), mse + z * se_mse, n),
        }

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        forests = []
        for i, (a, b) in enumerate(self.models):
            arrays.update(a.state(f"m{i}_abs_"))
            arrays.update(b.state(f"m{i}_sq_"))
            forests.append([a.baseline, a.depth, b.baseline, b.depth])
        meta: dict[str, Any] = {
            "kappa": self.kappa, "confidence": self.confidence, "reference_metrics": self.reference_metrics,
            "forests": forests,
            "encoder": None if self.encoder is None else {"columns": self.encoder.columns,
                                                          "categories": self.encoder.categories},
        }  # fmt: skip
        return meta, arrays

    @classmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RegressionEstimator:
        enc = meta["encoder"]
        encoder = None if enc is None else _Encoder(list(enc["columns"]), dict(enc["categories"]))
        models = []
        for i, (ab, ad, sb, sd) in enumerate(meta["forests"]):
            models.append((
                _Forest.from_state(f"m{i}_abs_", arrays, float(ab), int(ad)),
                _Forest.from_state(f"m{i}_sq_", arrays, float(sb), int(sd)),
            ))  # fmt: skip
        return cls(encoder, models, float(meta["kappa"]), float(meta["confidence"]), dict(meta["reference_metrics"]))
