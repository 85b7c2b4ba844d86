"""Served features against training: the drift of a feature view's materialised profile from
its features' profile in a training set (issue 15, quality).

The one sequence the SDK, the CLI and the server's drift route run: the view version's current
profile (its materialisation runs' profiles merged, ``FeatureStoreService.view_profile``), the
training set's (``training_profile``), and ``drift.compute_drift`` between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelyard.monitoring.drift import DriftResult, compute_drift

if TYPE_CHECKING:
    from modelyard.features.service import FeatureStoreService

__all__ = ["FeatureDrift", "feature_drift"]


@dataclass(frozen=True)
class FeatureDrift:
    """``view`` (``name@vN``) against the training set ``against`` (``dataset@vN``); ``target``:
    the online store whose materialisation runs were profiled (None: every store's)."""

    view: str
    against: str
    target: str | None
    result: DriftResult


def feature_drift(
    service: FeatureStoreService, view: str, against: str | None = None, target: str | None = None
) -> FeatureDrift:
    """``view``: ``name`` or ``name@vN``; ``against``: ``dataset@vN`` (default: the newest
    training set saved from the view version); ``target``: default the service's online store."""
    found, current, _ = service.view_profile(view, target)
    ref, reference = service.training_profile(found, against)
    if target is None and service.online is not None:
        target = service.online.name
    return FeatureDrift(found.ref, ref, target, compute_drift(reference, current))
