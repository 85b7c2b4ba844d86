"""The lineage graph: dataset versions -> runs -> model versions -> aliases and states.

Everything needed is already recorded as small facts in the metadata store; this module only
walks them:

* a dataset version's ``parents`` (the versions it was derived from) and its ``code`` (``run:<id>``
  when it was added inside a run);
* a run's ``inputs`` (the dataset versions it read, with their digests and context), its parent
  run, its code commit, dirty hash, environment digest and params (tags and params);
* a model version's ``run_id``, its state and its aliases.

Every edge points **downstream**, the way data flows, and its kind reads from the upstream end:

==============  =======================  ===========================================
kind            from -> to               reads
==============  =======================  ===========================================
``derived_from``  parent dataset -> child  the child was derived from the parent
``read_by``       dataset -> run           the run read the dataset (``context`` kept)
``produced``      run -> model version     the run registered the model version
``produced``      run -> dataset version   the dataset version was added inside the run
``parent_of``     run -> child run         a nested run (tuning trials, steps)
``alias``         model version -> alias   an alias or a state (production, staging)
==============  =======================  ===========================================

Walking **upstream** from a node follows edges backwards (a model version's run, that run's
inputs and parent, a dataset's parents and the run that added it); walking **downstream** follows
them forwards (runs that read a dataset, versions and datasets a run produced, child runs,
aliases). The walk is breadth-first and bounded by ``depth`` hops; nodes whose neighbours were cut
off by the bound are listed in ``truncated``.

Upstream facts are direct lookups. Downstream questions ("which runs read churn@v3?", "what did
this run register?") are the stores' reverse lookups (``find_runs_by_input``, ``list_child_runs``,
``list_model_versions_by_run``, ``list_dataset_versions_derived_from``,
``list_dataset_versions_by_run``), one indexed query per node reached, so the cost of a graph
follows its size, not the size of the store. (The builder used to scan every run, model and
dataset per graph; the lookups return what that scan found, in the same order.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any, Literal

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.registry.lineage_text import graph_to_dot, graph_to_mermaid, graph_to_tree
from modelyard.store.datasets import DatasetStore, DatasetVersion
from modelyard.store.models import ModelRegistryStore, ModelState, ModelVersion
from modelyard.tracking import sysinfo

if TYPE_CHECKING:
    from rich.tree import Tree

    from modelyard.core.entities import Run, RunInput
    from modelyard.store.interfaces import MetadataStore

__all__ = [
    "EDGE_KINDS",
    "NODE_KINDS",
    "TAG_REPRODUCTION_OF",
    "LineageBuilder",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "dataset_node_id",
    "model_node_id",
    "run_node_id",
]

NodeKind = Literal["dataset_version", "run", "model_version", "alias", "state", "deployment"]
EdgeKind = Literal["derived_from", "read_by", "produced", "parent_of", "alias"]
Direction = Literal["upstream", "downstream", "both"]
RootKind = Literal["model", "dataset", "run"]
NODE_KINDS: tuple[str, ...] = ("dataset_version", "run", "model_version", "alias", "state", "deployment")
EDGE_KINDS: tuple[str, ...] = ("derived_from", "read_by", "produced", "parent_of", "alias")
DEFAULT_DEPTH = 10
MAX_DEPTH = 100
_RUN_CODE_PREFIX = "run:"
#: Tag set on runs started by ``modelyard reproduce``: the id of the run being reproduced.
TAG_REPRODUCTION_OF = "modelyard.reproduction_of"


def dataset_node_id(name: str, version: int | str | None) -> str:
    text = "" if version is None else str(version)
    if text and not text.startswith("v"):
        text = f"v{text}"
    return f"dataset:{name}@{text or '?'}"


def run_node_id(run_id: str) -> str:
    return f"run:{run_id}"


def model_node_id(name: str, version: int) -> str:
    return f"model:{name}@{version}"


@dataclass(frozen=True)
class LineageNode:
    id: str
    kind: str
    label: str
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "attributes": self.attributes}


@dataclass(frozen=True)
class LineageEdge:
    source: str  # the upstream end
    target: str  # the downstream end
    kind: str
    context: str | None = None  # read_by: the input's context (training, evaluation...)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.source, "to": self.target, "kind": self.kind}
        if self.context is not None:
            out["context"] = self.context
        return out


@dataclass
class LineageGraph:
    """Nodes and edges reached from ``root``; ``to_dict`` is the ``--json`` shape."""

    root: str
    direction: str
    depth: int
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    _edge_keys: set[tuple[str, str, str, str | None]] = field(default_factory=set, repr=False)

    def add_node(self, node: LineageNode) -> None:
        self.nodes.setdefault(node.id, node)

    def add_edge(self, edge: LineageEdge) -> None:
        key = (edge.source, edge.target, edge.kind, edge.context)
        if key not in self._edge_keys:
            self._edge_keys.add(key)
            self.edges.append(edge)

    def upstream_of(self, node_id: str) -> list[LineageEdge]:
        return [e for e in self.edges if e.target == node_id]

    def downstream_of(self, node_id: str) -> list[LineageEdge]:
        return [e for e in self.edges if e.source == node_id]

    def nodes_of_kind(self, kind: str) -> list[LineageNode]:
        return [n for n in self.nodes.values() if n.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "direction": self.direction,
            "depth": self.depth,
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "edges": [e.to_dict() for e in self.edges],
            "truncated": list(self.truncated),
        }

    # -- renderings (registry/lineage_text.py) -----------------------------------------------
    def to_mermaid(self) -> str:
        """A Mermaid flowchart (left to right, data flowing along the arrows)."""
        return graph_to_mermaid(self)

    def to_dot(self) -> str:
        """Graphviz DOT text (``dot -Tsvg``)."""
        return graph_to_dot(self)

    def to_tree(self) -> Tree:
        """A rich Tree: the root, then what it came from (upstream) and what came from it."""
        return graph_to_tree(self)


# -- the builder ----------------------------------------------------------------------------


class LineageBuilder:
    """Builds a ``LineageGraph`` from the metadata store's aggregates.

    ``datasets`` and ``models`` are the dataset and registry interfaces of the store (the SQL
    store implements both; a store without them simply contributes no such nodes)."""

    def __init__(
        self,
        tracking: MetadataStore,
        *,
        datasets: DatasetStore | None = None,
        models: ModelRegistryStore | None = None,
    ) -> None:
        self.tracking = tracking
        self.datasets = datasets
        self.models = models
        self._downstream_edges: dict[str, list[LineageEdge]] = {}
        self._runs: dict[str, Run | None] = {}
        self._datasets_by_id: dict[str, DatasetVersion | None] = {}
        self._models_by_id: dict[str, ModelVersion | None] = {}
        self._input_facts: dict[str, dict[str, Any]] = {}  # what a run recorded of an input not in the store

    @classmethod
    def for_store(cls, store: MetadataStore) -> LineageBuilder:
        """A builder over one store that implements the dataset and registry interfaces too."""
        return cls(
            store,
            datasets=store if isinstance(store, DatasetStore) else None,
            models=store if isinstance(store, ModelRegistryStore) else None,
        )

    # -- entry points -----------------------------------------------------------------------
    def resolve_root(self, reference: str, kind: RootKind | None = None) -> str:
        """The node id a reference names. Without ``kind`` the reference may be a model version
        (``NAME@3``, ``NAME@champion``, ``NAME@production``) or a dataset version (``NAME@v3``,
        ``NAME@latest``); if it names both, InvalidArgument asks for ``kind``."""
        if kind is not None and kind not in ("model", "dataset", "run"):
            raise InvalidArgument(f"unknown lineage kind {kind!r}; expected model, dataset or run")
        if kind == "run" or (kind is None and reference.startswith("run:")):
            run_id = reference.removeprefix("run:")
            self.tracking.get_run(run_id)
            return run_node_id(run_id)
        found: dict[str, str] = {}
        errors: dict[str, NotFound | InvalidArgument] = {}
        if kind in (None, "model"):
            try:
                version = self._resolve_model(reference)
                found["model"] = model_node_id(version.model_name, version.version)
            except (NotFound, InvalidArgument) as exc:
                errors["model"] = exc
        if kind in (None, "dataset"):
            try:
                dataset = self._resolve_dataset(reference)
                found["dataset"] = dataset_node_id(dataset.name, dataset.version)
            except (NotFound, InvalidArgument) as exc:
                errors["dataset"] = exc
        if len(found) == 2:
            raise InvalidArgument(
                f"{reference!r} names both a model version and a dataset version; pass --kind model or --kind dataset"
            )
        if found:
            return next(iter(found.values()))
        if kind is not None:
            raise errors[kind]
        raise NotFound(
            f"{reference!r} names no model version ({errors['model']}) and no dataset version ({errors['dataset']})"
        )

    def build(
        self,
        reference: str,
        *,
        kind: RootKind | None = None,
        direction: Direction = "both",
        depth: int = DEFAULT_DEPTH,
    ) -> LineageGraph:
        """The graph around ``reference`` (see ``resolve_root``), ``depth`` hops each way."""
        if direction not in ("upstream", "downstream", "both"):
            raise InvalidArgument(f"unknown direction {direction!r}; expected upstream, downstream or both")
        if not isinstance(depth, int) or depth < 0 or depth > MAX_DEPTH:
            raise InvalidArgument(f"depth must be an integer from 0 to {MAX_DEPTH}, got {depth!r}")
        root = self.resolve_root(reference, kind)
        graph = LineageGraph(root=root, direction=direction, depth=depth)
        graph.add_node(self._node(root))
        if direction in ("upstream", "both"):
            self._walk(graph, root, depth, upstream=True)
        if direction in ("downstream", "both"):
            self._walk(graph, root, depth, upstream=False)
        return graph

    # -- the walk ---------------------------------------------------------------------------
    def _walk(self, graph: LineageGraph, root: str, depth: int, *, upstream: bool) -> None:
        queue: deque[tuple[str, int]] = deque([(root, 0)])
        seen = {root}
        while queue:
            node_id, hops = queue.popleft()
            edges = list(self._upstream(node_id) if upstream else self._downstream(node_id))
            if hops >= depth:
                if edges and node_id not in graph.truncated:
                    graph.truncated.append(node_id)
                continue
            for edge in edges:
                other = edge.source if upstream else edge.target
                graph.add_node(self._node(other))
                graph.add_edge(edge)
                if other not in seen:
                    seen.add(other)
                    queue.append((other, hops + 1))

    def _upstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == "model":
            version = self._model_version(node_id)
            if version is not None and version.run_id:
                yield LineageEdge(run_node_id(version.run_id), node_id, "produced")
        elif kind == "run":
            run = self._run(key)
            if run is None:
                return
            for item in run.inputs:
                yield LineageEdge(self._input_node_id(item), node_id, "read_by", item.context)
            if run.parent_run_id:
                yield LineageEdge(run_node_id(run.parent_run_id), node_id, "parent_of")
        elif kind == "dataset":
            dataset = self._dataset_from_id(node_id)
            if dataset is None:
                return
            for parent in dataset.parents:
                yield LineageEdge(dataset_node_id(parent.name, parent.version), node_id, "derived_from")
            if dataset.code and dataset.code.startswith(_RUN_CODE_PREFIX):
                yield LineageEdge(run_node_id(dataset.code[len(_RUN_CODE_PREFIX) :]), node_id, "produced")
        elif kind in ("alias", "state"):
            name, _, _ = key.rpartition("@")
            number = self._alias_target(node_id)
            if number is not None:
                yield LineageEdge(model_node_id(name, number), node_id, "alias")

    def _downstream(self, node_id: str) -> list[LineageEdge]:
        """The edges out of ``node_id``, from the stores' reverse lookups (asked once per node)."""
        if node_id not in self._downstream_edges:
            self._downstream_edges[node_id] = list(self._downstream_lookup(node_id))
        return self._downstream_edges[node_id]

    def _downstream_lookup(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == "dataset":
            dataset = self._dataset_from_id(node_id)
            if dataset is None:
                return
            for reader in self.tracking.find_runs_by_input(dataset.name, dataset.version):
                yield LineageEdge(node_id, run_node_id(reader.run_id), "read_by", reader.context)
            if self.datasets is not None:
                for derived in self.datasets.list_dataset_versions_derived_from(dataset.name, dataset.version):
                    yield LineageEdge(node_id, self._remember_dataset(derived), "derived_from")
        elif kind == "run":
            if self.models is not None:
                for produced in self._model_versions_by_run(key):
                    yield LineageEdge(node_id, self._remember_model(produced), "produced")
            if self.datasets is not None:
                for made in self.datasets.list_dataset_versions_by_run(key):
                    yield LineageEdge(node_id, self._remember_dataset(made), "produced")
            for child in self._child_runs(key):
                yield LineageEdge(node_id, run_node_id(child), "parent_of")
        elif kind == "model":
            model = self._model_version(node_id)
            if model is None:
                return
            if model.state in (ModelState.PRODUCTION, ModelState.STAGING):
                yield LineageEdge(node_id, f"state:{model.model_name}@{model.state.value}", "alias")
            for alias in sorted(model.aliases):
                yield LineageEdge(node_id, f"alias:{model.model_name}@{alias}", "alias")

    # -- nodes ------------------------------------------------------------------------------
    def _node(self, node_id: str) -> LineageNode:
        kind, _, key = node_id.partition(":")
        if kind == "dataset":
            return self._dataset_node(node_id, key)
        if kind == "run":
            return self._run_node(node_id, key)
        if kind == "model":
            version = self._model_version(node_id)
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

    def _dataset_node(self, node_id: str, key: str) -> LineageNode:
        dataset = self._dataset_from_id(node_id)
        if dataset is None:
            return LineageNode(node_id, "dataset_version", key, {"missing": True, **self._input_facts.get(node_id, {})})
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

    def _run_node(self, node_id: str, run_id: str) -> LineageNode:
        run = self._run(run_id)
        if run is None:
            return LineageNode(node_id, "run", run_id[:12], {"id": run_id, "missing": True})
        tags = run.tags
        return LineageNode(
            node_id,
            "run",
            f"{run.id[:12]}" + (f" {run.name}" if run.name else ""),
            {
                "id": run.id,
                "name": run.name,
                "project_id": run.project_id,
                "status": run.status.value,
                "lifecycle_stage": run.lifecycle_stage.value,
                "start_time": run.start_time,
                "end_time": run.end_time,
                "parent_run_id": run.parent_run_id,
                "commit": tags.get(sysinfo.TAG_GIT_COMMIT),
                "dirty_hash": tags.get(sysinfo.TAG_GIT_DIRTY_HASH),
                "repo": tags.get(sysinfo.TAG_GIT_REPO),
                "entry_point": tags.get(sysinfo.TAG_ENTRY_POINT),
                "environment": tags.get(sysinfo.TAG_ENVIRONMENT),
                "python": tags.get(sysinfo.TAG_PYTHON),
                "params": dict(run.params),
                "reproduction_of": tags.get(TAG_REPRODUCTION_OF),
            },
        )

    # -- lookups (cached per builder) -----------------------------------------------------
    def _input_node_id(self, item: RunInput) -> str:
        version = item.version
        if (not version or not version.lstrip("v").isdigit()) and item.digest and self.datasets is not None:
            try:
                matches = self.datasets.find_dataset_versions(item.name, item.digest)
            except (NotFound, InvalidArgument):
                matches = []
            if matches:
                version = f"v{matches[-1].version}"
        node_id = dataset_node_id(item.name, version)
        self._input_facts.setdefault(
            node_id, {"name": item.name, "version": item.version, "digest": item.digest, "source": item.source}
        )
        return node_id

    def _run(self, run_id: str) -> Run | None:
        if run_id not in self._runs:
            try:
                self._runs[run_id] = self.tracking.get_run(run_id)
            except NotFound:
                self._runs[run_id] = None
        return self._runs[run_id]

    def _resolve_model(self, reference: str) -> ModelVersion:
        from modelyard.registry.uri import parse_model_ref

        if self.models is None:
            raise NotFound("this store has no model registry")
        ref = parse_model_ref(reference)
        if ref.kind == "version":
            return self.models.get_model_version(ref.name, ref.version)
        if ref.kind == "alias":
            return self.models.get_model_version(ref.name, self.models.get_model_alias(ref.name, ref.value))
        states = [ModelState(ref.value)] if ref.kind == "state" else None
        versions = [
            v
            for v in self.models.list_model_versions(ref.name, states)
            if v.state is not ModelState.DECOMMISSIONED or states
        ]
        if not versions:
            raise NotFound(f"model {ref.name!r} has no version matching {ref.value}")
        return versions[0]

    def _resolve_dataset(self, reference: str) -> DatasetVersion:
        from modelyard.data.refs import parse_ref

        if self.datasets is None:
            raise NotFound("this store keeps no datasets")
        parsed = parse_ref(reference)
        if parsed.version is not None:
            return self.datasets.get_dataset_version(parsed.name, parsed.version)
        if parsed.digest_prefix is not None:
            found = self.datasets.find_dataset_versions(parsed.name, parsed.digest_prefix)
            if not found:
                raise NotFound(
                    f"no version of dataset {parsed.name!r} has a digest starting with {parsed.digest_prefix!r}"
                )
            return found[-1]
        return self.datasets.get_latest_dataset_version(parsed.name)

    def _dataset_from_id(self, node_id: str) -> DatasetVersion | None:
        cache = self._datasets_by_id
        if node_id in cache:
            return cache[node_id]
        found: DatasetVersion | None = None
        name, _, text = node_id.removeprefix("dataset:").rpartition("@")
        number = text.lstrip("v")
        if self.datasets is not None and number.isdigit():
            try:
                found = self.datasets.get_dataset_version(name, int(number))
            except NotFound:  # removed versions stay resolvable for lineage
                try:
                    found = next(
                        (
                            v
                            for v in self.datasets.list_dataset_versions(name, include_removed=True)
                            if v.version == int(number)
                        ),
                        None,
                    )
                except NotFound:
                    found = None
        cache[node_id] = found
        return found

    def _model_version(self, node_id: str) -> ModelVersion | None:
        cache = self._models_by_id
        if node_id in cache:
            return cache[node_id]
        found: ModelVersion | None = None
        name, _, number = node_id.removeprefix("model:").rpartition("@")
        if self.models is not None and number.isdigit():
            try:
                found = self.models.get_model_version(name, int(number))
            except NotFound:
                found = None
        cache[node_id] = found
        return found

    def _alias_target(self, node_id: str) -> int | None:
        kind, _, key = node_id.partition(":")
        name, _, value = key.rpartition("@")
        if self.models is None:
            return None
        try:
            if kind == "state":
                versions = self.models.list_model_versions(name, [ModelState(value)])
                return versions[0].version if versions else None
            return self.models.get_model_alias(name, value)
        except (NotFound, ValueError):
            return None

    def _model_versions_by_run(self, run_id: str) -> list[ModelVersion]:
        """Oldest first within each model (the store lists each model's versions newest first)."""
        assert self.models is not None
        try:
            found = self.models.list_model_versions_by_run(run_id)
        except NotFound:  # a server with auth on answers 404 for a run it does not have
            return []
        return [v for _, versions in groupby(found, key=lambda v: v.model_name) for v in reversed(list(versions))]

    def _child_runs(self, run_id: str) -> list[str]:
        try:
            return [link.run_id for link in self.tracking.list_child_runs(run_id)]
        except NotFound:  # as above
            return []

    def _remember_dataset(self, version: DatasetVersion) -> str:
        """Cache a version a lookup returned (removed ones too), so drawing its node costs no query."""
        node_id = dataset_node_id(version.name, version.version)
        self._datasets_by_id.setdefault(node_id, version)
        return node_id

    def _remember_model(self, version: ModelVersion) -> str:
        node_id = model_node_id(version.model_name, version.version)
        self._models_by_id.setdefault(node_id, version)
        return node_id
