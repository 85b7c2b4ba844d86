"""``HttpFeatureStore``: the ``FeatureStore`` contract over the REST API v1.

It shares the ``ApiClient`` of the other HTTP stores, so ``FeatureStoreService`` and
``modelyard.feature_store`` work against a server unchanged. Every write is idempotent by the
contract (a definition equal to the latest version creates nothing; a materialisation run or a
training-set link recorded twice is recorded once), so writes are retried like reads.

Request bodies are the ``wire.features`` models the server's routes decode (definitions,
materialisation runs, model pins, training-set links), checked by ``request`` (see
``_transport``); definition versions are read with their wire schemas and returned as the core
entities they mirror.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from modelyard.client._transport import HttpAggregateStore, as_entities, as_entity, decode, request
from modelyard.client.models import name_path
from modelyard.core.errors import InvalidArgument
from modelyard.core.features import (
    FeatureEntity,
    FeatureEntityVersion,
    FeatureService,
    FeatureServiceVersion,
    FeatureView,
    FeatureViewVersion,
    Materialization,
    ModelFeaturePin,
)
from modelyard.core.validation import MAX_VERSION
from modelyard.store.features import Applied, FeatureStore, TrainingSetLink
from modelyard.wire import features as wire

if TYPE_CHECKING:
    from modelyard.features.service import FeatureStoreService
    from modelyard.monitoring.features import FeatureDrift
    from modelyard.stats.profile import DatasetProfile

__all__ = ["HttpFeatureStore", "view_drift", "view_profile"]


def _version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidArgument(f"a version is an integer from 1 to {MAX_VERSION}, got {version!r}")
    return version


class HttpFeatureStore(HttpAggregateStore, FeatureStore):
    """Feature definitions, materialisation runs and training-set links on a modelyard server."""

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> bytes:
        return self.api.send(method, "/features" + path, idempotent=True, **kwargs).content

    # --- definitions --------------------------------------------------------------------------

    def put_entity(self, entity: FeatureEntity) -> Applied[FeatureEntityVersion]:
        body = request(wire.FeatureEntityBody.model_validate, entity.model_dump())
        done = wire.AppliedEntity.model_validate_json(self._send("POST", "/entities", body=body))
        return Applied(as_entity(done.version, FeatureEntityVersion), done.created)

    def put_view(self, view: FeatureView) -> Applied[FeatureViewVersion]:
        body = request(wire.FeatureViewBody.model_validate, view.model_dump())
        done = wire.AppliedView.model_validate_json(self._send("POST", "/views", body=body))
        return Applied(as_entity(done.version, FeatureViewVersion), done.created)

    def put_service(self, service: FeatureService) -> Applied[FeatureServiceVersion]:
        body = request(wire.FeatureServiceBody.model_validate, service.model_dump())
        done = wire.AppliedService.model_validate_json(self._send("POST", "/services", body=body))
        return Applied(as_entity(done.version, FeatureServiceVersion), done.created)

    def _one(self, kind: str, name: str, version: int | None) -> bytes:
        suffix = "latest" if version is None else f"versions/{_version(version)}"
        return self._send("GET", f"/{kind}/{name_path(name)}/{suffix}")

    def get_entity(self, name: str, version: int | None = None) -> FeatureEntityVersion:
        return decode(self._one("entities", name, version), wire.FeatureEntityVersionBody, FeatureEntityVersion)

    def get_view(self, name: str, version: int | None = None) -> FeatureViewVersion:
        return decode(self._one("views", name, version), wire.FeatureViewVersionBody, FeatureViewVersion)

    def get_service(self, name: str, version: int | None = None) -> FeatureServiceVersion:
        return decode(self._one("services", name, version), wire.FeatureServiceVersionBody, FeatureServiceVersion)

    def _entities(self, path: str) -> list[FeatureEntityVersion]:
        return as_entities(
            wire.EntityVersionList.model_validate_json(self._send("GET", path)).versions, FeatureEntityVersion
        )

    def _views(self, path: str) -> list[FeatureViewVersion]:
        return as_entities(
            wire.ViewVersionList.model_validate_json(self._send("GET", path)).versions, FeatureViewVersion
        )

    def _services(self, path: str) -> list[FeatureServiceVersion]:
        return as_entities(
            wire.ServiceVersionList.model_validate_json(self._send("GET", path)).versions, FeatureServiceVersion
        )

    def list_entities(self) -> list[FeatureEntityVersion]:
        return self._entities("/entities")

    def list_views(self) -> list[FeatureViewVersion]:
        return self._views("/views")

    def list_services(self) -> list[FeatureServiceVersion]:
        return self._services("/services")

    def list_entity_versions(self, name: str) -> list[FeatureEntityVersion]:
        return self._entities(f"/entities/{name_path(name)}/versions")

    def list_view_versions(self, name: str) -> list[FeatureViewVersion]:
        return self._views(f"/views/{name_path(name)}/versions")

    def list_service_versions(self, name: str) -> list[FeatureServiceVersion]:
        return self._services(f"/services/{name_path(name)}/versions")

    # --- materialisation ----------------------------------------------------------------------

    def record_materialization(self, run: Materialization) -> Materialization:
        if run.end < run.start or run.rows < 0:
            raise InvalidArgument(f"invalid materialisation of {run.view}@v{run.version}: end before start or rows < 0")
        body = request(wire.MaterializationCreate.model_validate, run.model_dump())
        return Materialization.model_validate(self._json("POST", "/materializations", body=body))

    def list_materializations(self, view: str, version: int, target: str | None = None) -> list[Materialization]:
        params = None if target is None else {"target": target}
        data = self._json(
            "GET", f"/views/{name_path(view)}/versions/{_version(version)}/materializations", params=params
        )
        return [Materialization.model_validate(r) for r in data["runs"]]

    # --- training sets ------------------------------------------------------------------------

    def link_training_set(
        self,
        dataset: str,
        dataset_version: int,
        views: list[tuple[str, int]],
        profiles: Mapping[str, str] | None = None,
    ) -> None:
        body = request(
            wire.TrainingSetLinkCreate,
            dataset=dataset,
            dataset_version=_version(dataset_version),
            views=list(views),
            profiles=None if profiles is None else dict(profiles),
        )
        self._json("POST", "/training-sets", body=body)

    @staticmethod
    def _links(data: Any) -> list[TrainingSetLink]:
        return [
            TrainingSetLink(
                d["dataset"], int(d["dataset_version"]), d["view"], int(d["view_version"]), d.get("profile")
            )
            for d in data["links"]
        ]

    def list_training_sets_of_view(self, view: str, version: int) -> list[TrainingSetLink]:
        return self._links(self._json("GET", f"/views/{name_path(view)}/versions/{_version(version)}/training-sets"))

    def list_views_of_training_set(self, dataset: str, dataset_version: int) -> list[TrainingSetLink]:
        path = f"/training-sets/{name_path(dataset)}/versions/{_version(dataset_version)}/views"
        return self._links(self._json("GET", path))

    # --- model versions -----------------------------------------------------------------------

    def pin_model_version(self, pin: ModelFeaturePin) -> ModelFeaturePin:
        body = request(wire.ModelPinCreate.model_validate, pin.model_dump())
        return ModelFeaturePin.model_validate(self._json("POST", "/model-pins", body=body))

    def get_model_pin(self, model: str, model_version: int) -> ModelFeaturePin:
        path = f"/model-pins/{name_path(model)}/versions/{_version(model_version)}"
        return ModelFeaturePin.model_validate(self._json("GET", path))

    def list_model_pins(self, service: str | None = None) -> list[ModelFeaturePin]:
        params = None if service is None else {"service": service}
        return [ModelFeaturePin.model_validate(p) for p in self._json("GET", "/model-pins", params=params)["pins"]]

    # --- quality (computed by the server) -----------------------------------------------------

    def view_profile(self, view: FeatureViewVersion, target: str | None = None) -> tuple[DatasetProfile, int]:
        """The server's merge of the profiles of ``view``'s runs into ``target`` (default: the
        server's online store), and how many runs it merged."""
        from modelyard.stats.profile import DatasetProfile

        path = f"/views/{name_path(view.name)}/versions/{_version(view.version)}/profile"
        params = None if target is None else {"target": target}
        body = wire.ViewProfileBody.model_validate_json(self._send("GET", path, params=params))
        return DatasetProfile.from_dict(body.profile), body.runs

    def view_drift(
        self, view: FeatureViewVersion, against: str | None = None, target: str | None = None
    ) -> FeatureDrift:
        """The drift the server computes of ``view``'s materialised profile from a training set's."""
        from modelyard.monitoring.drift import ColumnDrift, DriftResult
        from modelyard.monitoring.features import FeatureDrift

        params = {k: v for k, v in {"against": against, "target": target}.items() if v is not None}
        path = f"/views/{name_path(view.name)}/versions/{_version(view.version)}/drift"
        body = wire.FeatureDriftBody.model_validate_json(self._send("GET", path, params=params or None))
        columns = [ColumnDrift(**col.model_dump(exclude={"score"})) for col in body.columns]
        result = DriftResult(
            columns,
            body.share_drifted,
            body.dataset_drift,
            body.drift_share,
            body.reference_rows,
            body.current_rows,
            dict(body.skipped),
        )
        return FeatureDrift(body.view, body.against, body.target, result)


def view_profile(service: FeatureStoreService, view: str) -> tuple[FeatureViewVersion, DatasetProfile, int]:
    """``FeatureStoreService.view_profile`` where the runs are: computed by the server (over its
    online store's runs and its artifact store) when the service's store is a server's."""
    if isinstance(service.store, HttpFeatureStore):
        found = service.views_named([view])[0]
        return (found, *service.store.view_profile(found))
    return service.view_profile(view)


def view_drift(service: FeatureStoreService, view: str, against: str | None = None) -> FeatureDrift:
    """``monitoring.features.feature_drift``, by the server when the service's store is a
    server's (which profiles the training set where its files are)."""
    from modelyard.monitoring.features import feature_drift

    if isinstance(service.store, HttpFeatureStore):
        return service.store.view_drift(service.views_named([view])[0], against)
    return feature_drift(service, view, against)
