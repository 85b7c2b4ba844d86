"""Request bodies -> model input, checked against the model's signature.

Every protocol ends up here: records (``[{"col": v, ...}]``), columns (``{"col": [v, ...]}``),
rows (``[[v, ...]]``, in the signature's column order, or a tensor), a split frame (column names +
rows, MLflow's ``dataframe_split``), an Arrow table (CSV and Parquet bodies) and named V2 tensors.
What comes out depends on the host's :class:`~modelyard.serving.host.InputSpec`:

- ``matrix``: one float64 array in the signature's column order, built straight from the JSON
  values (no pandas). The common case costs one list comprehension and one ``np.array``; only when
  that array is not plainly numeric (a string, a null, a bool, a nested list...) does a slower pass
  run, value by value, to name the column and the row that is wrong.
- ``frame``: a DataFrame checked by the registry's signature rules (widening only, never
  reinterpreting), ``tensor``: an array checked against the tensor signature.

Bad input raises :class:`~modelyard.registry.errors.SignatureError` naming the column (missing,
extra, wrong type, null where the model takes no missing values) or ``InvalidArgument`` for a
body that is not what the protocol expects. Extra columns are refused: a misspelt column name
would otherwise be dropped silently while the model saw its default.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from modelyard.core.errors import InvalidArgument, SignatureError

if TYPE_CHECKING:
    import pyarrow as pa

    from modelyard.serving.host import InputSpec

__all__ = [
    "from_arrow",
    "from_columns",
    "from_csv",
    "from_parquet",
    "from_records",
    "from_rows",
    "from_split",
    "parse_json",
    "rows_of",
]

#: A body's JSON may hold a bool only if one of these tokens is in its bytes: when neither is, the
#: fast path can trust numpy's numeric conversion (which would quietly turn True into 1.0).
_BOOL_TOKENS = (b"true", b"false")


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidArgument("the request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"malformed JSON: {exc}") from None


def may_hold_bool(body: bytes) -> bool:
    return _BOOL_TOKENS[0] in body or _BOOL_TOKENS[1] in body


def rows_of(data: Any) -> int:
    """How many rows a decoded input holds."""
    return int(data.shape[0]) if hasattr(data, "shape") and data.shape else len(data)


def _missing(spec: InputSpec, name: str) -> SignatureError:
    dtype = spec.dtypes[spec.columns.index(name)]
    return SignatureError(f"input is missing column {name!r} (expected type {dtype})", column=name, expected=dtype)


def _extra(names: Sequence[str], spec: InputSpec) -> SignatureError:
    listed = ", ".join(repr(n) for n in names[:5])
    return SignatureError(
        f"input has column(s) the model does not take: {listed}; it takes {list(spec.columns)}", column=str(names[0])
    )


def _check_names(spec: InputSpec, names: Sequence[str]) -> None:
    known = set(spec.columns)
    extra = [n for n in names if n not in known]
    if extra:
        raise _extra(extra, spec)
    present = set(names)
    for column in spec.columns:
        if column not in present:
            raise _missing(spec, column)


# -- the matrix path (numeric columns, no pandas) -------------------------------------------------


def _value_error(spec: InputSpec, column: int, row: int, value: Any) -> SignatureError:
    name, dtype = spec.columns[column], spec.dtypes[column]
    if value is None:
        return SignatureError(
            f"column {name!r} (row {row}) is null, and this model does not accept missing values",
            column=name,
            expected=dtype,
        )
    shown = type(value).__name__ if not isinstance(value, str) else f"string {value[:40]!r}"
    return SignatureError(f"column {name!r} must be {dtype}, got {shown} (row {row})", column=name, expected=dtype)


def _matrix_checked(spec: InputSpec, rows: Sequence[Any]) -> np.ndarray:
    """The exact pass: every value checked, the first wrong one named."""
    width = len(spec.columns)
    ints = set(spec.int_columns)
    out = np.empty((len(rows), width), dtype=np.float64)
    for r, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) != width:
            size = len(row) if isinstance(row, list | tuple) else "a non-list"
            raise SignatureError(
                f"row {r} has {size} values; the model takes {width} columns {list(spec.columns)}", expected="columns"
            )
        for c, value in enumerate(row):
            kind = type(value)
            if kind is int or (kind is float and c not in ints):
                out[r, c] = value
            elif value is None and spec.allow_nan and c not in ints:
                out[r, c] = np.nan
            else:
                raise _value_error(spec, c, r, value)
    return out


def _matrix(spec: InputSpec, rows: Sequence[Any], maybe_bool: bool) -> np.ndarray:
    if not maybe_bool and rows:
        try:
            array = np.array(rows)
        except (ValueError, TypeError):
            array = None
        if (
            array is not None
            and array.ndim == 2
            and array.shape[1] == len(spec.columns)
            and (array.dtype.kind == "i" or (array.dtype.kind == "f" and not spec.int_columns))
        ):
            return array.astype(np.float64, copy=False)
    if not rows:
        raise InvalidArgument("the request holds no rows")
    return _matrix_checked(spec, rows)


# -- entry points -----------------------------------------------------------------------------


def from_records(spec: InputSpec, records: Any, *, maybe_bool: bool = True) -> Any:
    """``[{"column": value, ...}, ...]``."""
    if not isinstance(records, list) or not records:
        raise InvalidArgument("records must be a non-empty list of objects")
    if spec.kind == "matrix":
        columns = spec.columns
        width = len(columns)
        try:
            rows = [[record[c] for c in columns] for record in records]
        except KeyError as exc:
            raise _missing(spec, str(exc.args[0])) from None
        except TypeError:
            raise InvalidArgument("records must be a list of JSON objects, one per row") from None
        for record in records:
            if len(record) != width:
                raise _extra([k for k in record if k not in set(columns)], spec)
        return _matrix(spec, rows, maybe_bool)
    if not all(isinstance(r, dict) for r in records):
        raise InvalidArgument("records must be a list of JSON objects, one per row")
    import pandas as pd

    return _from_frame(spec, pd.DataFrame.from_records(records))


def from_columns(spec: InputSpec, columns: Any, *, maybe_bool: bool = True) -> Any:
    """``{"column": [value, ...], ...}``."""
    if not isinstance(columns, dict) or not columns:
        raise InvalidArgument("columns must be a non-empty object of column name -> list of values")
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if -1 in lengths:
        bad = next(k for k, v in columns.items() if not isinstance(v, list))
        raise SignatureError(f"column {bad!r} must be a list of values", column=bad)
    if len(lengths) != 1:
        raise InvalidArgument("every column must hold the same number of values")
    if spec.kind == "matrix":
        _check_names(spec, list(columns))
        rows = [list(row) for row in zip(*(columns[c] for c in spec.columns), strict=True)]
        return _matrix(spec, rows, maybe_bool)
    import pandas as pd

    return _from_frame(spec, pd.DataFrame(columns))


def from_rows(spec: InputSpec, rows: Any, *, maybe_bool: bool = True) -> Any:
    """``[[v, ...], ...]``: rows in the signature's column order, or a tensor."""
    if not isinstance(rows, list) or not rows:
        raise InvalidArgument("the input must be a non-empty list of rows")
    if spec.kind == "matrix":
        if not isinstance(rows[0], list) and len(spec.columns) == 1:
            rows = [[v] for v in rows]
        return _matrix(spec, rows, maybe_bool)
    if spec.kind == "tensor":
        return _tensor(spec, rows)
    if spec.columns:
        if not all(isinstance(r, list) and len(r) == len(spec.columns) for r in rows):
            raise SignatureError(f"each row must hold {len(spec.columns)} values {list(spec.columns)}")
        import pandas as pd

        return _from_frame(spec, pd.DataFrame(rows, columns=list(spec.columns)))
    return np.asarray(rows)


def from_split(spec: InputSpec, columns: Any, data: Any, *, maybe_bool: bool = True) -> Any:
    """Column names and rows (``{"columns": [...], "data": [[...]]}``)."""
    if columns is None:
        return from_rows(spec, data, maybe_bool=maybe_bool)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidArgument("columns must be a list of column names")
    if not isinstance(data, list) or not data:
        raise InvalidArgument("data must be a non-empty list of rows")
    if spec.kind == "matrix":
        _check_names(spec, columns)
        if len(set(columns)) != len(columns):
            raise InvalidArgument("columns names a column twice")
        if tuple(columns) != spec.columns:
            order = [columns.index(c) for c in spec.columns]
            try:
                data = [[row[i] for i in order] for row in data]
            except (TypeError, IndexError):
                raise SignatureError(f"each row must hold {len(columns)} values, one per column") from None
        return _matrix(spec, data, maybe_bool)
    import pandas as pd

    try:
        frame = pd.DataFrame(data, columns=columns)
    except ValueError as exc:
        raise SignatureError(f"data does not match columns: {exc}") from None
    return _from_frame(spec, frame)


def from_named_arrays(spec: InputSpec, arrays: Mapping[str, np.ndarray]) -> Any:
    """One 1-D array per column (V2 tensors named after columns)."""
    if spec.kind == "matrix":
        _check_names(spec, list(arrays))
        ints = set(spec.int_columns)
        for i, name in enumerate(spec.columns):
            array = arrays[name]
            kind = array.dtype.kind
            if kind not in "iuf" or (i in ints and kind == "f"):
                raise SignatureError(
                    f"column {name!r} must be {spec.dtypes[i]}, got {array.dtype}", column=name, expected=spec.dtypes[i]
                )
        matrix = np.column_stack([arrays[c].astype(np.float64, copy=False) for c in spec.columns])
        _check_nan(spec, matrix)
        return matrix
    import pandas as pd

    return _from_frame(spec, pd.DataFrame(dict(arrays)))


def _check_nan(spec: InputSpec, matrix: np.ndarray) -> None:
    if spec.allow_nan:
        return
    nan = np.isnan(matrix)
    if nan.any():
        row, column = (int(i) for i in np.argwhere(nan)[0])
        raise _value_error(spec, column, row, None)


def from_arrow(spec: InputSpec, table: pa.Table) -> Any:
    """A table read from a CSV or Parquet body."""
    if table.num_rows == 0:
        raise InvalidArgument("the request holds no rows")
    if spec.kind == "matrix":
        import pyarrow.types as pat

        _check_names(spec, table.column_names)
        columns = []
        ints = set(spec.int_columns)
        for i, name in enumerate(spec.columns):
            column = table.column(name)
            ok = pat.is_integer(column.type) or (pat.is_floating(column.type) and i not in ints)
            if not ok and not (pat.is_null(column.type) and spec.allow_nan and i not in ints):
                raise SignatureError(
                    f"column {name!r} must be {spec.dtypes[i]}, got {column.type}", column=name, expected=spec.dtypes[i]
                )
            if column.null_count and (not spec.allow_nan or i in ints):
                raise _value_error(spec, i, _first_null(column), None)
            columns.append(column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
        matrix = np.column_stack(columns)
        _check_nan(spec, matrix)
        return matrix
    frame = table.to_pandas()
    if spec.kind == "tensor":
        return _tensor(spec, frame.to_numpy())
    return _from_frame(spec, frame)


def _first_null(column: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.index(pc.is_null(column), True).as_py())


def from_csv(spec: InputSpec, body: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not body.strip():
        raise InvalidArgument("the CSV body is empty")
    try:
        table = pacsv.read_csv(io.BytesIO(body))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"malformed CSV: {str(exc).splitlines()[0]}") from None
    return from_arrow(spec, table)


def from_parquet(spec: InputSpec, body: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidArgument(f"malformed Parquet: {str(exc).splitlines()[0]}") from None
    return from_arrow(spec, table)


# -- frames and tensors (the registry's rules) --------------------------------------------------


def _from_frame(spec: InputSpec, frame: Any) -> Any:
    if spec.signature is None:
        return frame
    if spec.kind == "tensor":
        return _tensor(spec, frame.to_numpy())
    names = [str(c) for c in frame.columns]
    _check_names(spec, names)
    return spec.signature.enforce(frame)


def _tensor(spec: InputSpec, data: Any) -> Any:
    if spec.signature is None:
        return np.asarray(data)
    try:
        return spec.signature.enforce(data)
    except ValueError as exc:  # ragged nested lists
        raise SignatureError(f"input is not a regular array: {exc}", expected=spec.dtypes[0]) from None
