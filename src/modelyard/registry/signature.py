"""Model signatures: what a model's ``predict`` accepts, inferred from an input example and enforced.

A signature is either *columns* (a table: names and dtypes, from a DataFrame or a dict of
columns) or a *tensor* (one array: dtype and shape, ``-1`` for the batch dimension). Enforcement
happens before the model sees the data, so a wrong input fails with the column and the type it
should have had, instead of a shape error deep inside a library or, worse, a silent wrong answer
(a string column coerced to NaN, columns in a different order).

Type rules: an input may be *widened* (int -> float, int32 -> int64) or moved between float sizes, but
never reinterpreted (float -> int, number <-> string, bool -> number); extra columns are dropped, columns are
reordered to the signature's order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from modelyard.core.errors import InvalidArgument, SignatureError

__all__ = ["ColumnSpec", "Signature", "SignatureError", "dtype_name", "infer_signature"]


@dataclass(frozen=True)
class ColumnSpec:
    name: str | None
    dtype: str  # "int64", "float32", "bool", "string", "datetime64[ns]", ...
    shape: tuple[int, ...] | None = None  # tensors only

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        if self.shape is not None:
            data["shape"] = list(self.shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSpec:
        shape = data.get("shape")
        return cls(name=data.get("name"), dtype=str(data["dtype"]), shape=tuple(shape) if shape is not None else None)


@dataclass(frozen=True)
class Signature:
    kind: Literal["columns", "tensor"]
    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": None if self.outputs is None else [c.to_dict() for c in self.outputs],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        kind = data.get("kind")
        if kind not in ("columns", "tensor"):
            raise InvalidArgument(f"invalid signature kind {kind!r}: expected 'columns' or 'tensor'")
        outputs = data.get("outputs")
        return cls(
            kind=kind,
            inputs=tuple(ColumnSpec.from_dict(c) for c in data.get("inputs", [])),
            outputs=None if outputs is None else tuple(ColumnSpec.from_dict(c) for c in outputs),
        )

    def enforce(self, data: Any) -> Any:
        """``data`` checked and converted for the model (DataFrame for columns, ndarray for tensors)."""
        if self.kind == "tensor":
            return _enforce_tensor(self.inputs[0], data)
        return _enforce_columns(self.inputs, data)


# --- inference ---------------------------------------------------------------------------------


def dtype_name(dtype: Any, values: Any = None) -> str:
    """The signature's name for a numpy/pandas dtype; object columns of strings are "string"."""
    if isinstance(dtype, pd.CategoricalDtype):
        return dtype_name(dtype.categories.dtype)
    if isinstance(dtype, pd.StringDtype):
        return "string"
    np_dtype = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    if np_dtype.kind in "OUS":
        if values is not None and np_dtype.kind == "O":
            sample = [v for v in list(values)[:100] if v is not None]
            if sample and not all(isinstance(v, str) for v in sample):
                return "object"
        return "string"
    return np_dtype.name


def _as_frame(data: Any) -> pd.DataFrame | None:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        return pd.DataFrame(
            {k: v if isinstance(v, list | tuple | np.ndarray | pd.Series) else [v] for k, v in data.items()}
        )
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        return pd.DataFrame(data)
    return None


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    """Columns from a DataFrame, a dict of columns or a list of records; a tensor from anything
    array-like. The output side is inferred the same way when an output example is given."""
    inputs, kind = _infer_side(input_example)
    outputs = None
    if output_example is not None:
        outputs, _ = _infer_side(output_example)
    return Signature(kind=kind, inputs=inputs, outputs=outputs)


def _infer_side(example: Any) -> tuple[tuple[ColumnSpec, ...], Literal["columns", "tensor"]]:
    frame = _as_frame(example)
    if frame is not None:
        if frame.shape[1] == 0:
            raise InvalidArgument("cannot infer a signature from an example without columns")
        return (
            tuple(ColumnSpec(name=str(col), dtype=dtype_name(frame[col].dtype, frame[col])) for col in frame.columns),
            "columns",
        )
    try:
        array = np.asarray(example)
    except Exception as exc:
        raise InvalidArgument(f"cannot infer a signature from a {type(example).__name__}: {exc}")
    if array.ndim == 0:
        raise InvalidArgument("cannot infer a signature from a scalar input example")
    shape = (-1, *array.shape[1:])
    return (ColumnSpec(name=None, dtype=dtype_name(array.dtype, array.ravel()), shape=shape),), "tensor"


# --- enforcement -------------------------------------------------------------------------------


def _compatible(expected: str, actual: str) -> bool:
    """May data of dtype ``actual`` be given where ``expected`` is declared (widening only)?"""
    if expected == actual:
        return True
    if expected == "object":
        return True
    try:
        exp, act = np.dtype(expected), np.dtype(actual)
    except TypeError:
        return False
    if exp.kind == "f":
        return act.kind in "iuf"  # float64 into float32 is allowed: precision, not meaning, changes
    if exp.kind in "iu":
        return act.kind in "iu"
    return bool(exp.kind == act.kind)


def _enforce_columns(specs: tuple[ColumnSpec, ...], data: Any) -> pd.DataFrame:
    frame = _as_frame(data)
    if frame is None:
        array = np.asarray(data)
        if array.ndim != 2 or array.shape[1] != len(specs):
            raise SignatureError(
                f"input must be a table with columns {[s.name for s in specs]}; got an array of shape {array.shape}",
                expected="columns",
            )
        frame = pd.DataFrame(array, columns=[str(s.name) for s in specs])
    frame = frame.rename(columns=str)
    missing = [s for s in specs if s.name not in frame.columns]
    if missing:
        spec = missing[0]
        raise SignatureError(
            f"input is missing column {spec.name!r} (expected type {spec.dtype})", column=spec.name, expected=spec.dtype
        )
    out: dict[str, Any] = {}
    for spec in specs:
        column = frame[str(spec.name)]
        actual = dtype_name(column.dtype, column)
        if not _compatible(spec.dtype, actual):
            raise SignatureError(
                f"column {spec.name!r} must be {spec.dtype}, got {actual}", column=spec.name, expected=spec.dtype
            )
        if actual != spec.dtype and spec.dtype not in ("string", "object"):
            column = column.astype(spec.dtype)
        out[str(spec.name)] = column
    return pd.DataFrame(out, index=frame.index)


def _enforce_tensor(spec: ColumnSpec, data: Any) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    try:
        array = np.asarray(data)
    except Exception as exc:
        raise SignatureError(f"input cannot be read as a {spec.dtype} array: {exc}", expected=spec.dtype)
    actual = dtype_name(array.dtype, array.ravel() if array.dtype.kind == "O" else None)
    if not _compatible(spec.dtype, actual):
        raise SignatureError(f"input must be {spec.dtype}, got {actual}", expected=spec.dtype)
    expected_shape = spec.shape or ()
    if array.ndim != len(expected_shape) or any(
        e != -1 and e != a for e, a in zip(expected_shape, array.shape, strict=False)
    ):
        raise SignatureError(
            f"input must have shape {tuple(expected_shape)} (-1: any), got {array.shape}", expected=spec.dtype
        )
    if actual != spec.dtype and spec.dtype not in ("string", "object"):
        array = array.astype(spec.dtype)
    return array
