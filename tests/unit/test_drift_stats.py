"""Drift statistics (stats/drift.py) against scipy, and mergeable profiles (stats/profile.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sp
from scipy.spatial import distance

from modelyard.core.errors import InvalidArgument
from modelyard.stats import drift as d
from modelyard.stats.profile import (
    CATEGORY_CAP,
    EXACT_LIMIT,
    OTHER,
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
)

RNG = np.random.default_rng(7)
BIG = 200_000


@pytest.fixture(scope="module")
def normals() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = RNG.normal(size=BIG)
    b = RNG.normal(size=BIG)
    shifted = RNG.normal(0.2, 1.0, size=BIG)
    return a, b, shifted


def test_ks_from_sketches_is_close_to_exact(normals) -> None:
    a, _, shifted = normals
    exact = sp.ks_2samp(a, shifted)
    stat, p = d.ks_profiles(NumericProfile.from_array(a), NumericProfile.from_array(shifted))
    assert stat == pytest.approx(exact.statistic, abs=0.01)
    assert p < 1e-10 and exact.pvalue < 1e-10


def test_ks_from_sketches_does_not_read_sketch_noise_as_drift(normals) -> None:
    a, b, _ = normals
    stat, p = d.ks_profiles(NumericProfile.from_array(a), NumericProfile.from_array(b))
    assert stat < 0.02 and p > 0.05


def test_small_samples_are_exact() -> None:
    a, b = RNG.normal(size=300), RNG.normal(0.3, 1.0, size=400)
    pa, pb = NumericProfile.from_array(a), NumericProfile.from_array(b)
    assert pa.exact is not None and pa.exact.size == 300
    exact = sp.ks_2samp(a, b)
    assert d.ks_profiles(pa, pb) == pytest.approx((exact.statistic, exact.pvalue))
    assert d.wasserstein_profiles(pa, pb) == pytest.approx(sp.wasserstein_distance(a, b) / np.std(a))


def test_wasserstein_normed_raw_and_from_sketches(normals) -> None:
    a, _, shifted = normals
    raw = d.wasserstein_normed(a, shifted)
    assert raw == pytest.approx(sp.wasserstein_distance(a, shifted) / np.std(a))
    assert d.wasserstein_profiles(NumericProfile.from_array(a), NumericProfile.from_array(shifted)) == pytest.approx(
        raw, abs=0.02
    )


def test_chi_square_matches_scipy() -> None:
    ref = {"a": 50, "b": 30, "c": 20}
    cur = {"a": 30, "b": 30, "c": 40}
    expected = sp.chisquare([30, 30, 40], [50, 30, 20])
    assert d.chi_square(ref, cur) == pytest.approx((expected.statistic, expected.pvalue))
    assert d.chi_square(ref, {**cur, "new": 5})[1] == 0.0  # a category the reference never saw


def test_z_test_matches_two_proportion_formula() -> None:
    ref, cur = {"yes": 60, "no": 40}, {"yes": 45, "no": 55}
    p1, p2, pooled = 40 / 100, 55 / 100, 95 / 200  # first key in sorted order: "no"
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert d.z_test(ref, cur) == pytest.approx((z, 2 * sp.norm.sf(abs(z))))
    assert d.z_test({"x": 10}, {"x": 20}) == (0.0, 1.0)


def test_jensen_shannon_and_psi_match_definitions() -> None:
    p, q = np.array([10, 20, 70.0]), np.array([30, 30, 40.0])
    assert d.jensen_shannon_shares(p, q) == pytest.approx(distance.jensenshannon(p / 100, q / 100))
    ps, qs = p / 100, q / 100
    assert d.psi_shares(p, q) == pytest.approx(float(np.sum((ps - qs) * np.log(ps / qs))))
    assert d.psi_shares(p, p) == pytest.approx(0.0)


def test_profile_test_validates_method() -> None:
    prof = CategoricalProfile.from_counts({"a": 3})
    with pytest.raises(InvalidArgument, match="unknown drift method"):
        d.profile_test("nope", prof, prof)
    with pytest.raises(InvalidArgument, match="numeric"):
        d.profile_test("ks", prof, prof)


def test_is_drift_direction() -> None:
    assert d.is_drift("ks", 0.01, 0.05) and not d.is_drift("ks", 0.2, 0.05)
    assert d.is_drift("wasserstein", 0.1, 0.1) and not d.is_drift("psi", 0.05, 0.1)
    assert not d.is_drift("ks", math.nan, 0.05)


# ---- profiles --------------------------------------------------------------------------------


def test_numeric_profile_moments_and_missing() -> None:
    x = np.concatenate([RNG.gamma(2.0, size=5000), [np.nan, np.inf, -np.inf]])
    prof = NumericProfile.from_array(x)
    finite = x[np.isfinite(x)]
    assert prof.count == 5003 and prof.missing == 3 and prof.n == 5000
    assert prof.mean == pytest.approx(finite.mean())
    assert prof.std == pytest.approx(finite.std())
    assert prof.skewness == pytest.approx(sp.skew(finite))
    assert prof.kurtosis == pytest.approx(sp.kurtosis(finite))
    assert (prof.min, prof.max) == (finite.min(), finite.max())
    assert prof.exact is None and prof.values is None  # big and continuous


def test_merged_profile_equals_profile_of_concatenation() -> None:
    a, b = RNG.normal(size=60_000), RNG.exponential(size=40_000)
    merged = NumericProfile.from_array(a).merge(NumericProfile.from_array(b))
    whole = np.concatenate([a, b])
    assert merged.n == whole.size
    assert merged.mean == pytest.approx(whole.mean())
    assert merged.std == pytest.approx(whole.std())
    assert merged.skewness == pytest.approx(sp.skew(whole))
    assert merged.kurtosis == pytest.approx(sp.kurtosis(whole))
    ranks = np.linspace(0.01, 0.99, 50)
    # quantiles agree within the sketch's rank error: compare the ranks of the sketch's quantiles
    true_ranks = np.searchsorted(np.sort(whole), merged.quantiles(ranks)) / whole.size
    assert np.max(np.abs(true_ranks - ranks)) < 2 * merged.rank_error + 1e-3


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300),
)
def test_merge_of_small_profiles_is_exact(a: list[float], b: list[float]) -> None:
    merged = NumericProfile.from_array(a).merge(NumericProfile.from_array(b))
    whole = np.array(a + b)
    assert merged.exact is not None and np.array_equal(merged.exact, np.sort(whole))
    assert merged.mean == pytest.approx(whole.mean(), rel=1e-9, abs=1e-6)
    assert merged.m2 == pytest.approx(((whole - whole.mean()) ** 2).sum(), rel=1e-6, abs=1e-3)
    if merged.values is not None:
        assert sum(merged.values.values()) == whole.size


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(list("abcdefgh")), min_size=0, max_size=200),
    st.lists(st.sampled_from(list("abcxyz")), max_size=200),
)
def test_categorical_merge_counts(a: list[str], b: list[str]) -> None:
    pa = CategoricalProfile.from_array(np.array(a, dtype=object))
    pb = CategoricalProfile.from_array(np.array(b, dtype=object))
    merged = pa.merge(pb)
    for key in set(a) | set(b):
        assert merged.counts[key] == a.count(key) + b.count(key)
    assert merged.count == len(a) + len(b)


def test_category_cap_folds_rare_into_other() -> None:
    counts = {f"c{i}": 1000 - i for i in range(CATEGORY_CAP + 50)}
    prof = CategoricalProfile.from_counts(counts, missing=7)
    assert len(prof.counts) == CATEGORY_CAP and prof.other_categories == 50
    assert prof.other == sum(1000 - i for i in range(CATEGORY_CAP, CATEGORY_CAP + 50))
    assert prof.table()[OTHER] == prof.other and prof.count == sum(counts.values()) + 7


def test_dataset_profile_round_trips_through_bytes() -> None:
    x = RNG.normal(size=50_000)
    prof = DatasetProfile(
        rows=50_000,
        columns={
            "x": NumericProfile.from_array(x),
            "small": NumericProfile.from_array(x[:100]),
            "c": CategoricalProfile.from_counts({"a": 49_000, "b": 1000}),
        },
    )
    data = prof.to_bytes()
    back = DatasetProfile.from_bytes(data)
    assert back.rows == 50_000 and list(back.columns) == ["x", "small", "c"]
    assert back.columns["x"].quantiles([0.5]) == pytest.approx(prof.columns["x"].quantiles([0.5]))
    assert np.array_equal(back.columns["small"].exact, prof.columns["small"].exact)
    assert back.columns["c"].counts == {"a": 49_000, "b": 1000}
    assert len(data) < 30_000
    with pytest.raises(InvalidArgument):
        DatasetProfile.from_bytes(b"PAR1 not a profile")


def test_dataset_profile_merge_with_column_on_one_side() -> None:
    a = DatasetProfile(rows=10, columns={"x": NumericProfile.from_array(np.arange(10.0))})
    b = DatasetProfile(rows=5, columns={"y": CategoricalProfile.from_counts({"k": 5})})
    merged = a.merge(b)
    assert merged.rows == 15
    assert merged.columns["x"].missing == 5 and merged.columns["y"].missing == 10


def test_exact_values_dropped_past_the_limit() -> None:
    a = NumericProfile.from_array(RNG.normal(size=EXACT_LIMIT))
    b = NumericProfile.from_array(RNG.normal(size=10))
    assert a.exact is not None and a.merge(b).exact is None
