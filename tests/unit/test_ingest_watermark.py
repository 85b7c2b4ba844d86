"""Watermarks survive the metadata store as text and compare as their own type again."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.core.errors import InvalidArgument
from modelyard.data.ingest import Watermark, schema_diff
from modelyard.data.ingest.watermark import filter_newer, max_watermark


@pytest.mark.parametrize(
    "value",
    [
        7,
        2.5,
        decimal.Decimal("1.10"),
        "b",
        dt.date(2024, 5, 1),
        dt.datetime(2024, 5, 1, 3, 4, 5, 6),
        dt.datetime(2024, 5, 1, 3, 4, 5, tzinfo=dt.UTC),
    ],
)
def test_round_trip(value: object) -> None:
    mark = Watermark("c", value)
    back = Watermark.from_params(mark.params())
    assert back == mark and type(back.value) is type(value)  # type: ignore[union-attr]


@given(st.lists(st.integers(-(2**62), 2**62), min_size=1), st.integers(-(2**62), 2**62))
def test_filter_newer_keeps_exactly_the_greater_values(values: list[int], bound: int) -> None:
    table = pa.table({"c": values})
    kept = filter_newer(table, Watermark("c", bound)).column("c").to_pylist()
    assert kept == [v for v in values if v > bound]


def test_filter_and_max_on_timestamps_and_nulls() -> None:
    ts = pa.array([dt.datetime(2024, 1, d) for d in (1, 2, 3)] + [None], pa.timestamp("us"))
    table = pa.table({"ts": ts})
    assert filter_newer(table, Watermark("ts", dt.datetime(2024, 1, 2))).num_rows == 1
    assert max_watermark(table, "ts") == dt.datetime(2024, 1, 3)
    assert max_watermark(pa.table({"ts": pa.array([None, None], pa.int64())}), "ts") is None
    with pytest.raises(InvalidArgument, match="cannot compare"):
        filter_newer(table, Watermark("ts", "not a time"))


def test_missing_params_and_bad_values() -> None:
    assert Watermark.from_params({}) is None
    with pytest.raises(InvalidArgument, match="cannot be read back"):
        Watermark.from_params({"watermark.column": "c", "watermark.type": "int", "watermark.value": "x"})
    with pytest.raises(InvalidArgument, match="must hold"):
        Watermark("c", [1]).params()


def test_schema_diff() -> None:
    old = pa.schema([("a", pa.int64()), ("b", pa.string()), ("n", pa.null())])
    new = pa.schema([("a", pa.float64()), ("c", pa.string()), ("n", pa.int64())])
    diff = schema_diff(old, new)
    assert diff.lines() == ["+ c: string", "- b: string", "~ a: int64 -> double"]
    assert schema_diff(old, old).is_empty
