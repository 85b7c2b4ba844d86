"""Distribution distances between a reference and a current sample.

- PSI (population stability index) over quantile bins of the reference: the usual drift score in
  credit and churn models (< 0.1 stable, 0.1-0.25 moderate, > 0.25 major shift). numpy.
- Kolmogorov-Smirnov statistic and its asymptotic p-value for numeric columns
  (``scipy.stats.ks_2samp``).
- Jensen-Shannon distance (base 2, in [0, 1]) between category frequencies
  (``scipy.spatial.distance.jensenshannon``).

Non-finite values are left out; an empty side gives NaN (nothing to compare), not an error.

Below them, the drift tests of monitoring (``METHODS``), each from raw arrays or counts (checked
against scipy in the tests) and from two mergeable profiles (``profile_test``; see
``modelyard.stats.profile``): KS, chi-squared, Z-test for two proportions, normed Wasserstein,
Jensen-Shannon and PSI. Profile-based figures are exact while both sides kept their values (small
samples) and within the KLL sketches' rank error otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.stats.profile import CategoricalProfile, ColumnProfile, NumericProfile

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


# ---- drift tests for monitoring: from raw arrays/counts and from mergeable profiles -------------
#
# The methods and their default thresholds follow Evidently's defaults: p-value tests (KS,
# chi-squared, Z-test for two proportions) flag drift when p < threshold (0.05); distances (normed
# Wasserstein, Jensen-Shannon, PSI) when the distance >= threshold (0.1). Jensen-Shannon here is
# scipy's distance with the natural logarithm (in [0, sqrt(ln 2)]), as Evidently computes it; the
# base-2 ``jensen_shannon`` above (used by validation expectations) is kept as it is.

#: method -> (default threshold, True when the statistic is a p-value)
METHODS: dict[str, tuple[float, bool]] = {
    "ks": (0.05, True),
    "chisquare": (0.05, True),
    "z": (0.05, True),
    "wasserstein": (0.1, False),
    "jensenshannon": (0.1, False),
    "psi": (0.1, False),
}
#: methods that need an ordered (numeric) column
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
_PSI_FLOOR = 0.0001  # empty bins (Evidently's "feel zeroes")
PSI_BINS = 10  # PSI of a continuous column: over the reference deciles
_GRID = 4096  # quantile grid of the sketch-based KS / Wasserstein


def is_drift(method: str, statistic: float, threshold: float) -> bool:
    """Drift verdict: a p-value below the threshold, or a distance at or above it."""
    if math.isnan(statistic):
        return False
    return statistic < threshold if METHODS[method][1] else statistic >= threshold


def _aligned(reference: Mapping[Any, float], current: Mapping[Any, float]) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(reference) | set(current), key=str)
    p = np.array([reference.get(k, 0) for k in keys], dtype="float64")
    q = np.array([current.get(k, 0) for k in keys], dtype="float64")
    return p, q


def chi_square(reference: Mapping[Any, float], current: Mapping[Any, float]) -> tuple[float, float]:
    """Chi-squared goodness of fit of the current counts to the reference frequencies (scaled to
    the current total); a category the reference never saw makes the p-value 0."""
    from scipy import stats

    p, q = _aligned(reference, current)
    if p.sum() == 0 or q.sum() == 0:
        return math.nan, math.nan
    expected = p * (q.sum() / p.sum())
    if np.any((expected == 0) & (q > 0)):
        return math.inf, 0.0
    keep = expected > 0
    result = stats.chisquare(q[keep], expected[keep])
    return float(result.statistic), float(min(max(result.pvalue, 0.0), 1.0))


def z_test(reference: Mapping[Any, float], current: Mapping[Any, float]) -> tuple[float, float]:
    """Two-sided Z-test that one category's share is the same in both (for two categories)."""
    from scipy import stats

    p, q = _aligned(reference, current)
    n1, n2 = p.sum(), q.sum()
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    p1, p2 = p[0] / n1, q[0] / n2
    pooled = (p[0] + q[0]) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:  # one value on both sides
        return 0.0, 1.0
    z = (p1 - p2) / math.sqrt(var)
    return float(z), float(2 * stats.norm.sf(abs(z)))


def jensen_shannon_shares(reference: Any, current: Any) -> float:
    """Jensen-Shannon distance (natural log) between two histograms over the same bins."""
    from scipy.spatial import distance

    p = np.asarray(reference, dtype="float64")
    q = np.asarray(current, dtype="float64")
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    value = float(distance.jensenshannon(p, q))
    return 0.0 if math.isnan(value) else max(value, 0.0)


def psi_shares(reference: Any, current: Any) -> float:
    """PSI between two histograms over the same bins (empty bins floored at 0.0001)."""
    p = np.asarray(reference, dtype="float64")
    q = np.asarray(current, dtype="float64")
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    p, q = np.where(p == 0, _PSI_FLOOR, p), np.where(q == 0, _PSI_FLOOR, q)
    return float(np.sum((p - q) * np.log(p / q)))


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance divided by the reference's standard deviation (at least 0.001)."""
    from scipy import stats

    ref, cur = _clean(reference), _clean(current)
    if ref.size == 0 or cur.size == 0:
        return math.nan
    return float(stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001))


def sturges_edges(low: float, high: float, n: int) -> np.ndarray:
    """numpy's "sturges" bin edges over [low, high] for ``n`` values."""
    bins = max(math.ceil(math.log2(max(n, 1)) + 1), 1)
    if not (high > low):
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


# ---- from profiles ------------------------------------------------------------------------------


def _finite_both(ref: NumericProfile, cur: NumericProfile) -> bool:
    return ref.n > 0 and cur.n > 0


def ks_profiles(ref: NumericProfile, cur: NumericProfile) -> tuple[float, float]:
    """KS statistic and p-value from two profiles: exact (``scipy.stats.ks_2samp``) when both kept
    their values, else the largest CDF gap over both sketches' quantile points (within the
    sketches' rank error) with the asymptotic p-value ks_2samp uses."""
    from scipy import stats

    if not _finite_both(ref, cur):
        return math.nan, math.nan
    if ref.exact is not None and cur.exact is not None:
        result = stats.ks_2samp(ref.exact, cur.exact)
        return float(result.statistic), float(min(max(result.pvalue, 0.0), 1.0))
    grid = np.linspace(0.0, 1.0, _GRID + 1)
    points = np.unique(np.concatenate([ref.quantiles(grid), cur.quantiles(grid)]))
    d = float(np.max(np.abs(ref.cdf(points) - cur.cdf(points))))
    # two sketches of the same data differ by up to their rank errors: the p-value is that of the
    # gap beyond them (conservative), so sketch noise alone never reads as drift on big samples
    beyond = max(d - ref.rank_error - cur.rank_error, 0.0)
    m, n = sorted([float(ref.n), float(cur.n)], reverse=True)
    en = m * n / (m + n)
    p = float(stats.kstwo.sf(beyond, np.round(en)))
    return d, min(max(p, 0.0), 1.0)


def wasserstein_profiles(ref: NumericProfile, cur: NumericProfile) -> float:
    """Normed Wasserstein distance from two profiles (exact when both kept their values, else the
    mean gap between the quantile functions on a fine grid of ranks)."""
    from scipy import stats

    if not _finite_both(ref, cur):
        return math.nan
    norm = max(ref.std, 0.001)
    if ref.exact is not None and cur.exact is not None:
        return float(stats.wasserstein_distance(ref.exact, cur.exact) / norm)
    ranks = (np.arange(_GRID) + 0.5) / _GRID
    gap = np.abs(ref.quantiles(ranks) - cur.quantiles(ranks))
    return float(gap.mean() / norm)


def histograms(
    ref: ColumnProfile, cur: ColumnProfile, *, bins: int | None = None, by: str = "width"
) -> tuple[list[str] | np.ndarray, np.ndarray, np.ndarray]:
    """The two sides as counts over common bins: categories (or the few values of a discrete
    numeric column), else numeric bins: ``by="width"``: equal-width bins over the combined range
    (Sturges' count unless ``bins``), what plots show; ``by="reference"``: bins of equal
    reference mass (open-ended at both ends), what the binned tests use, because each bin then
    holds enough of both samples for the sketches' rank error to stay small against it. Returns
    (bins, ref, cur): category labels or the numeric bin edges."""
    table_ref, table_cur = _tables(ref, cur)
    if table_ref is not None and table_cur is not None:
        keys = sorted(set(table_ref) | set(table_cur), key=_sort_key)
        p = np.array([table_ref.get(k, 0) for k in keys], dtype="float64")
        q = np.array([table_cur.get(k, 0) for k in keys], dtype="float64")
        return [_label(k) for k in keys], p, q
    assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
    if not _finite_both(ref, cur):
        return np.array([]), np.array([]), np.array([])
    edges = sturges_edges(min(ref.min, cur.min), max(ref.max, cur.max), ref.n + cur.n)
    if bins is not None:
        edges = np.linspace(edges[0], edges[-1], bins + 1)
    if by == "reference":
        count = bins or edges.size - 1
        inner = np.unique(ref.quantiles(np.linspace(0.0, 1.0, count + 1)[1:-1]))
        edges = np.concatenate([[-np.inf], inner, [np.inf]])
    return edges, _bin_counts(ref, edges), _bin_counts(cur, edges)


def _bin_counts(prof: NumericProfile, edges: np.ndarray) -> np.ndarray:
    """Values per bin, bins closed on the right ((e0, e1], ..., the ends open-ended)."""
    if prof.n == 0:
        return np.zeros(max(edges.size - 1, 0))
    cum = np.concatenate([[0.0], prof.cdf(edges[1:-1]), [1.0]])
    return np.clip(np.diff(cum), 0.0, None) * prof.n


def _tables(ref: ColumnProfile, cur: ColumnProfile) -> tuple[dict[Any, int] | None, dict[Any, int] | None]:
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        return ref.table(), cur.table()
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        return ref.values, cur.values
    return None, None


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, float) else (1, str(key))


def _label(key: Any) -> str:
    if isinstance(key, float):
        return str(int(key)) if key.is_integer() else f"{key:g}"
    return str(key)


def distinct_values(ref: ColumnProfile, cur: ColumnProfile) -> int | None:
    """Distinct values over both sides when known (few), else None (many)."""
    table_ref, table_cur = _tables(ref, cur)
    if table_ref is None or table_cur is None:
        return None
    return len(set(table_ref) | set(table_cur))


def profile_test(method: str, ref: ColumnProfile, cur: ColumnProfile) -> tuple[float, float | None]:
    """Run ``method`` on two column profiles: (statistic, p-value or None). The statistic the
    threshold applies to is the p-value for p-value tests."""
    if method not in METHODS:
        raise InvalidArgument(f"unknown drift method {method!r}; use one of {', '.join(METHODS)}")
    if method in NUMERIC_ONLY:
        if not (isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)):
            raise InvalidArgument(f"{method} needs a numeric column")
        if method == "ks":
            stat, p = ks_profiles(ref, cur)
            return stat, p
        return wasserstein_profiles(ref, cur), None
    if method in ("chisquare", "z"):
        table_ref, table_cur = _tables(ref, cur)
        if table_ref is None or table_cur is None:
            _, p_counts, q_counts = histograms(ref, cur, by="reference")  # binned numeric column
            table_ref = dict(enumerate(p_counts.tolist()))
            table_cur = dict(enumerate(q_counts.tolist()))
        stat, p = (chi_square if method == "chisquare" else z_test)(table_ref, table_cur)
        return stat, p
    if method == "jensenshannon":
        _, p_counts, q_counts = histograms(ref, cur, by="reference")
        return jensen_shannon_shares(p_counts, q_counts), None
    _, p_counts, q_counts = histograms(ref, cur, bins=PSI_BINS, by="reference")  # reference deciles
    return psi_shares(p_counts, q_counts), None
