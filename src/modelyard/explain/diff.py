"""Importance drift between two model versions (or any two importance records): do the models
still rely on the same features?

- the Spearman rank correlation of the two importance vectors over the union of their features
  (``scipy.stats.spearmanr``; a feature one side lacks counts as 0 there): 1 means the same order;
- each feature's share of the total importance on both sides, the features whose share changed
  most first;
- the top features of each side that fell out of the other's top ``top``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.explain.importance import Importance


@dataclass
class FeatureShift:
    feature: str
    share_a: float
    share_b: float
    rank_a: int | None  # 1 = most important; None: the feature is not in that record
    rank_b: int | None

    @property
    def change(self) -> float:
        return self.share_b - self.share_a


@dataclass
class ImportanceDiff:
    a: str
    b: str
    method: str
    rank_correlation: float | None  # Spearman; None when undefined (fewer than 2 features, constant)
    shifts: list[FeatureShift]  # by |change of share|, largest first
    left_top: list[str] = field(default_factory=list)  # in a's top but not in b's
    entered_top: list[str] = field(default_factory=list)  # in b's top but not in a's

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "method": self.method,
            "rank_correlation": self.rank_correlation,
            "shifts": [
                {
                    "feature": s.feature, "share_a": s.share_a, "share_b": s.share_b, "change": s.change,
                    "rank_a": s.rank_a, "rank_b": s.rank_b,
                }
                for s in self.shifts
            ],
            "left_top": self.left_top,
            "entered_top": self.entered_top,
        }  # fmt: skip


def importance_diff(
    a: Importance, b: Importance, *, a_label: str = "a", b_label: str = "b", top: int = 5
) -> ImportanceDiff:
    """Compare two importance records of the same method (see the module docstring)."""
    from scipy.stats import spearmanr

    if a.method != b.method:
        raise InvalidArgument(f"cannot compare {a.method} importance with {b.method} importance")
    if top < 1:
        raise InvalidArgument(f"top must be at least 1, got {top}")
    values_a, values_b = a.values(), b.values()
    names = sorted(set(values_a) | set(values_b))
    if not names:
        raise InvalidArgument("both importance records are empty")
    va = np.array([_finite(values_a.get(n, 0.0)) for n in names])
    vb = np.array([_finite(values_b.get(n, 0.0)) for n in names])
    correlation: float | None = None
    if len(names) >= 2 and np.ptp(va) > 0 and np.ptp(vb) > 0:
        rho = float(spearmanr(va, vb).statistic)
        correlation = rho if math.isfinite(rho) else None
    shares_a, shares_b = a.shares(), b.shares()
    rank_a = {f: i + 1 for i, f in enumerate(a.ranked())}
    rank_b = {f: i + 1 for i, f in enumerate(b.ranked())}
    shifts = [FeatureShift(n, shares_a.get(n, 0.0), shares_b.get(n, 0.0), rank_a.get(n), rank_b.get(n)) for n in names]
    shifts.sort(key=lambda s: (-abs(s.change), s.feature))
    top_a, top_b = a.ranked()[:top], b.ranked()[:top]
    return ImportanceDiff(
        a=a_label,
        b=b_label,
        method=a.method,
        rank_correlation=correlation,
        shifts=shifts,
        left_top=[f for f in top_a if f not in top_b],
        entered_top=[f for f in top_b if f not in top_a],
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
