"""Signatures (modelyard.registry.signature): inference from examples, enforcement with clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.core.errors import InvalidArgument, SignatureError
from modelyard.registry.signature import ColumnSpec, Signature, infer_signature


def frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [30, 41], "income": [1.5, 2.5], "city": ["a", "b"], "member": [True, False]})


def test_infer_columns_from_a_dataframe() -> None:
    sig = infer_signature(frame())
    assert sig.kind == "columns"
    assert [(c.name, c.dtype) for c in sig.inputs] == [
        ("age", "int64"), ("income", "float64"), ("city", "string"), ("member", "bool"),
    ]  # fmt: skip


def test_infer_columns_from_a_dict_and_records() -> None:
    assert infer_signature({"x": [1.0, 2.0], "y": [1, 2]}).inputs == (
        ColumnSpec("x", "float64"), ColumnSpec("y", "int64"),
    )  # fmt: skip
    assert [c.name for c in infer_signature([{"a": 1, "b": "z"}]).inputs] == ["a", "b"]


def test_infer_tensor_from_an_array() -> None:
    sig = infer_signature(np.zeros((5, 4), dtype=np.float32), output_example=np.zeros(5, dtype=np.int64))
    assert sig.kind == "tensor"
    assert sig.inputs == (ColumnSpec(None, "float32", (-1, 4)),)
    assert sig.outputs == (ColumnSpec(None, "int64", (-1,)),)


def test_round_trip_through_json() -> None:
    sig = infer_signature(np.zeros((2, 3)))
    assert Signature.from_dict(sig.to_dict()) == sig
    import json

    assert Signature.from_dict(json.loads(sig.to_json())) == sig


def test_bad_examples_and_documents_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        infer_signature(3.0)
    with pytest.raises(InvalidArgument):
        infer_signature(pd.DataFrame())
    with pytest.raises(InvalidArgument, match="kind"):
        Signature.from_dict({"kind": "graph", "inputs": []})


def test_enforce_names_the_column_and_the_expected_type() -> None:
    sig = infer_signature(frame())
    bad = frame().assign(age=["old", "young"])
    with pytest.raises(SignatureError, match=r"column 'age' must be int64, got string") as info:
        sig.enforce(bad)
    assert info.value.column == "age" and info.value.expected == "int64"
    assert isinstance(info.value, InvalidArgument)


def test_enforce_refuses_floats_for_int_columns_and_missing_columns() -> None:
    sig = infer_signature(frame())
    with pytest.raises(SignatureError, match="column 'age' must be int64, got float64"):
        sig.enforce(frame().assign(age=[1.5, 2.0]))
    with pytest.raises(SignatureError, match="missing column 'city' \\(expected type string\\)") as info:
        sig.enforce(frame().drop(columns="city"))
    assert info.value.column == "city"


def test_enforce_widens_reorders_and_drops_extras() -> None:
    sig = infer_signature(frame())
    given = frame()[["member", "city", "income", "age"]].assign(income=[1, 2], extra=[0, 0])
    out = sig.enforce(given)
    assert list(out.columns) == ["age", "income", "city", "member"]
    assert out["income"].dtype == np.float64


def test_enforce_accepts_an_array_of_the_right_width_for_a_table() -> None:
    sig = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    out = sig.enforce(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert list(out.columns) == ["a", "b"]
    with pytest.raises(SignatureError, match="columns"):
        sig.enforce(np.zeros((2, 3)))


def test_enforce_tensor_dtype_and_shape() -> None:
    sig = infer_signature(np.zeros((5, 4), dtype=np.float64))
    assert sig.enforce(np.ones((2, 4), dtype=np.int32)).dtype == np.float64
    with pytest.raises(SignatureError, match=r"shape \(-1, 4\)"):
        sig.enforce(np.zeros((2, 3)))
    with pytest.raises(SignatureError, match="must be float64, got string"):
        sig.enforce(np.array([["a"] * 4]))
    assert sig.enforce(pd.DataFrame(np.zeros((1, 4)))).shape == (1, 4)


_COLUMN_VALUES = {
    "int": st.lists(st.integers(-(2**31), 2**31), min_size=1, max_size=5),
    "float": st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5),
    "str": st.lists(st.text(max_size=5), min_size=1, max_size=5),
    "bool": st.lists(st.booleans(), min_size=1, max_size=5),
    "mixed": st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()), min_size=1, max_size=5),
}


@given(
    st.dictionaries(
        st.sampled_from(["age", "income", "city", "member", "other"]),
        st.sampled_from(sorted(_COLUMN_VALUES)),
        max_size=5,
    ),
    st.data(),
)
def test_enforcement_either_conforms_or_raises_a_signature_error(kinds: dict[str, str], data: st.DataObject) -> None:
    sig = infer_signature(frame())
    rows = data.draw(st.integers(1, 5))
    columns = {}
    for name, kind in kinds.items():
        values = data.draw(_COLUMN_VALUES[kind])
        columns[name] = (values * rows)[:rows]
    given_frame = pd.DataFrame(columns) if columns else pd.DataFrame(index=range(rows))
    try:
        out = sig.enforce(given_frame)
    except SignatureError as exc:
        assert exc.column in {c.name for c in sig.inputs} and exc.expected
        return
    assert list(out.columns) == [c.name for c in sig.inputs]
    assert out["age"].dtype == np.int64 and out["income"].dtype == np.float64
