"""``HttpDatasetStore``: the ``DatasetStore`` contract over the REST API v1.

It shares the ``ApiClient`` of the other HTTP stores, so ``DatasetService`` and
``modelyard.datasets`` work against a server unchanged: the version's files and manifest go to
the server's artifact store as blobs (``HttpArtifactStore``), then this records the version.

Retries: reads are retried after a dropped connection. ``create_dataset_version`` allocates the
next number on the server and the contract has no id a retry could be recognised by, so it is
retried only when the request never reached the server (``DatasetService.add`` itself returns the
latest version when its content is identical, so re-running an add after such an error adds
nothing); removal is not retried either (a second attempt would answer 404).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

import orjson

from modelyard.client._transport import HttpAggregateStore
from modelyard.client.models import name_path
from modelyard.core.datasets import DatasetKind, DatasetSummary, DatasetVersion, DatasetVersionKey, NewDatasetVersion
from modelyard.core.errors import InvalidArgument
from modelyard.store.datasets import DatasetStore

__all__ = ["HttpDatasetStore"]


def _dataset(name: str) -> str:
    return "/datasets/" + name_path(name)


def version_from_json(data: dict[str, Any]) -> DatasetVersion:
    return DatasetVersion(
        name=data["name"],
        version=int(data["version"]),
        manifest_digest=data["manifest_digest"],
        kind=cast(DatasetKind, data["kind"]),
        file_count=int(data["file_count"]),
        total_size=int(data["total_size"]),
        created_at=int(data["created_at"]),
        message=data.get("message"),
        source=data.get("source"),
        code=data.get("code"),
        params=dict(data.get("params") or {}),
        parents=tuple(DatasetVersionKey(p["name"], int(p["version"])) for p in data.get("parents") or ()),
        removed_at=data.get("removed_at"),
    )


class HttpDatasetStore(HttpAggregateStore, DatasetStore):
    """Dataset versions and their lineage on a modelyard server."""

    def _dataset_json(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        return orjson.loads(self.api.send(method, path, idempotent=idempotent, **kwargs).content)

    def _version_list(self, path: str, **params: Any) -> list[DatasetVersion]:
        data = self._dataset_json("GET", path, idempotent=True, params=params or None)
        return [version_from_json(v) for v in data["versions"]]

    def create_dataset_version(self, new: NewDatasetVersion) -> DatasetVersion:
        body = {
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
        data = self._dataset_json("POST", f"{_dataset(new.name)}/versions", idempotent=False, json=body)
        return version_from_json(data)

    def get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        data = self._dataset_json("GET", f"{_dataset(name)}/versions/{int(version)}", idempotent=True)
        return version_from_json(data)

    def get_latest_dataset_version(self, name: str) -> DatasetVersion:
        return version_from_json(self._dataset_json("GET", f"{_dataset(name)}/versions/latest", idempotent=True))

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
        data = self._dataset_json("GET", "/datasets", idempotent=True)
        return [
            DatasetSummary(
                name=s["name"],
                created_at=int(s["created_at"]),
                version_count=int(s["version_count"]),
                latest=None if s.get("latest") is None else version_from_json(s["latest"]),
            )
            for s in data["datasets"]
        ]

    def remove_dataset_version(self, name: str, version: int) -> DatasetVersion:
        data = self._dataset_json("DELETE", f"{_dataset(name)}/versions/{int(version)}", idempotent=False)
        return version_from_json(data)

    def list_dataset_manifest_digests(self, *, include_removed: bool = False) -> list[str]:
        params = {"include_removed": str(include_removed).lower()}
        return list(self._dataset_json("GET", "/dataset-manifests", idempotent=True, params=params)["digests"])
