"""The feature store's lineage: feature view versions, the dataset version each reads (a view
whose source is a dataset), and the training sets (dataset versions) built from them.

Edges, read from the upstream end: ``dataset -> feature_view`` (``read_by``: the view reads the
dataset version), ``feature_view -> dataset`` (``derived_from``: the training set was derived from
the view version). The second is recorded by the feature store when a training set is saved and
looked up both ways by index; the first is a fact of the view's definition, yielded upstream of
the view (a source dataset does not index the views that read it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.lineage.graph import LineageEdge, LineageNode, dataset_node_id
from modelyard.lineage.providers import LineageProvider

if TYPE_CHECKING:
    from modelyard.core.features import FeatureViewVersion
    from modelyard.store.features import FeatureStore

__all__ = ["FeatureLineage", "feature_view_node_id"]

PREFIX = "feature_view"


def feature_view_node_id(name: str, version: int) -> str:
    return f"{PREFIX}:{name}@v{version}"


class FeatureLineage(LineageProvider):
    prefixes = (PREFIX,)

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self._by_id: dict[str, FeatureViewVersion | None] = {}

    def version(self, node_id: str) -> FeatureViewVersion | None:
        if node_id in self._by_id:
            return self._by_id[node_id]
        found: FeatureViewVersion | None = None
        name, _, text = node_id.removeprefix(f"{PREFIX}:").rpartition("@")
        number = text.lstrip("v")
        if number.isdigit():
            try:
                found = self.store.get_view(name, int(number))
            except (NotFound, InvalidArgument):
                found = None
        self._by_id[node_id] = found
        return found

    def node(self, node_id: str, hints: Mapping[str, Any]) -> LineageNode | None:
        view = self.version(node_id)
        if view is None:
            return None
        d = view.definition
        return LineageNode(
            node_id,
            "feature_view",
            view.ref,
            {
                "name": view.name,
                "version": view.version,
                "digest": view.digest,
                "created_at": view.created_at,
                "entities": list(d.entities),
                "join_keys": list(view.join_keys),
                "features": [f"{f.name}:{f.dtype}" for f in d.features],
                "source": f"{d.source.kind}:{d.source.location}",
                "ttl_seconds": d.ttl_seconds,
            },
        )

    def upstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == PREFIX:
            view = self.version(node_id)
            if view is not None and view.definition.source.kind == "dataset":
                name, _, version = view.definition.source.location.rpartition("@")
                yield LineageEdge(dataset_node_id(name, version), node_id, "read_by")
        elif kind == "dataset":
            name, _, text = key.rpartition("@")
            number = text.lstrip("v")
            if number.isdigit():
                for link in self.store.list_views_of_training_set(name, int(number)):
                    yield LineageEdge(feature_view_node_id(link.view, link.view_version), node_id, "derived_from")

    def downstream(self, node_id: str) -> Iterator[LineageEdge]:
        if not node_id.startswith(f"{PREFIX}:"):
            return
        view = self.version(node_id)
        if view is None:
            return
        for link in self.store.list_training_sets_of_view(view.name, view.version):
            yield LineageEdge(node_id, dataset_node_id(link.dataset, link.dataset_version), "derived_from")
