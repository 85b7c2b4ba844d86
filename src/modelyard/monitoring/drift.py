"""Drift between a reference and a current dataset, column by column, from mergeable profiles.

``compute_drift(reference, current)`` takes DataFrames or ``DatasetProfile``s (a DataFrame is
profiled first, so drift against a stored reference profile never rescans the reference data) and
tests every common column with a method chosen the way Evidently chooses by default:

==================  ========================================  =====================================
reference rows      numeric column                            categorical / boolean column
==================  ========================================  =====================================
<= 1000             KS (p < 0.05); <= 5 distinct values:      chi-squared (p < 0.05);
                    chi-squared, 2 or fewer: Z-test            2 or fewer categories: Z-test
> 1000              normed Wasserstein (>= 0.1);              Jensen-Shannon (>= 0.1)
                    <= 5 distinct values: Jensen-Shannon
==================  ========================================  =====================================

PSI is computed beside the chosen test for every column (reported, and a drift method of its own
when asked for). Every column's method and threshold can be set (``DriftOptions``); text columns
are profiled but not tested unless a method is set for them. The dataset drifts when the share of
drifted feature columns reaches ``drift_share`` (0.5). A prediction column (named by the caller)
is tested like any other and reported apart. With both sides as DataFrames, a domain classifier
adds a multivariate verdict (``modelyard.monitoring.domain``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument
from modelyard.stats import drift as tests
from modelyard.stats.profile import CategoricalProfile, ColumnProfile, DatasetProfile, NumericProfile

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.domain import DomainDrift

__all__ = [
    "METHODS",
    "ColumnDrift",
    "ColumnOptions",
    "DriftOptions",
    "DriftResult",
    "choose_method",
    "compute_drift",
]

METHODS = tuple(tests.METHODS)
#: Evidently's boundary between a small and a large reference.
SMALL_REFERENCE = 1000
#: A numeric column with at most this many distinct values is tested as discrete.
FEW_VALUES = 5


@dataclass(frozen=True)
class ColumnOptions:
    """One column's method and/or threshold (None: the default)."""

    method: str | None = None
    threshold: float | None = None


@dataclass
class DriftOptions:
    """How drift is tested.

    ``method``/``threshold``: one method and/or threshold for every column (default: chosen by
    type and size, each method's own threshold); ``columns``: per column, a ``ColumnOptions``, a
    dict ``{"method": ..., "threshold": ...}`` or just a method name; ``drift_share``: the share
    of drifted feature columns at which the dataset drifts; ``prediction``: the prediction
    column; ``domain_classifier``: also fit a classifier telling the two sides apart (needs both
    sides as DataFrames), drifted when its ROC AUC reaches ``domain_threshold``.
    """

    method: str | None = None
    threshold: float | None = None
    columns: Mapping[str, ColumnOptions | Mapping[str, Any] | str] = field(default_factory=dict)
    drift_share: float = 0.5
    prediction: str | None = None
    small_reference: int = SMALL_REFERENCE
    domain_classifier: bool = False
    domain_threshold: float = 0.55
    domain_sample: int = 50_000

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in METHODS:
            raise InvalidArgument(f"unknown drift method {self.method!r}; use one of {', '.join(METHODS)}")
        if not 0.0 < self.drift_share <= 1.0:
            raise InvalidArgument(f"drift_share must be in (0, 1], got {self.drift_share}")
        if not 0.5 <= self.domain_threshold <= 1.0:
            raise InvalidArgument(f"domain_threshold must be a ROC AUC in [0.5, 1], got {self.domain_threshold}")
        parsed: dict[str, ColumnOptions] = {}
        for name, opt in dict(self.columns).items():
            if isinstance(opt, str):
                opt = ColumnOptions(method=opt)
            elif isinstance(opt, Mapping):
                unknown = set(opt) - {"method", "threshold"}
                if unknown:
                    raise InvalidArgument(f"column {name!r}: unknown option {', '.join(sorted(unknown))}")
                threshold = opt.get("threshold")
                opt = ColumnOptions(method=opt.get("method"), threshold=None if threshold is None else float(threshold))
            if opt.method is not None and opt.method not in METHODS:
                raise InvalidArgument(
                    f"column {name!r}: unknown drift method {opt.method!r}; use one of {', '.join(METHODS)}"
                )
            parsed[str(name)] = opt
        self.columns = parsed

    def for_column(self, name: str) -> ColumnOptions:
        opt = self.columns.get(name)
        assert opt is None or isinstance(opt, ColumnOptions)
        method = opt.method if opt is not None and opt.method else self.method
        threshold = opt.threshold if opt is not None and opt.threshold is not None else self.threshold
        return ColumnOptions(method=method, threshold=threshold)


@dataclass
class ColumnDrift:
    """One column's verdict: the test's ``statistic`` (KS D, chi-squared, z, or the distance),
    its ``p_value`` for p-value tests (else None), and ``score``, what ``threshold`` applies to:
    the p-value (drift when below) or the distance (drift when at or above)."""

    column: str
    kind: str
    method: str
    statistic: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    psi: float | None = None
    role: str = "feature"  # feature | prediction
    reference_missing: float = 0.0  # share of the reference's rows
    current_missing: float = 0.0
    note: str | None = None

    @property
    def score(self) -> float:
        return self.p_value if self.p_value is not None else self.statistic

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_float(v) for k, v in {**asdict(self), "score": self.score}.items()}


@dataclass
class DriftResult:
    columns: list[ColumnDrift]
    share_drifted: float
    dataset_drift: bool
    drift_share: float
    reference_rows: int
    current_rows: int
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it was not tested
    domain: DomainDrift | None = None
    #: the two profiles compared (what reports plot; not part of ``to_dict``)
    reference_profile: DatasetProfile | None = field(default=None, repr=False, compare=False)
    current_profile: DatasetProfile | None = field(default=None, repr=False, compare=False)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted and c.role == "feature"]

    @property
    def prediction(self) -> ColumnDrift | None:
        return next((c for c in self.columns if c.role == "prediction"), None)

    def column(self, name: str) -> ColumnDrift:
        for col in self.columns:
            if col.column == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [c.to_dict() for c in self.columns],
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            "skipped": dict(self.skipped),
            "domain": self.domain.to_dict() if self.domain is not None else None,
        }


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def choose_method(ref: ColumnProfile, cur: ColumnProfile, *, small_reference: int = SMALL_REFERENCE) -> str | None:
    """Evidently's default test for a column (None for text: not tested by default)."""
    if ref.kind == "text":
        return None
    n_ref = ref.n
    distinct = tests.distinct_values(ref, cur)
    if isinstance(ref, NumericProfile):
        few = distinct is not None and distinct <= FEW_VALUES
        if n_ref <= small_reference:
            if few:
                assert distinct is not None
                return "chisquare" if distinct > 2 else "z"
            return "ks"
        return "jensenshannon" if few else "wasserstein"
    if n_ref <= small_reference:
        return "chisquare" if distinct is None or distinct > 2 else "z"
    return "jensenshannon"


def _compatible(ref: ColumnProfile, cur: ColumnProfile) -> bool:
    return isinstance(ref, NumericProfile) == isinstance(cur, NumericProfile)


def _as_profile(data: pd.DataFrame | DatasetProfile, columns: Sequence[str] | None) -> DatasetProfile:
    if isinstance(data, DatasetProfile):
        return data
    from modelyard.monitoring.profiles import profile_frame

    if columns is not None:
        present = [c for c in columns if c in data.columns]
        return profile_frame(data, present)
    return profile_frame(data)


def compute_drift(
    reference: pd.DataFrame | DatasetProfile,
    current: pd.DataFrame | DatasetProfile,
    *,
    columns: Sequence[str] | None = None,
    options: DriftOptions | None = None,
) -> DriftResult:
    """Drift of ``current`` against ``reference`` over their common columns (or ``columns``)."""
    opts = options or DriftOptions()
    ref = _as_profile(reference, columns)
    cur = _as_profile(current, columns)
    if ref.rows == 0:
        raise InvalidArgument("the reference has no rows")
    if cur.rows == 0:
        raise InvalidArgument("the current data has no rows")
    if columns is not None:
        absent = [c for c in columns if c not in ref.columns or c not in cur.columns]
        if absent:
            raise InvalidArgument(f"column {', '.join(map(repr, absent))} is not on both sides")
        names = list(columns)
    else:
        names = [c for c in ref.columns if c in cur.columns]
    if not names:
        raise InvalidArgument("no columns in common between the reference and the current data")
    if opts.prediction is not None and opts.prediction not in names:
        raise InvalidArgument(f"prediction column {opts.prediction!r} is not on both sides")
    unknown = [c for c in opts.columns if c not in names]
    if unknown:
        raise InvalidArgument(f"options for column {', '.join(map(repr, unknown))} which is not compared")

    results: list[ColumnDrift] = []
    skipped: dict[str, str] = {}
    for name in names:
        outcome = _column_drift(name, ref.columns[name], cur.columns[name], ref.rows, cur.rows, opts)
        if isinstance(outcome, str):
            skipped[name] = outcome
        else:
            outcome.role = "prediction" if name == opts.prediction else "feature"
            results.append(outcome)
    features = [c for c in results if c.role == "feature"]
    share = sum(c.drifted for c in features) / len(features) if features else 0.0
    domain = None
    if opts.domain_classifier:
        import pandas as pd

        if not (isinstance(reference, pd.DataFrame) and isinstance(current, pd.DataFrame)):
            raise InvalidArgument("the domain classifier needs both sides as data (not profiles)")
        from modelyard.monitoring.domain import domain_classifier_drift

        feature_names = [c.column for c in features]
        domain = domain_classifier_drift(
            reference[feature_names],
            current[feature_names],
            threshold=opts.domain_threshold,
            sample=opts.domain_sample,
        )
    return DriftResult(
        columns=results,
        share_drifted=share,
        dataset_drift=bool(features) and share >= opts.drift_share,
        drift_share=opts.drift_share,
        reference_rows=ref.rows,
        current_rows=cur.rows,
        skipped=skipped,
        domain=domain,
        reference_profile=ref,
        current_profile=cur,
    )


def _column_drift(
    name: str, ref: ColumnProfile, cur: ColumnProfile, ref_rows: int, cur_rows: int, opts: DriftOptions
) -> ColumnDrift | str:
    if not _compatible(ref, cur):
        return f"kinds differ: {ref.kind} in the reference, {cur.kind} in the current data"
    chosen = opts.for_column(name)
    method = chosen.method or choose_method(ref, cur, small_reference=opts.small_reference)
    if method is None:
        return f"{ref.kind} column (set a method to test it)"
    if ref.n == 0 or cur.n == 0:
        side = "reference" if ref.n == 0 else "current data"
        return f"no values in the {side}"
    if method in tests.NUMERIC_ONLY and not isinstance(ref, NumericProfile):
        raise InvalidArgument(f"column {name!r}: {method} needs a numeric column, this one is {ref.kind}")
    default_threshold, is_p = tests.METHODS[method]
    threshold = chosen.threshold if chosen.threshold is not None else default_threshold
    statistic, p_value = tests.profile_test(method, ref, cur)
    psi = statistic if method == "psi" else tests.profile_test("psi", ref, cur)[0]
    note = None
    if isinstance(ref, CategoricalProfile) and ref.other:
        note = f"{ref.other_categories} rare categories counted together beyond the {ref.cap} most frequent"
    return ColumnDrift(
        column=name,
        kind=ref.kind,
        method=method,
        statistic=statistic,
        threshold=threshold,
        drifted=tests.is_drift(method, p_value if is_p and p_value is not None else statistic, threshold),
        p_value=p_value if is_p else None,
        psi=psi,
        reference_missing=ref.missing / ref_rows if ref_rows else 0.0,
        current_missing=cur.missing / cur_rows if cur_rows else 0.0,
        note=note,
    )
