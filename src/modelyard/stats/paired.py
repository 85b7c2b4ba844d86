"""Paired tests: does a candidate differ from a champion on the same rows?

- McNemar's test on paired correctness. Only the rows where exactly one model is right carry
  information (``b``: candidate right, champion wrong; ``c``: the reverse). With ``b + c < 25``
  the exact binomial test (two-sided, p = 1/2) is used, otherwise the chi-square statistic with
  continuity correction, ``(|b - c| - 1)^2 / (b + c)``, on one degree of freedom.
- A paired bootstrap of a metric difference (candidate - champion): rows are resampled with
  replacement, the same indices for both models (``scipy.stats.bootstrap`` with ``paired=True``),
  and the percentile interval of the differences is reported; an interval that excludes 0 is a
  significant difference.

Used by model evaluation (the champion comparison) and, later, by monitoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modelyard.core.errors import InvalidArgument

__all__ = ["EXACT_MCNEMAR_BELOW", "BootstrapResult", "McNemarResult", "mcnemar_test", "paired_bootstrap"]

EXACT_MCNEMAR_BELOW = 25


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired correctness: ``b`` rows only the candidate gets right, ``c`` rows
    only the champion gets right."""

    b: int
    c: int
    statistic: float
    p_value: float
    method: Literal["exact", "chi-square"]


def mcnemar_test(candidate_correct: Any, champion_correct: Any, *, exact: bool | None = None) -> McNemarResult:
    """McNemar's test; ``exact=None`` picks the exact binomial test when ``b + c < 25``."""
    from scipy import stats

    a = np.asarray(candidate_correct, dtype=bool)
    z = np.asarray(champion_correct, dtype=bool)
    if a.shape != z.shape:
        raise InvalidArgument(f"paired correctness arrays differ in shape: {a.shape} and {z.shape}")
    b = int(np.sum(a & ~z))
    c = int(np.sum(~a & z))
    n = b + c
    use_exact = n < EXACT_MCNEMAR_BELOW if exact is None else exact
    if n == 0:
        return McNemarResult(b, c, 0.0, 1.0, "exact" if use_exact else "chi-square")
    if use_exact:
        p = float(stats.binomtest(min(b, c), n, 0.5, alternative="two-sided").pvalue)
        return McNemarResult(b, c, float(min(b, c)), min(1.0, p), "exact")
    statistic = (abs(b - c) - 1.0) ** 2 / n
    return McNemarResult(b, c, float(statistic), float(stats.chi2.sf(statistic, 1)), "chi-square")


@dataclass(frozen=True)
class BootstrapResult:
    """The paired bootstrap of ``metric(candidate) - metric(champion)`` on resampled rows."""

    metric: str
    difference: float  # on the full data
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    p_value: float  # two-sided: twice the smaller share of resampled differences on one side of 0


def paired_bootstrap(
    y_true: Any,
    candidate_pred: Any,
    champion_pred: Any,
    metric: Callable[[np.ndarray, np.ndarray], float],
    *,
    name: str | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> BootstrapResult:
    """Percentile interval of ``metric(y, candidate) - metric(y, champion)`` over ``n_resamples``
    paired resamples of the rows."""
    from scipy import stats

    if not 0 < confidence < 1:
        raise InvalidArgument(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 10:
        raise InvalidArgument(f"n_resamples must be at least 10, got {n_resamples}")
    y = np.asarray(y_true, dtype=float)
    a = np.asarray(candidate_pred, dtype=float)
    z = np.asarray(champion_pred, dtype=float)
    if not (len(y) == len(a) == len(z)) or len(y) < 2:
        raise InvalidArgument("the paired bootstrap needs at least 2 rows and predictions of equal length")

    def difference(yy: np.ndarray, aa: np.ndarray, zz: np.ndarray) -> float:
        return float(metric(yy, aa) - metric(yy, zz))

    result = stats.bootstrap(
        (y, a, z),
        difference,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        paired=True,
        vectorized=False,
        rng=np.random.default_rng(seed),
    )
    diffs = np.asarray(result.bootstrap_distribution)
    share = min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0)))
    return BootstrapResult(
        metric=name or str(getattr(metric, "__name__", "metric")),
        difference=difference(y, a, z),
        ci_low=float(result.confidence_interval.low),
        ci_high=float(result.confidence_interval.high),
        confidence=confidence,
        n_resamples=n_resamples,
        p_value=min(1.0, 2 * share),
    )
