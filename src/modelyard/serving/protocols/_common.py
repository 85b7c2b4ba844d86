"""What the protocols share: content types, output conversion, the body -> decoder step."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument

PARQUET_TYPES = frozenset({b"application/vnd.apache.parquet", b"application/x-parquet", b"application/parquet"})
CSV_TYPES = frozenset({b"text/csv", b"application/csv"})
JSON_TYPES = frozenset({b"application/json", b"text/json", b""})


def jsonable(outputs: Any) -> Any:
    """Model outputs as something orjson writes: numeric arrays as they are (OPT_SERIALIZE_NUMPY),
    anything else as lists / records."""
    if isinstance(outputs, np.ndarray):
        return outputs if outputs.dtype.kind in "biuf" and outputs.flags.c_contiguous else outputs.tolist()
    if hasattr(outputs, "to_dict") and hasattr(outputs, "columns"):
        return outputs.to_dict(orient="records")
    if hasattr(outputs, "to_numpy"):
        return jsonable(outputs.to_numpy())
    return outputs


def one_of(payload: dict[str, Any], keys: tuple[str, ...], allowed_extra: tuple[str, ...] = ()) -> str:
    """The one key of ``keys`` that ``payload`` has; unknown keys are refused."""
    found = [k for k in keys if k in payload]
    unknown = [k for k in payload if k not in keys and k not in allowed_extra]
    if unknown:
        raise InvalidArgument(f"unknown field {unknown[0]!r}; expected one of {', '.join(keys)}")
    if len(found) != 1:
        raise InvalidArgument(f"the body must have exactly one of {', '.join(keys)}")
    return found[0]
