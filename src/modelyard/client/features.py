"""``HttpFeatureStore``: the ``FeatureStore`` contract over the REST API v1.

It shares the ``ApiClient`` of the other HTTP stores, so ``FeatureStoreService`` and
``modelyard.feature_store`` work against a server unchanged. Every write is idempotent by the
contract (a definition equal to the latest version creates nothing; a materialisation run or a
training-set link recorded twice is recorded once), so writes are retried like reads.

Request bodies are what the server's routes decode: the definitions themselves (the core
``FeatureEntity``/``FeatureView``/``FeatureService``, validated when they were built), and the
``wire.features`` models for materialisation runs, model pins and training-set links, checked by
``request`` (see ``_transport``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from modelyard.client._transport import HttpAggregateStore, request
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
from modelyard.wire.features import MaterializationCreate, ModelPinCreate, TrainingSetLinkCreate

__all__ = ["HttpFeatureStore"]


def _version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidArgument(f"a version is an integer from 1 to {MAX_VERSION}, got {version!r}")
    return version


class HttpFeatureStore(HttpAggregateStore, FeatureStore):
    """Feature definitions, materialisation runs and training-set links on a modelyard server."""

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return orjson.loads(self.api.send(method, "/features" + path, idempotent=True, **kwargs).content)

    # --- definitions --------------------------------------------------------------------------

    def put_entity(self, entity: FeatureEntity) -> Applied[FeatureEntityVersion]:
        data = self._json("POST", "/entities", body=entity)
        return Applied(FeatureEntityVersion.model_validate(data["version"]), bool(data["created"]))

    def put_view(self, view: FeatureView) -> Applied[FeatureViewVersion]:
        data = self._json("POST", "/views", body=view)
        return Applied(FeatureViewVersion.model_validate(data["version"]), bool(data["created"]))

    def put_service(self, service: FeatureService) -> Applied[FeatureServiceVersion]:
        data = self._json("POST", "/services", body=service)
        return Applied(FeatureServiceVersion.model_validate(data["version"]), bool(data["created"]))

    def _one(self, kind: str, name: str, version: int | None) -> Any:
        suffix = "latest" if version is None else f"versions/{_version(version)}"
        return self._json("GET", f"/{kind}/{name_path(name)}/{suffix}")

    def get_entity(self, name: str, version: int | None = None) -> FeatureEntityVersion:
        return FeatureEntityVersion.model_validate(self._one("entities", name, version))

    def get_view(self, name: str, version: int | None = None) -> FeatureViewVersion:
        return FeatureViewVersion.model_validate(self._one("views", name, version))

    def get_service(self, name: str, version: int | None = None) -> FeatureServiceVersion:
        return FeatureServiceVersion.model_validate(self._one("services", name, version))

    def list_entities(self) -> list[FeatureEntityVersion]:
        return [FeatureEntityVersion.model_validate(v) for v in self._json("GET", "/entities")["versions"]]

    def list_views(self) -> list[FeatureViewVersion]:
        return [FeatureViewVersion.model_validate(v) for v in self._json("GET", "/views")["versions"]]

    def list_services(self) -> list[FeatureServiceVersion]:
        return [FeatureServiceVersion.model_validate(v) for v in self._json("GET", "/services")["versions"]]

    def list_entity_versions(self, name: str) -> list[FeatureEntityVersion]:
        data = self._json("GET", f"/entities/{name_path(name)}/versions")
        return [FeatureEntityVersion.model_validate(v) for v in data["versions"]]

    def list_view_versions(self, name: str) -> list[FeatureViewVersion]:
        data = self._json("GET", f"/views/{name_path(name)}/versions")
        return [FeatureViewVersion.model_validate(v) for v in data["versions"]]

    def list_service_versions(self, name: str) -> list[FeatureServiceVersion]:
        data = self._json("GET", f"/services/{name_path(name)}/versions")
        return [FeatureServiceVersion.model_validate(v) for v in data["versions"]]

    # --- materialisation ----------------------------------------------------------------------

    def record_materialization(self, run: Materialization) -> Materialization:
        if run.end < run.start or run.rows < 0:
            raise InvalidArgument(f"invalid materialisation of {run.view}@v{run.version}: end before start or rows < 0")
        body = request(MaterializationCreate.model_validate, run.model_dump())
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
            TrainingSetLinkCreate,
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
        body = request(ModelPinCreate.model_validate, pin.model_dump())
        return ModelFeaturePin.model_validate(self._json("POST", "/model-pins", body=body))

    def get_model_pin(self, model: str, model_version: int) -> ModelFeaturePin:
        path = f"/model-pins/{name_path(model)}/versions/{_version(model_version)}"
        return ModelFeaturePin.model_validate(self._json("GET", path))

    def list_model_pins(self, service: str | None = None) -> list[ModelFeaturePin]:
        params = None if service is None else {"service": service}
        return [ModelFeaturePin.model_validate(p) for p in self._json("GET", "/model-pins", params=params)["pins"]]
