from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.core.errors import InvalidArgument
from modelyard.core.ids import is_valid_id, new_id
from modelyard.core.validation import metric_step, metric_value, validate_key


@pytest.mark.parametrize("key", ["loss", "val/loss", "a.b-c_d", "epoch 1", "ns:key"])
def test_good_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "../x", "/abs", "a/../b", "semi;colon", "x" * 251, "quote'", None, 3])
def test_bad_keys(key: object) -> None:
    with pytest.raises(InvalidArgument):
        validate_key(key)


def test_metric_values() -> None:
    assert math.isnan(metric_value(float("nan"), "k"))
    assert metric_value(True, "k") == 1.0
    assert metric_value("1.5", "k") == 1.5
    with pytest.raises(InvalidArgument):
        metric_value("abc", "k")
    with pytest.raises(InvalidArgument):
        metric_value(None, "k")


def test_metric_steps() -> None:
    assert metric_step(3, "k") == 3
    assert metric_step(3.0, "k") == 3
    with pytest.raises(InvalidArgument):
        metric_step(2**63, "k")
    with pytest.raises(InvalidArgument):
        metric_step(1.5, "k")


@given(st.text(max_size=40))
def test_validate_key_accepts_or_raises_invalid_argument(text: str) -> None:
    try:
        assert validate_key(text) == text
    except InvalidArgument:
        pass


def test_ids_sort_by_creation_and_are_unique() -> None:
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(is_valid_id(i) for i in ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
