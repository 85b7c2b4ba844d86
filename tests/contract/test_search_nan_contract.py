"""NaN, ±inf and missing metrics in search filters and ordering: MLflow's semantics on every backend.

Filters compare metrics as IEEE 754 floats, the way Python compares them: NaN is unequal to
everything (``!=`` and ``NOT IN`` match it, nothing else does), ±inf are ordinary extremes, and a
run without the metric matches no comparison. The expected runs are computed with Python's own
operators over the logged values, so the oracle is the float semantics, not a copied answer.
Ordering puts numbers first (by value, ascending or descending), then NaN, then missing values.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import pytest

from modelyard.core.tracking import Metric, Project, RunQuery
from modelyard.store import TrackingStore

VALUES: dict[str, float | None] = {
    "neg_inf": -math.inf,
    "minus_one": -1.0,
    "zero": 0.0,
    "one": 1.0,
    "pos_inf": math.inf,
    "nan": math.nan,
    "missing": None,  # has another metric, not x
}
OPS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# Literals as a filter spells them: 1e999 parses as +inf.
LITERALS = {"0": 0.0, "1": 1.0, "-1": -1.0, "1e999": math.inf, "-1e999": -math.inf}


@pytest.fixture
def project(store: TrackingStore) -> Project:
    project = store.create_project("nan-search")
    for i, (name, value) in enumerate(VALUES.items()):
        run = store.create_run(project.id, name=name, start_time=1000 + i)
        metrics = [Metric("other", 1.0, 0, 1)]
        if value is not None:
            # An earlier, ordinary point: only the latest value counts.
            metrics += [Metric("x", 42.0, 0, 1), Metric("x", value, 1, 2)]
        store.log_metrics(run.id, metrics)
    return project


def _names(store: TrackingStore, project: Project, flt: str | None = None, order_by: list[str] | None = None) -> list:
    query = RunQuery(project_ids=[project.id], filter=flt, order_by=order_by or ["name"])
    return [r.name for r in store.search_runs(query).runs]


def _expected(op: str, literal: float, negate: bool = False) -> list[str]:
    matching = {n for n, v in VALUES.items() if v is not None and OPS[op](v, literal)}
    if negate:
        matching = set(VALUES) - matching
    return sorted(matching)


@pytest.mark.parametrize("literal", list(LITERALS))
@pytest.mark.parametrize("op", list(OPS))
def test_metric_comparisons_follow_float_semantics(
    store: TrackingStore, project: Project, op: str, literal: str
) -> None:
    assert _names(store, project, f"metrics.x {op} {literal}") == _expected(op, LITERALS[literal])
    # NOT negates the whole condition: the runs the comparison did not match, missing ones included.
    assert _names(store, project, f"NOT metrics.x {op} {literal}") == _expected(op, LITERALS[literal], negate=True)


def test_the_reported_cases(store: TrackingStore, project: Project) -> None:
    assert "nan" in _names(store, project, "metrics.x != 0")  # NaN != 0 is true
    assert "nan" not in _names(store, project, "metrics.x = 0")  # stored as 0.0, but it is not 0
    assert "missing" not in _names(store, project, "metrics.x != 0")
    assert _names(store, project, "metrics.x > 1") == ["pos_inf"]
    assert _names(store, project, "metrics.x < -1") == ["neg_inf"]


def test_in_and_not_in(store: TrackingStore, project: Project) -> None:
    assert _names(store, project, "metrics.x IN (0, 1e999)") == ["pos_inf", "zero"]
    assert _names(store, project, "metrics.x NOT IN (0, 1e999)") == ["minus_one", "nan", "neg_inf", "one"]


def test_is_null_and_is_not_null(store: TrackingStore, project: Project) -> None:
    assert _names(store, project, "metrics.x IS NULL") == ["missing"]
    assert _names(store, project, "metrics.x IS NOT NULL") == sorted(n for n in VALUES if n != "missing")


def test_order_by_numbers_then_nan_then_missing(store: TrackingStore, project: Project) -> None:
    numbers = [n for n, v in VALUES.items() if v is not None and not math.isnan(v)]
    by_value = sorted(numbers, key=lambda n: VALUES[n])  # type: ignore[arg-type,return-value]
    assert _names(store, project, order_by=["metrics.x ASC"]) == [*by_value, "nan", "missing"]
    assert _names(store, project, order_by=["metrics.x DESC"]) == [*reversed(by_value), "nan", "missing"]
    assert by_value[0] == "neg_inf" and by_value[-1] == "pos_inf"


def test_order_by_is_stable_under_paging(store: TrackingStore, project: Project) -> None:
    full = _names(store, project, order_by=["metrics.x DESC"])
    seen: list[str] = []
    token = None
    while True:
        page = store.search_runs(
            RunQuery(project_ids=[project.id], order_by=["metrics.x DESC"], max_results=2, page_token=token)
        )
        seen += [str(r.name) for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert seen == full
