"""Data validation: expectations, suites in YAML, quarantine split, profiles, drift statistics, reports."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard import stats
from modelyard.core.errors import InvalidArgument
from modelyard.data.validation import (
    FAILED_COLUMN,
    Between,
    Distribution,
    Fresh,
    InSet,
    NotNull,
    Regex,
    RowCount,
    Suite,
    Unique,
    profile,
    split_failing_rows,
    validate,
)
from modelyard.data.validation.expectations import parse_age


@pytest.fixture
def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 4],
            "age": [25, 130, None, 40, -1],
            "country": ["FR", "DE", "XX", "FR", None],
            "email": ["a@x.io", "b@x.io", "nope", "d@x.io", "e@x.io"],
            "updated_at": pd.to_datetime(["2026-11-20", "2026-11-21", "2026-11-21", "2026-11-22", "2026-11-22"]),
        }
    )


def test_row_level_expectations_find_the_exact_failing_rows(customers: pd.DataFrame) -> None:
    assert NotNull(column="age").failing_mask(customers).tolist() == [False, False, True, False, False]
    assert Between(column="age", min=0, max=120).failing_mask(customers).tolist() == [False, True, False, False, True]
    assert InSet(column="country", values=["FR", "DE"]).failing_mask(customers).tolist() == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert Unique(column="id").failing_mask(customers).tolist() == [False, False, False, True, True]
    assert Regex(column="email", pattern=r"[^@]+@[^@]+").failing_mask(customers).tolist() == [
        False,
        False,
        True,
        False,
        False,
    ]


def test_results_report_counts_and_examples(customers: pd.DataFrame) -> None:
    result = Between(column="age", min=0, max=120).evaluate(customers)
    assert not result.success and result.failing_count == 2
    assert sorted(result.failing_examples) == [-1.0, 130.0]
    assert RowCount(min=5, max=5).evaluate(customers).success
    assert not RowCount(min=6).evaluate(customers).success


def test_freshness(customers: pd.DataFrame) -> None:
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    assert Fresh(column="updated_at", max_age="1d", now=now).evaluate(customers).success
    assert not Fresh(column="updated_at", max_age="6h", now=now).evaluate(customers).success
    assert parse_age("90s") == 90 and parse_age("2w") == 14 * 86400
    with pytest.raises(InvalidArgument):
        parse_age("soon")


def test_distribution_against_a_reference() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"amount": rng.normal(100, 10, 5000), "plan": rng.choice(["a", "b"], 5000)})
    same = pd.DataFrame({"amount": rng.normal(100, 10, 5000), "plan": rng.choice(["a", "b"], 5000)})
    shifted = pd.DataFrame({"amount": rng.normal(130, 10, 5000), "plan": rng.choice(["a", "b"], 5000, p=[0.95, 0.05])})
    assert Distribution(column="amount", max_psi=0.1).evaluate(same, reference).success
    result = Distribution(column="amount", max_psi=0.1).evaluate(shifted, reference)
    assert not result.success and result.observed["psi"] > 1.0 and result.observed["ks_pvalue"] < 1e-6
    assert Distribution(column="plan", max_js=0.1).evaluate(same, reference).success
    assert not Distribution(column="plan", max_js=0.1).evaluate(shifted, reference).success
    with pytest.raises(InvalidArgument, match="reference"):
        Distribution(column="amount").evaluate(same)


def test_stats_match_known_values() -> None:
    a = np.arange(1000, dtype=float)
    assert stats.psi(a, a) == pytest.approx(0.0, abs=1e-9)
    stat, p = stats.ks(a, a)
    assert stat == 0.0 and p == 1.0
    stat, p = stats.ks(np.zeros(100), np.ones(100))
    assert stat == 1.0 and p < 1e-10
    assert stats.jensen_shannon({"a": 10}, {"b": 10}) == pytest.approx(1.0)
    assert stats.jensen_shannon({"a": 5, "b": 5}, {"a": 5, "b": 5}) == pytest.approx(0.0)
    assert math.isnan(stats.psi(np.array([]), a))


YAML = """
name: customers
expectations:
  - {expect: not_null, column: id}
  - {expect: between, column: age, min: 0, max: 120}
  - {expect: in_set, column: country, values: [FR, DE]}
  - {expect: unique, column: id}
  - {expect: regex, column: email, pattern: '[^@]+@[^@]+'}
  - {expect: row_count, min: 1}
"""


def test_yaml_suite_validates_and_splits_quarantine(customers: pd.DataFrame) -> None:
    suite = Suite.from_yaml(YAML)
    assert [e.kind for e in suite.expectations] == ["not_null", "between", "in_set", "unique", "regex", "row_count"]
    report = validate(customers, suite)
    assert not report.success
    assert {r.kind for r in report.failed} == {"between", "in_set", "unique", "regex"}
    good, bad = split_failing_rows(customers, suite)
    assert len(good) + len(bad) == len(customers)  # nothing dropped
    assert good["id"].tolist() == [1]
    reasons = dict(zip(bad["id"], bad[FAILED_COLUMN], strict=True))
    assert "0 <= age <= 120" in reasons[2]
    assert Suite.from_yaml(suite.to_yaml()).to_dict() == suite.to_dict()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("expectations: [{expect: nonsense, column: a}]", "unknown expectation"),
        ("expectations: [{expect: between, min: 0}]", "needs a 'column'"),
        ("expectations: [{expect: regex, column: a, pattern: '('}]", "invalid regex"),
        ("expectations: [{expect: between, column: a, lo: 1}]", "unexpected keyword"),
        ("expectations: {not: a list}", "a list under 'expectations'"),
        ("expectations: [", "not valid YAML"),
    ],
)
def test_bad_suites_get_clear_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Suite.from_yaml(text)


def test_unknown_column_is_a_clear_error(customers: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgument, match="column 'nope' is not in the data"):
        validate(customers, Suite("s", [NotNull(column="nope")]))


def test_profile_and_suggested_suite_pass_on_the_profiled_data() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=500),
            "k": rng.choice(["a", "b", "c"], 500),
            "uid": np.arange(500),
            "flag": rng.random(500) > 0.5,
        }
    )
    prof = profile(frame)
    assert prof.rows == 500
    assert prof.columns["x"].kind == "numeric" and prof.columns["k"].kind == "categorical"
    assert prof.columns["k"].top.keys() == {"a", "b", "c"}
    assert prof.columns["x"].quantiles["0.5"] == pytest.approx(float(np.median(frame["x"])))
    suite = Suite.suggest(prof)
    kinds = {(e.kind, e.column) for e in suite.expectations}
    assert ("unique", "uid") in kinds and ("in_set", "k") in kinds and ("between", "x") in kinds
    assert validate(frame, suite).success


def test_html_report_is_self_contained_with_plots(customers: pd.DataFrame, tmp_path: Path) -> None:
    report = validate(customers, Suite.from_yaml(YAML), reference=customers)
    html = report.to_html(tmp_path / "report.html")
    saved = (tmp_path / "report.html").read_text()
    assert saved == html
    assert "FAILED" in html and "0 &lt;= age &lt;= 120" in html
    assert html.count("Plotly.newPlot") >= 2  # one chart per plottable column
    assert "<script src=" not in html  # plotly.js is inlined from the installed package, no CDN


def test_html_reports_can_share_one_plotly_js(customers: pd.DataFrame, tmp_path: Path) -> None:
    from plotly.offline import get_plotlyjs

    report = validate(customers, Suite.from_yaml(YAML), reference=customers)
    first = tmp_path / "reports" / "a.html"
    report.to_html(first, self_contained=False)
    report.to_html(tmp_path / "reports" / "b.html", self_contained=False)
    shared = tmp_path / "reports" / "plotly.min.js"
    assert shared.read_text() == get_plotlyjs()
    assert sorted(p.name for p in shared.parent.iterdir()) == ["a.html", "b.html", "plotly.min.js"]
    html = first.read_text()
    assert '<script src="plotly.min.js"></script>' in html and html.count("Plotly.newPlot") >= 2
    assert len(html) < 500_000 < len(report.to_html())  # the inlined default carries the library
