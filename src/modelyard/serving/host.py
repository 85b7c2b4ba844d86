"""One loaded model and its fast predict path.

A :class:`ModelHost` is made from a registry reference: the version is resolved once, then the
package is loaded by ``RegistryService.load`` (every blob re-hashed, every file checked against
``MLmodel.json`` before anything is deserialised), so a tampered artifact is never loaded.

What the host decides once, at load, so that no request pays for it:

- **Input kind.** ``matrix``: a scikit-learn model whose signature is numeric columns: requests
  become one float64 array in the signature's column order, no pandas. ``tensor``: a tensor
  signature (an array goes straight in). ``frame``: everything else (a DataFrame, checked by the
  registry's signature rules). The matrix path is only taken when it gives exactly what the
  DataFrame path gives on a sample (an estimator fitted on a DataFrame is served through a copy that
  does not check feature names, which the signature's column order already guarantees).
- **NaN.** Whether the model accepts missing values (probed with one NaN row): where it does not,
  a null in a request is a 400 naming the column instead of a 500 from inside the library.
- **predict_proba** when the estimator has it; the classes it orders its columns by.
- **ONNX Runtime** (``onnx=True``, scikit-learn only): the estimator is converted with skl2onnx and
  run by onnxruntime; the host refuses to start unless ONNX's labels equal scikit-learn's and its
  probabilities agree to 1e-5 on a sample.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.registry.packaging import LoadedModel
    from modelyard.registry.service import RegistryService
    from modelyard.registry.signature import Signature

__all__ = ["InputSpec", "ModelHost"]

InputKind = Literal["matrix", "frame", "tensor"]
_SAMPLE_ROWS = 32


@dataclass(frozen=True)
class InputSpec:
    """What a request body is decoded into (``serving/decode.py`` reads this)."""

    kind: InputKind
    columns: tuple[str, ...]  # the signature's column names, in order (empty for tensors / no signature)
    dtypes: tuple[str, ...]
    allow_nan: bool
    signature: Signature | None
    int_columns: tuple[int, ...] = ()


def _numeric(dtype: str) -> bool:
    try:
        return np.dtype(dtype).kind in "iuf"
    except TypeError:
        return False


def _without_feature_names(estimator: Any) -> Any:
    """A shallow copy that does not compare feature names (a Pipeline: its first step's copy)."""
    from sklearn.pipeline import Pipeline

    clone = copy.copy(estimator)
    if isinstance(clone, Pipeline):
        steps = list(clone.steps)
        name, first = steps[0]
        if not isinstance(first, str):
            steps[0] = (name, _without_feature_names(first))
        clone.steps = steps
    elif "feature_names_in_" in vars(clone):
        del clone.feature_names_in_
    return clone


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.allclose(a.astype(float), b.astype(float), rtol=1e-5, atol=1e-5, equal_nan=True))
    return bool(np.array_equal(a, b))


def _sample(spec_dtypes: tuple[str, ...], rows: int = _SAMPLE_ROWS) -> np.ndarray:
    rng = np.random.default_rng(20260101)
    sample = rng.normal(0.0, 2.0, size=(rows, len(spec_dtypes)))
    for i, dtype in enumerate(spec_dtypes):
        if np.dtype(dtype).kind in "iu":
            sample[:, i] = rng.integers(0, 5, size=rows)
    return sample


class _OnnxRunner:
    """An onnxruntime session over a converted scikit-learn estimator (float32 input)."""

    def __init__(self, estimator: Any, n_features: int) -> None:
        from modelyard.core.extras import require_extra
        from modelyard.registry.onnx_export import sklearn_to_onnx

        ort = require_extra("onnxruntime", purpose="--onnx needs onnxruntime")
        proto = sklearn_to_onnx(estimator, np.zeros((1, n_features), dtype=np.float32))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, matrix: np.ndarray) -> list[Any]:
        return list(self.session.run(None, {self.input_name: matrix.astype(np.float32, copy=False)}))


class ModelHost:
    """One loaded model version (see the module docstring). Thread-safe for prediction: the
    batcher calls ``predict`` from its worker thread."""

    def __init__(self, loaded: LoadedModel, *, model_name: str, model_version: int, onnx: bool = False) -> None:
        self.loaded = loaded
        self.model_name = model_name
        self.model_version = model_version
        self.flavor = loaded.flavor
        self.digest = loaded.digest
        self.signature = loaded.signature
        self.native = loaded.native
        self._fast_model: Any = None
        self._onnx: _OnnxRunner | None = None
        self.runtime = loaded.flavor
        self.input = self._decide_input()
        self.has_proba = self.flavor == "sklearn" and hasattr(self.native, "predict_proba")
        classes = getattr(self.native, "classes_", None) if self.has_proba else None
        self.classes: list[Any] | None = None if classes is None else np.asarray(classes).tolist()
        #: per-feature baseline values for occlusion explanations (``/explain``), from the version's
        #: stored evaluation; None when it has none (tree models need none: SHAP)
        self.explain_baseline: dict[str, Any] | None = None
        if onnx:
            self._enable_onnx()

    @classmethod
    def from_registry(cls, registry: RegistryService, reference: str, *, onnx: bool = False) -> ModelHost:
        """Resolve ``reference`` once (an alias may move later; this host keeps its version) and
        load that version from hash-verified artifacts."""
        from modelyard.evaluation.record import latest_importance

        version = registry.resolve(reference)
        loaded = registry.load(f"{version.model_name}@{version.version}")
        host = cls(loaded, model_name=version.model_name, model_version=version.version, onnx=onnx)
        try:
            stored = latest_importance(registry, version.model_name, version.version)
        except InvalidArgument:  # an unreadable importance record: explanations fall back, serving does not
            stored = {}
        host.explain_baseline = next((i.baseline for i in stored.values() if i.baseline), None)
        return host

    # -- decided at load ----------------------------------------------------------------------
    def _decide_input(self) -> InputSpec:
        sig = self.signature
        if sig is None:
            return InputSpec("frame", (), (), True, None)
        if sig.kind == "tensor":
            return InputSpec("tensor", (), (sig.inputs[0].dtype,), True, sig)
        columns = tuple(str(c.name) for c in sig.inputs)
        dtypes = tuple(c.dtype for c in sig.inputs)
        ints = tuple(i for i, d in enumerate(dtypes) if np.dtype(d).kind in "iu") if all(map(_numeric, dtypes)) else ()
        frame = InputSpec("frame", columns, dtypes, True, sig, ints)
        if self.flavor != "sklearn" or not all(_numeric(d) for d in dtypes):
            return frame
        import pandas as pd

        sample = _sample(dtypes)
        try:
            fast = _without_feature_names(self.native)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = self.loaded.predict(pd.DataFrame(sample, columns=list(columns)))
                if not _same(fast.predict(sample), reference):
                    return frame
        except Exception:  # the DataFrame path is always correct: keep it when the fast one is not
            return frame
        self._fast_model = fast
        return InputSpec("matrix", columns, dtypes, self._accepts_nan(fast, sample), sig, ints)

    @staticmethod
    def _accepts_nan(model: Any, sample: np.ndarray) -> bool:
        probe = sample[:2].copy()
        probe[0, 0] = np.nan
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.predict(probe)
        except Exception:
            return False
        return True

    def _enable_onnx(self) -> None:
        if self.flavor != "sklearn" or self.input.kind == "frame":
            raise InvalidArgument(
                f"{self.model_name}@{self.model_version}: ONNX Runtime serves scikit-learn models with numeric "
                f"inputs; this is a {self.flavor} model with a {self.input.kind} input"
            )
        n_features = len(self.input.columns) if self.input.kind == "matrix" else self._tensor_width()
        runner = _OnnxRunner(self.native, n_features)
        dtypes = self.input.dtypes if self.input.kind == "matrix" else ("float64",) * n_features
        sample = _sample(dtypes, 256)
        model = self._fast_model if self._fast_model is not None else self.native
        outputs = runner.run(sample)
        if not _same(outputs[0].ravel(), np.asarray(model.predict(sample)).ravel()):
            raise InvalidArgument(
                f"{self.model_name}@{self.model_version}: ONNX Runtime's predictions differ from scikit-learn's on "
                "a sample; refusing to serve it with --onnx"
            )
        if self.has_proba and (len(outputs) < 2 or not _same(outputs[1], model.predict_proba(sample))):
            raise InvalidArgument(
                f"{self.model_name}@{self.model_version}: ONNX Runtime's probabilities differ from scikit-learn's "
                "on a sample; refusing to serve it with --onnx"
            )
        self._onnx = runner
        self.runtime = "onnxruntime"

    def _tensor_width(self) -> int:
        shape = self.input.signature.inputs[0].shape if self.input.signature is not None else None
        if not shape or len(shape) != 2 or shape[1] < 1:
            raise InvalidArgument(f"{self.model_name}: ONNX Runtime needs a 2-D numeric tensor signature")
        return int(shape[1])

    # -- per request --------------------------------------------------------------------------
    def predict(self, data: Any, *, proba: bool = False) -> Any:
        """Outputs for ``data`` as decoded by ``serving/decode.py`` (one entry per row)."""
        if proba and not self.has_proba:
            raise InvalidArgument(f"model {self.model_name!r} ({self.flavor}) has no predict_proba")
        if self._onnx is not None:
            return self._onnx.run(data)[1 if proba else 0]
        if self._fast_model is not None:
            return self._fast_model.predict_proba(data) if proba else self._fast_model.predict(data)
        if self.input.kind == "tensor" and self.flavor == "sklearn":
            return self.native.predict_proba(data) if proba else self.native.predict(data)
        if proba:
            checked = self.signature.enforce(data) if self.signature is not None else data
            return self.native.predict_proba(checked)
        return self.loaded.predict(data)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.model_name,
            "version": self.model_version,
            "flavor": self.flavor,
            "runtime": self.runtime,
            "digest": self.digest,
            "input": self.input.kind,
            "predict_proba": self.has_proba,
            "signature": None if self.signature is None else self.signature.to_dict(),
        }

    def __repr__(self) -> str:
        return f"<ModelHost {self.model_name}@{self.model_version} {self.runtime} input={self.input.kind}>"
