"""Incremental ingestion's watermark: the greatest value of a column seen so far.

It is stored as params of the version the ingest created (``watermark.column``,
``watermark.type``, ``watermark.value``), i.e. in the metadata store, so every machine that shares
the store agrees on where the next ingest starts. Values are kept as text with their type so that
they compare as numbers, dates or timestamps again, not as strings.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Watermark", "filter_newer", "max_watermark"]

COLUMN_KEY, TYPE_KEY, VALUE_KEY = "watermark.column", "watermark.type", "watermark.value"


@dataclass(frozen=True)
class Watermark:
    column: str
    value: Any  # int, float, Decimal, str, date or datetime

    def params(self) -> dict[str, str]:
        return {COLUMN_KEY: self.column, TYPE_KEY: _type_name(self.value), VALUE_KEY: _to_text(self.value)}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Watermark | None:
        if COLUMN_KEY not in params or VALUE_KEY not in params:
            return None
        return cls(params[COLUMN_KEY], _from_text(params.get(TYPE_KEY, "str"), params[VALUE_KEY]))


def _type_name(value: Any) -> str:
    for name, kind in (
        ("bool", bool),
        ("int", int),
        ("float", float),
        ("decimal", decimal.Decimal),
        ("datetime", dt.datetime),
        ("date", dt.date),
        ("str", str),
    ):
        if isinstance(value, kind):
            return name
    raise InvalidArgument(
        f"a watermark column must hold numbers, dates, timestamps or text, not {type(value).__name__}"
    )


def _to_text(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _from_text(kind: str, text: str) -> Any:
    parsers: dict[str, Any] = {
        "bool": lambda t: t == "True",
        "int": int,
        "float": float,
        "decimal": decimal.Decimal,
        "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "str": str,
    }
    try:
        return parsers[kind](text)
    except (KeyError, ValueError, decimal.InvalidOperation):
        raise InvalidArgument(f"stored watermark {text!r} of type {kind!r} cannot be read back")


def _column(table: pa.Table, column: str) -> pa.ChunkedArray:
    if column not in table.column_names:
        raise InvalidArgument(
            f"watermark column {column!r} is not in the data (columns: {', '.join(table.column_names)})"
        )
    return table.column(column)


def filter_newer(table: pa.Table, watermark: Watermark) -> pa.Table:
    """The rows whose watermark column is greater than ``watermark.value`` (nulls are not newer)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _column(table, watermark.column)
    try:
        bound = pa.scalar(watermark.value).cast(values.type)
        mask = pc.greater(values, bound)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidArgument(
            f"cannot compare {watermark.column} ({values.type}) with the stored watermark {watermark.value!r}: {exc}"
        )
    return table.filter(pc.fill_null(mask, False))


def max_watermark(table: pa.Table, column: str) -> Any:
    """The greatest non-null value of ``column`` (a Python value), or None."""
    import pyarrow.compute as pc

    values = _column(table, column)
    if values.null_count == len(values):
        return None
    return pc.max(values).as_py()
