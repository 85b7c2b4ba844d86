"""The wire schemas state the server's rules as JSON-schema patterns: each pattern accepts exactly
what the function that applies the rule accepts (on strings built from the characters that matter)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.artifacts.paths import parse_digest, safe_relpath
from modelyard.core.errors import InvalidArgument
from modelyard.core.features import FEATURE_OBJECT_NAME_PATTERN, validate_feature_object_name
from modelyard.core.serving import (
    DEPLOYMENT_NAME_PATTERN,
    VARIANT_NAME_PATTERN,
    validate_deployment_name,
    validate_variant_name,
)
from modelyard.core.validation import (
    DIGEST_PATTERN,
    ENTITY_NAME_PATTERN,
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    validate_entity_name,
    validate_key,
)
from modelyard.data.refs import validate_dataset_name
from modelyard.registry.card_fields import EDITABLE_FIELDS
from modelyard.wire._base import ARTIFACT_PATH_PATTERN
from modelyard.wire.datasets import DATASET_NAME_PATTERN
from modelyard.wire.models import CardField

TRICKY = "ab0Z./-_ :\\\t\n\x00\x85\xa0é@"


def _accepts(rule: Callable[[str], object], value: str) -> bool:
    try:
        rule(value)
    except InvalidArgument:
        return False
    return True


def _agree(pattern: str, rule: Callable[[str], object], value: str, max_length: int) -> None:
    by_schema = re.search(pattern, value) is not None and len(value) <= max_length
    assert by_schema == _accepts(rule, value), value


@settings(max_examples=1500)
@given(st.text(alphabet=TRICKY, max_size=10) | st.text(max_size=10))
def test_entity_names(value: str) -> None:
    _agree(ENTITY_NAME_PATTERN, validate_entity_name, value, MAX_NAME_LENGTH)


@settings(max_examples=1500)
@given(st.text(alphabet=TRICKY + "?#%", max_size=10) | st.text(max_size=10))
def test_deployment_names(value: str) -> None:
    _agree(DEPLOYMENT_NAME_PATTERN, validate_deployment_name, value, MAX_NAME_LENGTH)


@settings(max_examples=1500)
@given(st.text(alphabet=TRICKY + ":", max_size=10) | st.text(max_size=10))
def test_feature_object_names(value: str) -> None:
    _agree(FEATURE_OBJECT_NAME_PATTERN, lambda v: validate_feature_object_name(v, "name"), value, MAX_NAME_LENGTH)


@settings(max_examples=500)
@given(st.text(alphabet="aZ09_-.é /", max_size=66))
def test_variant_names(value: str) -> None:
    _agree(VARIANT_NAME_PATTERN, validate_variant_name, value, 64)


@settings(max_examples=1500)
@given(st.text(alphabet=TRICKY, max_size=10))
def test_keys(value: str) -> None:
    _agree(KEY_PATTERN, validate_key, value, MAX_KEY_LENGTH)


@settings(max_examples=1500)
@given(st.text(alphabet="ab0./-_ @", max_size=10))
def test_dataset_names(value: str) -> None:
    _agree(DATASET_NAME_PATTERN, validate_dataset_name, value, 200)


@settings(max_examples=1500)
@given(st.text(alphabet="ab./ :\x00é", max_size=10))
def test_artifact_paths(value: str) -> None:
    """Backslashes left out: the schema refuses them, the server takes some on POSIX."""
    _agree(ARTIFACT_PATH_PATTERN, safe_relpath, value, 4096)


@settings(max_examples=500)
@given(st.sampled_from(["sha256:", "sha512:", "blake2b:", "md5:", ""]), st.text(alphabet="0af9A", max_size=130))
def test_digests(algorithm: str, hex_part: str) -> None:
    _agree(DIGEST_PATTERN, parse_digest, algorithm + hex_part, 1000)


def test_card_fields_match_the_registry() -> None:
    assert set(get_args(CardField)) == set(EDITABLE_FIELDS)
