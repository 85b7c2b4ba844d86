"""Distribution distances between a reference and a current sample, with numpy only.

- PSI (population stability index) over quantile bins of the reference: the usual drift score in
  credit and churn models (< 0.1 stable, 0.1-0.25 moderate, > 0.25 major shift).
- Kolmogorov-Smirnov statistic and its asymptotic p-value for numeric columns.
- Jensen-Shannon distance (base 2, in [0, 1]) between category frequencies.
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
    """Two-sample KS statistic and asymptotic p-value (Smirnov's series)."""
    ref, cur = np.sort(_clean(reference)), np.sort(_clean(current))
    n, m = ref.size, cur.size
    if n == 0 or m == 0:
        return math.nan, math.nan
    grid = np.concatenate([ref, cur])
    cdf_ref = np.searchsorted(ref, grid, side="right") / n
    cdf_cur = np.searchsorted(cur, grid, side="right") / m
    stat = float(np.max(np.abs(cdf_ref - cdf_cur)))
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * stat
    if lam < 1e-3:
        return stat, 1.0
    terms = [2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101)]
    return stat, float(min(max(sum(terms), 0.0), 1.0))


def jensen_shannon(reference: dict[str, int], current: dict[str, int]) -> float:
    keys = sorted(set(reference) | set(current))
    if not keys:
        return math.nan
    p = np.array([reference.get(k, 0) for k in keys], dtype="float64")
    q = np.array([current.get(k, 0) for k in keys], dtype="float64")
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    mid = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return math.sqrt(max(0.5 * kl(p, mid) + 0.5 * kl(q, mid), 0.0))
