"""Model references (modelyard.registry.uri): NAME@VERSION, NAME@ALIAS, NAME@latest, NAME@production."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.core.errors import InvalidArgument
from modelyard.registry.uri import ModelRef, parse_model_ref, validate_alias


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn@3", ModelRef("churn", "version", "3")),
        ("models:/churn@003", ModelRef("churn", "version", "3")),
        ("churn@champion", ModelRef("churn", "alias", "champion")),
        ("churn@latest", ModelRef("churn", "latest", "latest")),
        ("churn@Production", ModelRef("churn", "state", "production")),
        ("churn@staging", ModelRef("churn", "state", "staging")),
        ("team/churn model@v2", ModelRef("team/churn model", "alias", "v2")),
    ],
)
def test_parse(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize("text", ["churn", "@3", "churn@", "churn@0", "churn@draft", "churn@archived", "churn@9x!"])
def test_invalid_references(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_model_ref(text)


def test_version_property() -> None:
    assert parse_model_ref("m@7").version == 7
    with pytest.raises(InvalidArgument):
        _ = parse_model_ref("m@champion").version


@pytest.mark.parametrize("alias", ["production", "Staging", "latest", "decommissioned", "3", "-x", "", "a" * 65])
def test_reserved_and_malformed_aliases(alias: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_alias(alias)


@given(st.text(max_size=40))
def test_parser_never_crashes(text: str) -> None:
    try:
        ref = parse_model_ref(text)
    except InvalidArgument:
        return
    assert ref.name and str(ref).startswith(ref.name)
