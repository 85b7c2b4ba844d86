"""Server-side downsampling of metric histories for the charts.

A browser draws a 100,000-point line slowly and a screen shows ~2,000 distinct x positions at
most, so the UI sends at most ``max_points`` points per series. The method is *min/max per
bucket*: the points (ordered by x) are cut into equal-count buckets and, from each bucket, the
point with the smallest and the one with the largest value are kept, in x order, plus the first
and last points of the series. Unlike LTTB, which picks one "visually important" point per
bucket, this keeps every local extreme exactly: a loss spike or a dip in accuracy that lasts one
step is still on the chart, and the y range of the chart is the true one. It is fully vectorised
(``numpy.minimum.reduceat``), so 100,000 points take about a millisecond.

Non-finite values (NaN, ±inf) cannot be drawn on a line chart nor written as JSON numbers; they
are removed before downsampling and counted, so the UI can say how many points were not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_MAX_POINTS = 2000

__all__ = ["DEFAULT_MAX_POINTS", "Downsampled", "downsample_minmax", "downsample_series"]


@dataclass(frozen=True)
class Downsampled:
    """A series ready to draw: ``x``/``y`` as float arrays, and what was left out."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    total_points: int  # points in the original series, non-finite ones included
    nan_points: int
    inf_points: int

    @property
    def downsampled(self) -> bool:
        return len(self.x) < self.total_points - self.nan_points - self.inf_points


def downsample_minmax(y: npt.NDArray[np.float64], max_points: int = DEFAULT_MAX_POINTS) -> npt.NDArray[np.intp]:
    """Indices (ascending) of the points of ``y`` to keep: at most ``max_points`` of them.

    ``y`` must be finite. With ``n <= max_points`` every index is kept. Otherwise the series is cut
    into ``(max_points - 2) // 2`` buckets of (nearly) equal size and each bucket contributes its
    first minimum and its first maximum; the first and last points are always kept.
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, not {max_points}")
    n = int(y.shape[0])
    if n <= max_points:
        return np.arange(n, dtype=np.intp)
    buckets = (max_points - 2) // 2
    starts = np.linspace(0, n, buckets + 1)[:-1].astype(np.intp)
    starts = np.unique(starts)
    sizes = np.diff(np.append(starts, n))
    bucket_of = np.repeat(np.arange(starts.shape[0]), sizes)
    index = np.arange(n, dtype=np.intp)
    mins = np.minimum.reduceat(y, starts)
    maxs = np.maximum.reduceat(y, starts)
    # The first index in each bucket where the value equals that bucket's min (max): every other
    # position is replaced by n, so the bucket's minimum over positions is that first index.
    argmin = np.minimum.reduceat(np.where(y == mins[bucket_of], index, n), starts)
    argmax = np.minimum.reduceat(np.where(y == maxs[bucket_of], index, n), starts)
    keep = np.concatenate(([0, n - 1], argmin, argmax))
    return np.unique(keep)


def downsample_series(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int = DEFAULT_MAX_POINTS) -> Downsampled:
    """Drop non-finite values (counting them), then keep at most ``max_points`` points (min/max per bucket)."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-d arrays of the same length, got {xs.shape} and {ys.shape}")
    nan_mask = np.isnan(ys)
    inf_mask = np.isinf(ys)
    finite = ~(nan_mask | inf_mask)
    xs, ys_finite = xs[finite], ys[finite]
    keep = downsample_minmax(ys_finite, max_points)
    return Downsampled(
        x=xs[keep],
        y=ys_finite[keep],
        total_points=int(ys.shape[0]),
        nan_points=int(nan_mask.sum()),
        inf_points=int(inf_mask.sum()),
    )
