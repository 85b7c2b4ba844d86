"""Drift and profiles in the SDK: ``modelyard.drift(reference, current)`` and
``modelyard.profile(data)``.

A side is a DataFrame, a ``DatasetProfile`` (or a file holding one), a CSV/TSV/Parquet/JSON Lines
file or a dataset version ``NAME@VERSION`` of the SDK's store (``modelyard.monitoring.sources``).

    ref = modelyard.profile("churn-train@v3", path="train.myprofile")   # once
    result = modelyard.drift("train.myprofile", todays_frame, report="drift.html")
    result.dataset_drift, result.drifted_columns
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelyard.core.html_assets import write_if_changed
from modelyard.monitoring.drift import ColumnOptions, DriftOptions, DriftResult, compute_drift
from modelyard.monitoring.profiles import profile_frame
from modelyard.monitoring.sources import load_source, looks_like_dataset_ref
from modelyard.stats.profile import DatasetProfile

__all__ = ["drift", "profile"]


def _load(source: Any, *, profile: bool, columns: Sequence[str] | None = None) -> Any:
    datasets = None
    if isinstance(source, str) and looks_like_dataset_ref(source) and not Path(source).exists():
        from modelyard.sdk import datasets as sdk_datasets

        datasets = sdk_datasets.service()
    return load_source(source, datasets=datasets, profile=profile, columns=columns)


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    method: str | None = None,
    threshold: float | None = None,
    column_options: Mapping[str, ColumnOptions | Mapping[str, Any] | str] | None = None,
    prediction: str | None = None,
    drift_share: float = 0.5,
    domain_classifier: bool = False,
    options: DriftOptions | None = None,
    report: str | Path | None = None,
    title: str | None = None,
    self_contained: bool = False,
) -> DriftResult:
    """Drift of ``current`` against ``reference``, column by column (see ``DriftOptions`` for
    the knobs; ``options`` replaces them all). With ``report``, the drift report is written there
    (``.json``: its JSON form; else HTML with plots)."""
    opts = options or DriftOptions(
        method=method,
        threshold=threshold,
        columns=dict(column_options or {}),
        drift_share=drift_share,
        prediction=prediction,
        domain_classifier=domain_classifier,
    )
    # files are profiled as they are read (bounded memory) unless the domain classifier needs rows
    rows = opts.domain_classifier
    result = compute_drift(
        _load(reference, profile=not rows, columns=columns),
        _load(current, profile=not rows, columns=columns),
        columns=columns,
        options=opts,
    )
    if report is not None:
        from modelyard.reports.drift import write_drift_report

        write_drift_report(result, report, title=title, self_contained=self_contained)
    return result


def profile(data: Any, *, columns: Sequence[str] | None = None, path: str | Path | None = None) -> DatasetProfile:
    """The mergeable profile of ``data`` (a DataFrame, file or ``NAME@VERSION``), saved to
    ``path`` (``DatasetProfile.to_bytes``) when given."""
    loaded = _load(data, profile=True, columns=columns)
    prof = loaded if isinstance(loaded, DatasetProfile) else profile_frame(loaded, columns)
    if path is not None:
        write_if_changed(Path(path), prof.to_bytes())  # atomically
    return prof
