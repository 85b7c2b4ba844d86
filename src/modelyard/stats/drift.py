"""Distribution distances between a reference and a current sample.

- PSI (population stability index) over quantile bins of the reference: the usual drift score in
  credit and churn models (< 0.1 stable, 0.1-0.25 moderate, > 0.25 major shift). numpy.
- Kolmogorov-Smirnov statistic and its asymptotic p-value for numeric columns
  (``scipy.stats.ks_2samp``).
- Jensen-Shannon distance (base 2, in [0, 1]) between category frequencies
  (``scipy.spatial.distance.jensenshannon``).

Non-finite values are left out; an empty side gives NaN (nothing to compare), not an error.
"""

from __future__ import annotations

import math

import numpy as np

_EPS = 1e-6


def _clean(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    return arr[np.isfinite(arr)]


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    ref, cur = _clean(reference), _clean(current)
    if ref.size == 0 or cur.size == 0:
        return math.nan
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:  # a constant reference: compare the share equal to it
        same_ref = 1.0
        same_cur = float(np.mean(cur == ref[0]))
        return float((same_cur - same_ref) * math.log(max(same_cur, _EPS) / same_ref))
    edges[0], edges[-1] = -np.inf, np.inf
    ref_share = np.histogram(ref, edges)[0] / ref.size
    cur_share = np.histogram(cur, edges)[0] / cur.size
    ref_share = np.clip(ref_share, _EPS, None)
    cur_share = np.clip(cur_share, _EPS, None)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and its asymptotic p-value (the exact one costs O(n*m))."""
    from scipy import stats

    ref, cur = _clean(reference), _clean(current)
    if ref.size == 0 or cur.size == 0:
        return math.nan, math.nan
    result = stats.ks_2samp(ref, cur, method="asymp")
    return float(result.statistic), float(min(max(result.pvalue, 0.0), 1.0))


def jensen_shannon(reference: dict[str, int], current: dict[str, int]) -> float:
    from scipy.spatial import distance

    keys = sorted(set(reference) | set(current))
    if not keys:
        return math.nan
    p = np.array([reference.get(k, 0) for k in keys], dtype="float64")
    q = np.array([current.get(k, 0) for k in keys], dtype="float64")
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    value = float(distance.jensenshannon(p, q, base=2))
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)
