"""Data validation: profiles, expectations (Python or YAML), suites, reports with plots, and the
split of failing rows into quarantine."""

from modelyard.data.validation.expectations import (
    EXPECTATIONS,
    Between,
    Distribution,
    Expectation,
    ExpectationResult,
    Fresh,
    InSet,
    NotNull,
    Regex,
    RowCount,
    Unique,
)
from modelyard.data.validation.profile import ColumnProfile, Profile, profile
from modelyard.data.validation.suite import FAILED_COLUMN, Suite, ValidationReport, split_failing_rows, validate

__all__ = [
    "EXPECTATIONS",
    "FAILED_COLUMN",
    "Between",
    "ColumnProfile",
    "Distribution",
    "Expectation",
    "ExpectationResult",
    "Fresh",
    "InSet",
    "NotNull",
    "Profile",
    "Regex",
    "RowCount",
    "Suite",
    "Unique",
    "ValidationReport",
    "profile",
    "split_failing_rows",
    "validate",
]
