"""Validating a dataset version (or rows on their way in) against a suite, with references.

A ``distribution`` expectation names its reference version (``reference: churn@v3``); an explicit
reference given by the caller overrides every one of them. Each distinct reference version is
read once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.core.datasets import DatasetVersion
from modelyard.data.service import DatasetService
from modelyard.data.validation import Suite, ValidationReport
from modelyard.data.validation.expectations import Distribution, Expectation, ExpectationResult
from modelyard.data.validation.profile import Profile, profile

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["read_version", "validate_frame", "validate_version"]


def read_version(service: DatasetService, version: DatasetVersion) -> pa.Table:
    """A version as one Arrow table (its tabular files, verified, from the local cache)."""
    from modelyard.data.tabular import read_table

    root = service.materialise(version)
    if version.kind == "file":
        return read_table([root])
    return read_table([root.joinpath(*name.split("/")) for name in service.files(version)])


def validate_frame(
    frame: pd.DataFrame,
    suite: Suite,
    service: DatasetService,
    *,
    reference: str | None = None,
    with_profile: bool = True,
) -> ValidationReport:
    """``validate`` with every reference resolved: ``reference`` if given, else each
    distribution expectation's own."""
    references: dict[str, pd.DataFrame] = {}

    def reference_for(expectation: Expectation) -> pd.DataFrame | None:
        ref = reference or (expectation.reference if isinstance(expectation, Distribution) else None)
        if ref is None:
            return None
        if ref not in references:
            references[ref] = read_version(service, service.resolve(ref)).to_pandas()
        return references[ref]

    results: list[ExpectationResult] = [e.evaluate(frame, reference_for(e)) for e in suite.expectations]
    if not with_profile:
        return ValidationReport(suite.name, len(frame), results, Profile(rows=len(frame), columns={}))
    ref_profile = profile(next(iter(references.values()))) if len(references) == 1 else None
    return ValidationReport(suite.name, len(frame), results, profile(frame), ref_profile)


def validate_version(
    service: DatasetService, ref: str, suite: Suite | str | Path, *, reference: str | None = None
) -> tuple[DatasetVersion, ValidationReport]:
    """Validate the version ``ref`` names; returns it with the report."""
    if not isinstance(suite, Suite):
        suite = Suite.from_yaml(Path(suite) if not isinstance(suite, str) or "\n" not in suite else suite)
    version = service.resolve(ref)
    frame = read_version(service, version).to_pandas()
    return version, validate_frame(frame, suite, service, reference=reference)
