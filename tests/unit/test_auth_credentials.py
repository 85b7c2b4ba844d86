"""Password hashes, API token format, the audit row hash and role rules: pure logic, no store."""

from __future__ import annotations

import pytest

from modelyard.auth.audit import parse_head
from modelyard.auth.credentials import (
    generate_token,
    hash_password,
    parse_token,
    sha256_hex,
    verify_password,
)
from modelyard.auth.service import validate_role, validate_username
from modelyard.core.auth import GENESIS_HASH, ROLES, audit_entry_hash, canonical_details, role_rank
from modelyard.core.errors import InvalidArgument


def test_password_hash_is_salted_and_verifies() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second  # a fresh salt per hash
    assert first.startswith("scrypt$") and "correct horse" not in first
    assert verify_password("correct horse", first)
    assert not verify_password("correct hors", first)
    assert not verify_password("correct horse", None)
    assert not verify_password("correct horse", "garbage")
    assert not verify_password("x", "md5$1$2$3$4$5")


def test_token_format_and_digest() -> None:
    new = generate_token()
    assert new.secret.startswith(f"myd_{new.token_id}_")
    assert parse_token(new.secret) == (new.token_id, new.token_hash)
    assert new.token_hash == sha256_hex(new.secret) and len(new.token_hash) == 64
    assert generate_token().secret != new.secret
    for bad in ("", "myd", "myd_abc_secret", "xyz_0123456789ab_secret", f"myd_{new.token_id}_"):
        assert parse_token(bad) is None


def test_audit_hash_depends_on_every_field_and_the_previous_hash() -> None:
    base = dict(
        seq=1,
        timestamp=5,
        actor="a",
        action="run.create",
        object_type="run",
        object_id="r",
        remote_addr="1.2.3.4",
        details_json=canonical_details({"k": 1}),
    )
    digest = audit_entry_hash(GENESIS_HASH, **base)  # type: ignore[arg-type]
    assert audit_entry_hash(GENESIS_HASH, **base) == digest  # type: ignore[arg-type]
    assert audit_entry_hash("1" * 64, **base) != digest  # type: ignore[arg-type]
    for field, other in (
        ("seq", 2),
        ("timestamp", 6),
        ("actor", "b"),
        ("object_id", None),
        ("remote_addr", None),
        ("details_json", "{}"),
    ):
        assert audit_entry_hash(GENESIS_HASH, **{**base, field: other}) != digest  # type: ignore[arg-type]
    # Field boundaries cannot be shifted to forge the same content.
    shifted = {**base, "actor": 'a","run.create', "action": ""}
    assert audit_entry_hash(GENESIS_HASH, **shifted) != digest  # type: ignore[arg-type]


def test_canonical_details_is_order_independent_and_refuses_nan() -> None:
    assert canonical_details({"b": 1, "a": [1, "x"]}) == canonical_details({"a": [1, "x"], "b": 1})
    assert canonical_details({"a": "é"}) == '{"a":"é"}'
    with pytest.raises(ValueError):
        canonical_details({"x": float("nan")})


def test_roles_are_ordered() -> None:
    assert [role_rank(r) for r in ROLES] == [0, 1, 2, 3]
    assert validate_role("editor") == "editor"
    with pytest.raises(InvalidArgument, match="one of viewer, editor"):
        validate_role("owner")


@pytest.mark.parametrize("name", ["alice", "bob.smith", "ci-bot", "a@b.c", "x1"])
def test_valid_usernames(name: str) -> None:
    assert validate_username(name) == name


@pytest.mark.parametrize("name", ["", " ", "-lead", "has space", "a/b", "x" * 129, "*"])
def test_invalid_usernames(name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid username"):
        validate_username(name)


def test_parse_head() -> None:
    assert parse_head(f"12:{'A' * 64}") == (12, "a" * 64)
    for bad in ("12", "x:" + "a" * 64, "3:abc"):
        with pytest.raises(InvalidArgument):
            parse_head(bad)


def test_auth_all_matches_public_names() -> None:
    import pkgutil

    import modelyard.auth as auth

    public = {name for name in vars(auth) if not name.startswith("_")}
    submodules = {m.name for m in pkgutil.iter_modules(auth.__path__)}
    assert set(auth.__all__) == public - submodules


def test_durations_and_times() -> None:
    from modelyard.auth.timeparse import parse_duration_ms, parse_time_ms

    assert parse_duration_ms("90s") == 90_000
    assert parse_duration_ms("12h") == 12 * 3_600_000
    assert parse_duration_ms("30d") == parse_duration_ms("30") == 30 * 86_400_000
    assert parse_duration_ms("1.5m") == 90_000
    for bad in ("", "0d", "-1d", "soon", "3y"):
        with pytest.raises(InvalidArgument, match="invalid duration"):
            parse_duration_ms(bad)
    assert parse_time_ms(None, "since") is None and parse_time_ms(" ", "since") is None
    assert parse_time_ms("1700000000000", "since") == 1_700_000_000_000
    assert parse_time_ms("2026-01-01", "since") == 1_767_225_600_000
    assert parse_time_ms("2026-01-01T01:00:00+01:00", "since") == 1_767_225_600_000
    assert parse_time_ms("2h", "since", now_ms=10_000_000) == 10_000_000 - 7_200_000
    with pytest.raises(InvalidArgument, match="invalid since"):
        parse_time_ms("2h", "since")  # relative times only where a "now" is given
    with pytest.raises(InvalidArgument, match="invalid until"):
        parse_time_ms("tomorrow", "until", now_ms=0)
