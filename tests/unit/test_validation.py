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


# --- issue 16: one name rule, bounded integers ----------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../x", "..", ".", "a\x00b", "a\nb", "-rf", "", "a//b", "a/./b", "a/", "/a", " x", "x ", "a\\b"]
)
def test_entity_names_that_are_refused(name: str) -> None:
    from modelyard.core.validation import validate_entity_name

    with pytest.raises(InvalidArgument):
        validate_entity_name(name, "model name")


@pytest.mark.parametrize("name", ["churn", "team/churn", "My Project", "a-b.c_d", "café", "x" * 256])
def test_entity_names_that_are_accepted(name: str) -> None:
    from modelyard.core.validation import validate_entity_name

    assert validate_entity_name(name) == name


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("5", True),
        ("-5", True),
        ("2147483647", True),
        ("2147483648", False),
        ("99999999999999999999999", False),
        ("9" * 5000, False),
        ("1.5", False),
        ("", False),
        ("²", False),
        ("0x10", False),
    ],
)
def test_bounded_int(text: str, ok: bool) -> None:
    from modelyard.core.validation import MAX_VERSION, bounded_int

    if ok:
        assert bounded_int(text, "n", low=-10, high=MAX_VERSION) == int(text)
    else:
        with pytest.raises(InvalidArgument):
            bounded_int(text, "n", low=-10, high=MAX_VERSION)


def test_durations_and_times_are_bounded() -> None:
    from modelyard.auth.timeparse import parse_duration_ms, parse_time_ms

    assert parse_duration_ms("30d") == 30 * 86_400_000
    for text in ("99999999999d", "9" * 400 + "s"):
        with pytest.raises(InvalidArgument, match="100 years"):
            parse_duration_ms(text)
    with pytest.raises(InvalidArgument):
        parse_time_ms("99999999999999999999", "since")
    assert parse_time_ms("1000", "since") == 1000
