"""The data subsystem's lineage: dataset versions, the versions they were derived from, and the
run that added a version (its ``code`` is ``run:<id>``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.lineage.graph import LineageEdge, LineageNode, dataset_node_id, run_node_id
from modelyard.lineage.providers import LineageProvider

if TYPE_CHECKING:
    from modelyard.core.datasets import DatasetVersion
    from modelyard.core.tracking import RunInput
    from modelyard.store.datasets import DatasetStore

__all__ = ["DataLineage"]

_RUN_CODE_PREFIX = "run:"


class DataLineage(LineageProvider):
    prefixes = ("dataset",)
    root_kind = "dataset"

    def __init__(self, store: DatasetStore) -> None:
        self.store = store
        self._by_id: dict[str, DatasetVersion | None] = {}

    def resolve(self, reference: str) -> str:
        from modelyard.data.refs import parse_ref

        parsed = parse_ref(reference)
        if parsed.version is not None:
            found = self.store.get_dataset_version(parsed.name, parsed.version)
        elif parsed.digest_prefix is not None:
            matches = self.store.find_dataset_versions(parsed.name, parsed.digest_prefix)
            if not matches:
                raise NotFound(
                    f"no version of dataset {parsed.name!r} has a digest starting with {parsed.digest_prefix!r}"
                )
            found = matches[-1]
        else:
            found = self.store.get_latest_dataset_version(parsed.name)
        return dataset_node_id(found.name, found.version)

    def input_node_id(self, item: RunInput) -> str:
        """The node of a dataset a run read: by its version, or found by its digest when the run
        recorded no version number."""
        version = item.version
        if (not version or not version.lstrip("v").isdigit()) and item.digest:
            try:
                matches = self.store.find_dataset_versions(item.name, item.digest)
            except (NotFound, InvalidArgument):
                matches = []
            if matches:
                version = f"v{matches[-1].version}"
        return dataset_node_id(item.name, version)

    def node(self, node_id: str, hints: Mapping[str, Any]) -> LineageNode | None:
        dataset = self.version(node_id)
        if dataset is None:
            return None
        return LineageNode(
            node_id,
            "dataset_version",
            dataset.ref,
            {
                "name": dataset.name,
                "version": dataset.version,
                "digest": dataset.manifest_digest,
                "kind": dataset.kind,
                "file_count": dataset.file_count,
                "total_size": dataset.total_size,
                "created_at": dataset.created_at,
                "message": dataset.message,
                "source": dataset.source,
                "code": dataset.code,
                "params": dict(dataset.params),
                "parents": [str(p) for p in dataset.parents],
                "removed": dataset.removed_at is not None,
            },
        )

    def upstream(self, node_id: str) -> Iterator[LineageEdge]:
        if not node_id.startswith("dataset:"):
            return
        dataset = self.version(node_id)
        if dataset is None:
            return
        for parent in dataset.parents:
            yield LineageEdge(dataset_node_id(parent.name, parent.version), node_id, "derived_from")
        if dataset.code and dataset.code.startswith(_RUN_CODE_PREFIX):
            yield LineageEdge(run_node_id(dataset.code[len(_RUN_CODE_PREFIX) :]), node_id, "produced")

    def downstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == "dataset":
            dataset = self.version(node_id)
            if dataset is None:
                return
            for derived in self.store.list_dataset_versions_derived_from(dataset.name, dataset.version):
                yield LineageEdge(node_id, self._remember(derived), "derived_from")
        elif kind == "run":
            for made in self.store.list_dataset_versions_by_run(key):
                yield LineageEdge(node_id, self._remember(made), "produced")

    def version(self, node_id: str) -> DatasetVersion | None:
        """The dataset version a node id names (removed versions too), cached per walk."""
        cache = self._by_id
        if node_id in cache:
            return cache[node_id]
        found: DatasetVersion | None = None
        name, _, text = node_id.removeprefix("dataset:").rpartition("@")
        number = text.lstrip("v")
        if number.isdigit():
            try:
                found = self.store.get_dataset_version(name, int(number))
            except NotFound:  # removed versions stay resolvable for lineage
                try:
                    found = next(
                        (
                            v
                            for v in self.store.list_dataset_versions(name, include_removed=True)
                            if v.version == int(number)
                        ),
                        None,
                    )
                except NotFound:
                    found = None
        cache[node_id] = found
        return found

    def _remember(self, version: DatasetVersion) -> str:
        """Cache a version a lookup returned (removed ones too), so drawing its node costs no query."""
        node_id = dataset_node_id(version.name, version.version)
        self._by_id.setdefault(node_id, version)
        return node_id
