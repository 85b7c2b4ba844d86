"""The model registry's lineage: model versions, the run that produced each, and the aliases and
states (production, staging) that point at them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import groupby
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import NotFound
from modelyard.core.registry import ModelState
from modelyard.lineage.graph import LineageEdge, LineageNode, model_node_id, run_node_id
from modelyard.lineage.providers import LineageProvider

if TYPE_CHECKING:
    from modelyard.core.registry import ModelVersion
    from modelyard.store.models import ModelRegistryStore

__all__ = ["RegistryLineage"]


class RegistryLineage(LineageProvider):
    prefixes = ("model", "alias", "state")
    root_kind = "model"

    def __init__(self, store: ModelRegistryStore) -> None:
        self.store = store
        self._by_id: dict[str, ModelVersion | None] = {}

    def resolve(self, reference: str) -> str:
        version = self._resolve(reference)
        return model_node_id(version.model_name, version.version)

    def _resolve(self, reference: str) -> ModelVersion:
        from modelyard.registry.uri import parse_model_ref

        ref = parse_model_ref(reference)
        if ref.kind == "version":
            return self.store.get_model_version(ref.name, ref.version)
        if ref.kind == "alias":
            return self.store.get_model_version(ref.name, self.store.get_model_alias(ref.name, ref.value))
        states = [ModelState(ref.value)] if ref.kind == "state" else None
        versions = [
            v
            for v in self.store.list_model_versions(ref.name, states)
            if v.state is not ModelState.DECOMMISSIONED or states
        ]
        if not versions:
            raise NotFound(f"model {ref.name!r} has no version matching {ref.value}")
        return versions[0]

    def node(self, node_id: str, hints: Mapping[str, Any]) -> LineageNode:
        kind, _, key = node_id.partition(":")
        if kind == "model":
            version = self.version(node_id)
            if version is None:
                return LineageNode(node_id, "model_version", key, {"missing": True})
            return LineageNode(
                node_id,
                "model_version",
                f"{version.model_name}@{version.version}",
                {
                    "name": version.model_name,
                    "version": version.version,
                    "state": version.state.value,
                    "flavor": version.flavor,
                    "manifest_digest": version.manifest_digest,
                    "run_id": version.run_id,
                    "created_at": version.created_at,
                    "created_by": version.created_by,
                    "aliases": list(version.aliases),
                },
            )
        name, _, value = key.rpartition("@")
        node_kind = "state" if kind == "state" else "alias"
        return LineageNode(node_id, node_kind, key, {"model": name, node_kind: value})

    def upstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == "model":
            version = self.version(node_id)
            if version is not None and version.run_id:
                yield LineageEdge(run_node_id(version.run_id), node_id, "produced")
        elif kind in ("alias", "state"):
            name, _, _ = key.rpartition("@")
            number = self._alias_target(node_id)
            if number is not None:
                yield LineageEdge(model_node_id(name, number), node_id, "alias")

    def downstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == "run":
            for produced in self._versions_by_run(key):
                yield LineageEdge(node_id, self._remember(produced), "produced")
        elif kind == "model":
            model = self.version(node_id)
            if model is None:
                return
            if model.state in (ModelState.PRODUCTION, ModelState.STAGING):
                yield LineageEdge(node_id, f"state:{model.model_name}@{model.state.value}", "alias")
            for alias in sorted(model.aliases):
                yield LineageEdge(node_id, f"alias:{model.model_name}@{alias}", "alias")

    def version(self, node_id: str) -> ModelVersion | None:
        """The model version a ``model:`` node id names, cached per walk."""
        cache = self._by_id
        if node_id in cache:
            return cache[node_id]
        found: ModelVersion | None = None
        name, _, number = node_id.removeprefix("model:").rpartition("@")
        if number.isdigit():
            try:
                found = self.store.get_model_version(name, int(number))
            except NotFound:
                found = None
        cache[node_id] = found
        return found

    def _alias_target(self, node_id: str) -> int | None:
        kind, _, key = node_id.partition(":")
        name, _, value = key.rpartition("@")
        try:
            if kind == "state":
                versions = self.store.list_model_versions(name, [ModelState(value)])
                return versions[0].version if versions else None
            return self.store.get_model_alias(name, value)
        except (NotFound, ValueError):
            return None

    def _versions_by_run(self, run_id: str) -> list[ModelVersion]:
        """Oldest first within each model (the store lists each model's versions newest first)."""
        try:
            found = self.store.list_model_versions_by_run(run_id)
        except NotFound:  # a server with auth on answers 404 for a run it does not have
            return []
        return [v for _, versions in groupby(found, key=lambda v: v.model_name) for v in reversed(list(versions))]

    def _remember(self, version: ModelVersion) -> str:
        node_id = model_node_id(version.model_name, version.version)
        self._by_id.setdefault(node_id, version)
        return node_id
