"""The feature store's release check for the registry: a model version pinned to a feature
service version is approved or promoted to production only while its features still hold.

``FeaturePinCheck`` is a ``RegistryService`` release check (``release_checks=[...]``; the registry
sits above this room and never imports it, the builder of the service wires it). Given a model
version it refuses (``ReleaseBlocked``, nothing recorded) when:

1. **its pins no longer resolve**: the pinned service version, a view version it pins, or the
   dataset version such a view reads is gone (a dataset version removed with ``data remove``
   counts as gone: training on it can no longer be reproduced); or
2. **online and offline disagree**: for up to ``sample`` entity keys of each pinned view (those
   with the newest events in the view's source), the online store does not serve what the
   offline point-in-time join returns for the same keys at now (``FeatureStoreService.parity``:
   a value on one side only, stale, or different beyond ``tolerance``). Materialising the views
   again fixes staleness; a difference that stays is training/serving skew to fix first.

A version with no pin passes. The check runs on every approval and every promotion to
production, so a version approved while its features held is checked again when it goes live.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelyard.core.errors import NotFound, ReleaseBlocked
from modelyard.core.features import FeatureViewVersion
from modelyard.core.registry import ModelVersion
from modelyard.features.samples import sample_keys

if TYPE_CHECKING:
    from modelyard.features.service import FeatureStoreService

__all__ = ["FeaturePinCheck"]


def _check_source(service: FeatureStoreService, view: FeatureViewVersion) -> None:
    """NotFound naming the view when the dataset version it reads is gone or removed."""
    try:
        dataset = service.source_dataset(view)
    except NotFound as exc:
        raise NotFound(f"{view.ref} reads {view.definition.source.location}: {exc}") from None
    if dataset is not None and dataset.removed_at is not None:
        raise NotFound(f"{view.ref} reads {dataset.ref}, which was removed")


class FeaturePinCheck:
    """``check(version)``: None when the version may be released, else ``ReleaseBlocked``."""

    def __init__(
        self,
        service: Callable[[], FeatureStoreService],
        *,
        sample: int = 100,
        tolerance: float = 1e-9,
    ) -> None:
        self._service = service  # built on first use: most versions have no pin
        self.sample = sample
        self.tolerance = tolerance

    def __call__(self, version: ModelVersion) -> None:
        service = self._service()
        model, number = version.model_name, version.version
        try:
            pin = service.store.get_model_pin(model, number)
        except NotFound:
            return
        what = f"version {number} of model {model!r} (features {pin.service_ref})"
        try:
            pinned = service.store.get_service(pin.service, pin.service_version)
            groups = service.resolve(pinned)
            for view, _ in groups:
                _check_source(service, view)
        except NotFound as exc:
            raise ReleaseBlocked(f"{what} cannot be released: its pinned features no longer resolve: {exc}") from None
        for view, names in groups:
            keys = sample_keys(view, self.sample, location=service.source_location(view), duck=service.duck)
            if not keys:
                continue  # no rows: nothing either side could serve
            report = service.parity(keys, [f"{view.ref}:{f}" for f in names], tolerance=self.tolerance)
            if not report.ok:
                row, feature, offline, online = report.mismatches[0]
                raise ReleaseBlocked(
                    f"{what} cannot be released: offline/online parity failed for {view.ref}: "
                    f"{len(report.mismatches)} of {report.compared} values differ (first: {feature} of {keys[row]}: "
                    f"offline {offline!r}, online {online!r}); materialise {view.ref} "
                    f"('modelyard features materialize') or fix the skew, then try again"
                )
