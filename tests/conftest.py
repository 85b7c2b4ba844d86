"""Shared test configuration. Service fixtures live in tests/fixtures/ (one module per service)."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.postgres",
    "tests.fixtures.seaweedfs",
    "tests.fixtures.redis",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(available: bool, reason: str) -> None:
    """Locally a missing service skips the test with a reason; in CI it fails."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required service missing in CI: {reason}")
    pytest.skip(reason)
