"""Server-side downsampling of metric histories (min/max per bucket)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.server.ui.downsample import downsample_minmax, downsample_series


def test_short_series_are_kept_whole() -> None:
    y = np.array([3.0, 1.0, 2.0])
    assert downsample_minmax(y, 10).tolist() == [0, 1, 2]
    assert downsample_minmax(np.array([], dtype=np.float64), 10).tolist() == []


def test_100k_points_become_at_most_2000_keeping_the_extremes() -> None:
    rng = np.random.default_rng(7)
    y = np.cumsum(rng.normal(size=100_000))
    y[12_345] = y.max() + 50  # a one-point spike
    y[67_890] = y.min() - 50  # a one-point dip
    keep = downsample_minmax(y, 2000)
    assert 1900 <= len(keep) <= 2000
    assert keep.tolist() == sorted(set(keep.tolist()))
    assert {0, 99_999, 12_345, 67_890} <= set(keep.tolist())
    assert y[keep].max() == y.max() and y[keep].min() == y.min()


def test_every_bucket_keeps_its_own_min_and_max() -> None:
    y = np.sin(np.linspace(0, 40 * np.pi, 10_000))
    keep = set(downsample_minmax(y, 202).tolist())  # 100 buckets of 100 points
    for start in range(0, 10_000, 100):
        bucket = y[start : start + 100]
        assert start + int(np.argmin(bucket)) in keep
        assert start + int(np.argmax(bucket)) in keep


def test_non_finite_values_are_dropped_and_counted() -> None:
    x = np.arange(6)
    y = [1.0, float("nan"), 2.0, float("inf"), float("-inf"), 3.0]
    result = downsample_series(x, y, 100)
    assert result.x.tolist() == [0, 2, 5] and result.y.tolist() == [1.0, 2.0, 3.0]
    assert (result.total_points, result.nan_points, result.inf_points) == (6, 1, 2)
    assert result.downsampled is False


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        downsample_minmax(np.zeros(10), 3)
    with pytest.raises(ValueError, match="same length"):
        downsample_series([1, 2], [1.0], 10)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=0, max_size=3000),
    max_points=st.integers(min_value=4, max_value=500),
)
def test_properties(values: list[float], max_points: int) -> None:
    y = np.asarray(values, dtype=np.float64)
    keep = downsample_minmax(y, max_points)
    assert len(keep) <= max_points
    assert keep.tolist() == sorted(set(keep.tolist()))
    if len(y):
        assert keep[0] == 0 and keep[-1] == len(y) - 1
        assert y[keep].max() == y.max() and y[keep].min() == y.min()
