"""A/B comparison of a deployment's variants on logged predictions joined with feedback.

For each variant: requests, errors, p99 latency, how many requests have feedback, and the outcome
metric on those. Each variant is then compared with the *control* (the variant with the largest
traffic share that is not a shadow, or the one named) with a significance test from
``scipy.stats``:

* ``accuracy`` (class labels: feedback values are strings or booleans, or outputs and feedback
  are both integers): the share of correct answers, compared with a two-proportion z-test
  (pooled standard error; ``scipy.stats.norm`` for the two-sided p-value);
* ``abs_error`` / ``squared_error`` (continuous targets): the per-answer error, compared with
  Welch's t-test (``ttest_ind(equal_var=False)``) and, since errors are rarely normal, the
  Mann-Whitney U test; the reported p-value is Welch's, both are kept.

A difference is called significant when ``p < alpha`` (0.05 by default) and both sides have at
least ``min_samples`` labelled answers; otherwise the summary says there is not enough data. A
request whose output and feedback are lists of the same length counts one answer per row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ABResult", "Comparison", "VariantOutcome", "compare_variants"]

Metric = Literal["auto", "accuracy", "abs_error", "squared_error"]


@dataclass(frozen=True)
class VariantOutcome:
    variant: str
    shadow: bool
    requests: int
    errors: int
    p99_ms: float | None
    labelled: int  # answers with feedback (rows of multi-row requests count one each)
    value: float | None  # accuracy, or mean error, over the labelled answers


@dataclass(frozen=True)
class Comparison:
    variant: str
    control: str
    difference: float  # variant's value minus the control's
    p_value: float
    test: str
    significant: bool
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ABResult:
    metric: str
    alpha: float
    control: str | None
    variants: list[VariantOutcome]
    comparisons: list[Comparison]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if not self.comparisons:
            return "nothing to compare: fewer than two variants have labelled answers"
        lines = []
        better = "higher" if self.metric == "accuracy" else "lower"
        for c in self.comparisons:
            verdict = "significant" if c.significant else "not significant"
            lines.append(
                f"{c.variant} vs {c.control}: {self.metric} difference {c.difference:+.4g} ({better} is better), "
                f"p = {c.p_value:.3g} ({c.test}), {verdict} at alpha {self.alpha}"
            )
        return "\n".join(lines)


def _pairs(output: Any, truth: Any) -> list[tuple[Any, Any]]:
    if isinstance(output, list) and isinstance(truth, list):
        return list(zip(output, truth, strict=False)) if len(output) == len(truth) else []
    if isinstance(output, list) and len(output) == 1:
        output = output[0]
    if isinstance(truth, list) and len(truth) == 1:
        truth = truth[0]
    if isinstance(output, list):  # one value per row, a single label: not comparable
        return []
    return [(output, truth)]


def _scalar(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _choose_metric(pairs: Iterable[tuple[Any, Any]]) -> str:
    seen = list(pairs)
    if not seen:
        return "accuracy"
    if any(isinstance(t, str | bool) for _, t in seen):
        return "accuracy"
    if all(isinstance(o, int) and isinstance(t, int) for o, t in seen):
        return "accuracy"
    return "abs_error"


def _outcomes(pairs: list[tuple[Any, Any]], metric: str) -> list[float]:
    out = []
    for o, t in pairs:
        o, t = _scalar(o), _scalar(t)
        if metric == "accuracy":
            out.append(1.0 if o == t else 0.0)
        elif _is_number(o) and _is_number(t):
            err = float(o) - float(t)
            out.append(abs(err) if metric == "abs_error" else err * err)
    return out


def compare_variants(
    frame: pd.DataFrame,
    *,
    metric: Metric = "auto",
    control: str | None = None,
    alpha: float = 0.05,
    min_samples: int = 30,
) -> ABResult:
    """Compare the variants of ``frame`` (what ``serving.predictions.predictions`` returns)."""
    import numpy as np
    from scipy import stats

    if metric not in ("auto", "accuracy", "abs_error", "squared_error"):
        raise InvalidArgument(f"unknown metric {metric!r}: auto, accuracy, abs_error or squared_error")
    if not 0 < alpha < 1:
        raise InvalidArgument("alpha must be between 0 and 1")
    pairs_by_variant: dict[str, list[tuple[Any, Any]]] = {}
    outcomes: list[VariantOutcome] = []
    rows = frame.to_dict("records") if len(frame) else []
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["variant"]), []).append(row)
    for name, group in groups.items():
        pairs: list[tuple[Any, Any]] = []
        for row in group:
            if row.get("status") == "ok" and row.get("feedback") is not None:
                pairs.extend(_pairs(row["outputs"], row["feedback"]))
        pairs_by_variant[name] = pairs
    chosen = metric if metric != "auto" else _choose_metric(p for ps in pairs_by_variant.values() for p in ps)
    values: dict[str, list[float]] = {n: _outcomes(p, chosen) for n, p in pairs_by_variant.items()}
    for name, group in groups.items():
        latencies = [float(r["latency_ms"]) for r in group]
        vals = values[name]
        outcomes.append(
            VariantOutcome(
                variant=name,
                shadow=bool(group[0].get("shadow", False)),
                requests=len({r["request_id"] for r in group}),
                errors=sum(1 for r in group if r.get("status") != "ok"),
                p99_ms=float(np.percentile(latencies, 99)) if latencies else None,
                labelled=len(vals),
                value=float(np.mean(vals)) if vals else None,
            )
        )
    outcomes.sort(key=lambda o: (o.shadow, -o.requests, o.variant))
    if control is None:
        control = outcomes[0].variant if outcomes else None
    elif control not in groups:
        raise InvalidArgument(f"no variant {control!r} in the logged predictions")
    comparisons: list[Comparison] = []
    base = values.get(control or "", [])
    for outcome in outcomes:
        if outcome.variant == control or not base or not values[outcome.variant]:
            continue
        other = values[outcome.variant]
        enough = len(base) >= min_samples and len(other) >= min_samples
        difference = float(np.mean(other) - np.mean(base))
        if chosen == "accuracy":
            n1, n2 = len(other), len(base)
            pooled = (sum(other) + sum(base)) / (n1 + n2)
            se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
            z = difference / se if se > 0 else 0.0
            p_value = float(2 * stats.norm.sf(abs(z))) if se > 0 else 1.0
            comparisons.append(
                Comparison(outcome.variant, str(control), difference, p_value, "two-proportion z-test",
                           enough and p_value < alpha, {"z": z})
            )  # fmt: skip
        else:
            welch = stats.ttest_ind(other, base, equal_var=False)
            mann = stats.mannwhitneyu(other, base, alternative="two-sided")
            p_value = float(welch.pvalue) if math.isfinite(float(welch.pvalue)) else 1.0
            comparisons.append(
                Comparison(outcome.variant, str(control), difference, p_value, "Welch t-test",
                           enough and p_value < alpha,
                           {"t": float(welch.statistic), "mann_whitney_u": float(mann.statistic),
                            "mann_whitney_p": float(mann.pvalue)})
            )  # fmt: skip
    return ABResult(chosen, alpha, control, outcomes, comparisons)
