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

Upstream facts are direct lookups. Downstream questions ("which runs read churn@v3?") have no
index in the metadata store yet, so the builder scans once per graph: every run's inputs (one
paged search per project, without params or metrics), every model's versions and every dataset's
versions. That is fine for thousands of runs; an indexed store query replaces it when it matters.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.store.datasets import DatasetStore, DatasetVersion
from modelyard.store.interfaces import RunQuery
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
_PAGE = 1000


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

    # -- renderings -------------------------------------------------------------------------
    def to_mermaid(self) -> str:
        """A Mermaid flowchart (left to right, data flowing along the arrows)."""
        ids = {node_id: f"n{i}" for i, node_id in enumerate(self.nodes)}
        shapes = {
            "dataset_version": ("[(", ")]"),
            "run": ("[", "]"),
            "model_version": ("[[", "]]"),
            "alias": ("([", "])"),
            "state": ("{{", "}}"),
            "deployment": (">", "]"),
        }
        lines = ["flowchart LR"]
        for node_id, node in self.nodes.items():
            left, right = shapes.get(node.kind, ("[", "]"))
            label = _mermaid_text(node.label)
            lines.append(f'    {ids[node_id]}{left}"{label}"{right}')
        for edge in self.edges:
            label = edge.kind if edge.context is None else f"{edge.kind} ({edge.context})"
            lines.append(f'    {ids[edge.source]} -->|"{_mermaid_text(label)}"| {ids[edge.target]}')
        lines.append(f"    style {ids[self.root]} stroke-width:3px")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """Graphviz DOT text (``dot -Tsvg``)."""
        shapes = {
            "dataset_version": "cylinder",
            "run": "box",
            "model_version": "box3d",
            "alias": "ellipse",
            "state": "hexagon",
            "deployment": "cds",
        }
        lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
        for node_id, node in self.nodes.items():
            extra = ", penwidth=3" if node_id == self.root else ""
            shape = shapes.get(node.kind, "box")
            lines.append(f"  {_dot_quote(node_id)} [label={_dot_quote(node.label)}, shape={shape}{extra}];")
        for edge in self.edges:
            label = edge.kind if edge.context is None else f"{edge.kind} ({edge.context})"
            lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} [label={_dot_quote(label)}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_tree(self) -> Tree:
        """A rich Tree: the root, then what it came from (upstream) and what came from it."""
        from rich.markup import escape
        from rich.tree import Tree

        tree = Tree(_describe(self.nodes[self.root], escape, root=True))
        for title, step in (("upstream", self.upstream_of), ("downstream", self.downstream_of)):
            if not step(self.root):
                continue
            branch = tree.add(f"[bold]{title}[/]")
            self._grow(branch, self.root, step, title == "upstream", {self.root}, escape)
        if self.truncated:
            tree.add(f"[yellow]depth limit {self.depth} reached at {len(self.truncated)} node(s); use --depth[/]")
        return tree

    def _grow(self, branch: Tree, node_id: str, step: Any, upstream: bool, seen: set[str], escape: Any) -> None:
        for edge in step(node_id):
            other = edge.source if upstream else edge.target
            node = self.nodes[other]
            verb = _verb(edge, upstream)
            text = f"[dim]{escape(verb)}[/] {_describe(node, escape)}"
            if other in seen:
                branch.add(f"{text} [dim](shown above)[/]")
                continue
            seen.add(other)
            child = branch.add(text)
            self._grow(child, other, step, upstream, seen, escape)


def _verb(edge: LineageEdge, upstream: bool) -> str:
    context = f" ({edge.context})" if edge.context else ""
    if upstream:
        return {
            "derived_from": "derived from",
            "read_by": f"read{context}",
            "produced": "produced by",
            "parent_of": "child of",
            "alias": "aliased from",
        }.get(edge.kind, edge.kind)
    return {
        "derived_from": "derives",
        "read_by": f"read by{context}",
        "produced": "produced",
        "parent_of": "parent of",
        "alias": "known as",
    }.get(edge.kind, edge.kind)


def _describe(node: LineageNode, escape: Any, root: bool = False) -> str:
    a = node.attributes
    label = escape(node.label)
    if node.kind == "dataset_version":
        bits = [f"[bold cyan]dataset[/] {label}"]
        if a.get("digest"):
            bits.append(f"[dim]{escape(str(a['digest'])[:19])}[/]")
        if a.get("missing"):
            bits.append("[red](not in this store)[/]")
        elif a.get("removed"):
            bits.append("[yellow](removed)[/]")
        if a.get("params"):
            bits.append(escape(_short_params(a["params"])))
        return " ".join(bits)
    if node.kind == "run":
        bits = [f"[bold green]run[/] {label}"]
        if a.get("missing"):
            bits.append("[red](not in this store)[/]")
        if a.get("commit"):
            dirty = " [red]dirty[/]" if a.get("dirty_hash") else ""
            bits.append(f"commit {escape(str(a['commit'])[:10])}{dirty}")
        if a.get("environment"):
            bits.append(f"env {escape(str(a['environment'])[:19])}")
        if a.get("params"):
            bits.append(escape(_short_params(a["params"])))
        if a.get("reproduction_of"):
            bits.append(f"[dim]reproduces run {escape(str(a['reproduction_of'])[:12])}[/]")
        return " ".join(bits)
    if node.kind == "model_version":
        facts = escape(f"{a.get('state', '')} {a.get('flavor', '')}")
        return f"[bold magenta]model[/] {label} [dim]{facts}[/]"
    if node.kind == "state":
        return f"[bold yellow]state[/] {label}"
    return f"[bold]{escape(node.kind)}[/] {label}"


def _short_params(params: dict[str, Any], limit: int = 6) -> str:
    items = sorted(params.items())
    text = ", ".join(f"{k}={v}" for k, v in items[:limit])
    more = f", +{len(items) - limit}" if len(items) > limit else ""
    return f"params({text}{more})"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;").replace("\n", " ")


def _dot_quote(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid DOT quoted string


# -- the builder ----------------------------------------------------------------------------


@dataclass
class _DownstreamIndex:
    """Reverse edges the store has no query for yet (built once per graph, on first need)."""

    readers: dict[tuple[str, str], list[tuple[str, str | None]]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)  # parent run -> child runs
    versions_by_run: dict[str, list[ModelVersion]] = field(default_factory=dict)
    derived: dict[tuple[str, int], list[DatasetVersion]] = field(default_factory=dict)
    datasets_by_run: dict[str, list[DatasetVersion]] = field(default_factory=dict)


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
        self._index: _DownstreamIndex | None = None
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

    def _downstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == "dataset":
            dataset = self._dataset_from_id(node_id)
            if dataset is None:
                return
            index = self._downstream_index()
            for run_id, context in index.readers.get((dataset.name, f"v{dataset.version}"), []):
                yield LineageEdge(node_id, run_node_id(run_id), "read_by", context)
            for derived in index.derived.get((dataset.name, dataset.version), []):
                yield LineageEdge(node_id, dataset_node_id(derived.name, derived.version), "derived_from")
        elif kind == "run":
            index = self._downstream_index()
            for produced in index.versions_by_run.get(key, []):
                yield LineageEdge(node_id, model_node_id(produced.model_name, produced.version), "produced")
            for made in index.datasets_by_run.get(key, []):
                yield LineageEdge(node_id, dataset_node_id(made.name, made.version), "produced")
            for child in index.children.get(key, []):
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

    def _downstream_index(self) -> _DownstreamIndex:
        if self._index is not None:
            return self._index
        index = _DownstreamIndex()
        for run in self._all_runs():
            for item in run.inputs:
                version = item.version or ""
                if not version.startswith("v") and version.isdigit():
                    version = f"v{version}"
                index.readers.setdefault((item.name, version), []).append((run.id, item.context))
            if run.parent_run_id:
                index.children.setdefault(run.parent_run_id, []).append(run.id)
        if self.models is not None:
            for model in self.models.list_registered_models():
                for model_version in reversed(self.models.list_model_versions(model.name)):
                    if model_version.run_id:
                        index.versions_by_run.setdefault(model_version.run_id, []).append(model_version)
        if self.datasets is not None:
            for summary in self.datasets.list_datasets():
                for dataset in self.datasets.list_dataset_versions(summary.name, include_removed=True):
                    for parent in dataset.parents:
                        index.derived.setdefault((parent.name, parent.version), []).append(dataset)
                    if dataset.code and dataset.code.startswith(_RUN_CODE_PREFIX):
                        run_id = dataset.code[len(_RUN_CODE_PREFIX) :]
                        index.datasets_by_run.setdefault(run_id, []).append(dataset)
        self._index = index
        return index

    def _all_runs(self) -> Iterable[Run]:
        for project in self.tracking.list_projects():
            token: str | None = None
            while True:
                result = self.tracking.search_runs(
                    RunQuery(
                        project_ids=[project.id],
                        max_results=_PAGE,
                        page_token=token,
                        order_by=("start_time ASC",),
                        include_metrics=False,
                        include_params=False,
                        include_tags=False,
                    )
                )
                yield from result.runs
                token = result.next_page_token
                if not token:
                    break
