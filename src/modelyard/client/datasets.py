"""``HttpDatasetStore``: the ``DatasetStore`` contract over the REST API v1.

It shares the ``ApiClient`` of the other HTTP stores, so ``DatasetService`` and
``modelyard.datasets`` work against a server unchanged: the version's files and manifest go to
the server's artifact store as blobs (``HttpArtifactStore``), then this records the version.

Retries: reads are retried after a dropped connection. ``create_dataset_version`` allocates the
next number on the server and the contract has no id a retry could be recognised by, so it is
retried only when the request never reached the server (``DatasetService.add`` itself returns the
latest version when its content is identical, so re-running an add after such an error adds
nothing); removal is not retried either (a second attempt would answer 404).

The new version's body is ``wire.datasets.DatasetVersionCreate``, checked by ``request``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelyard.client._transport import HttpAggregateStore, as_entities, decode, request
from modelyard.client.models import name_path
from modelyard.core.datasets import DatasetSummary, DatasetVersion, NewDatasetVersion
from modelyard.core.errors import InvalidArgument
from modelyard.store.datasets import DatasetStore
from modelyard.wire.datasets import (
    DatasetList,
    DatasetVersionBody,
    DatasetVersionCreate,
    DatasetVersionList,
    ManifestDigests,
)

__all__ = ["HttpDatasetStore"]


def _dataset(name: str) -> str:
    return "/datasets/" + name_path(name)


class HttpDatasetStore(HttpAggregateStore, DatasetStore):
    """Dataset versions and their lineage on a modelyard server."""

    def _send(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> bytes:
        return self.api.send(method, path, idempotent=idempotent, **kwargs).content

    def _version(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> DatasetVersion:
        return decode(self._send(method, path, idempotent=idempotent, **kwargs), DatasetVersionBody, DatasetVersion)

    def _version_list(self, path: str, **params: Any) -> list[DatasetVersion]:
        content = self._send("GET", path, idempotent=True, params=params or None)
        return as_entities(DatasetVersionList.model_validate_json(content).versions, DatasetVersion)

    def create_dataset_version(self, new: NewDatasetVersion) -> DatasetVersion:
        fields = {
            "manifest_digest": new.manifest_digest,
            "kind": new.kind,
            "file_count": new.file_count,
            "total_size": new.total_size,
            "message": new.message,
            "source": new.source,
            "code": new.code,
            "params": {str(k): str(v) for k, v in dict(new.params).items()},
            "parents": [{"name": p.name, "version": p.version} for p in new.parents],
        }
        body = request(DatasetVersionCreate.model_validate, fields)
        return self._version("POST", f"{_dataset(new.name)}/versions", idempotent=False, body=body)

    def get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        return self._version("GET", f"{_dataset(name)}/versions/{int(version)}", idempotent=True)

    def get_latest_dataset_version(self, name: str) -> DatasetVersion:
        return self._version("GET", f"{_dataset(name)}/versions/latest", idempotent=True)

    def find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]:
        return self._version_list(f"{_dataset(name)}/versions/by-digest", prefix=digest_prefix)

    def list_dataset_versions(self, name: str, *, include_removed: bool = False) -> list[DatasetVersion]:
        return self._version_list(f"{_dataset(name)}/versions", include_removed=str(include_removed).lower())

    def list_dataset_versions_derived_from(self, name: str, version: int) -> list[DatasetVersion]:
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidArgument(f"a dataset version is an integer, got {version!r}")
        if version < 1 or not name:
            return []  # nothing derives from a version that cannot exist (and the route accepts none)
        return self._version_list(f"{_dataset(name)}/versions/{version}/derived")

    def list_dataset_versions_by_run(self, run_id: str) -> list[DatasetVersion]:
        if not run_id:
            return []  # no run has an empty id (and no route takes one)
        return self._version_list(f"/runs/{quote(run_id, safe='')}/dataset-versions")

    def list_datasets(self) -> list[DatasetSummary]:
        content = self._send("GET", "/datasets", idempotent=True)
        return as_entities(DatasetList.model_validate_json(content).datasets, DatasetSummary)

    def remove_dataset_version(self, name: str, version: int) -> DatasetVersion:
        return self._version("DELETE", f"{_dataset(name)}/versions/{int(version)}", idempotent=False)

    def list_dataset_manifest_digests(self, *, include_removed: bool = False) -> list[str]:
        params = {"include_removed": str(include_removed).lower()}
        content = self._send("GET", "/dataset-manifests", idempotent=True, params=params)
        return ManifestDigests.model_validate_json(content).digests
