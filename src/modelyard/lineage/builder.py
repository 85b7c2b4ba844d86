"""The lineage graph: dataset versions -> runs -> model versions -> aliases and states.

Everything needed is already recorded as small facts in the stores; the builder only walks
them, through one provider per subsystem (``lineage/providers/``: data, tracking, registry), so a
subsystem that adds nodes adds a provider, not a branch here:

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
``used_by``       model version -> run     the run predicted with it (batch scoring)
==============  =======================  ===========================================

Walking **upstream** from a node follows edges backwards (a model version's run, that run's
inputs and parent, a dataset's parents and the run that added it); walking **downstream** follows
them forwards (runs that read a dataset, versions and datasets a run produced, child runs,
aliases). The walk is breadth-first and bounded by ``depth`` hops; nodes whose neighbours were cut
off by the bound are listed in ``truncated``. Edges into and out of a node are the union of what
the providers yield, in one fixed order (by edge kind, then by the kind of node at the other end),
so the graph does not depend on the order providers are given in.

Upstream facts are direct lookups. Downstream questions ("which runs read churn@v3?", "what did
this run register?") are the stores' reverse lookups (``find_runs_by_input``, ``list_child_runs``,
``list_model_versions_by_run``, ``list_dataset_versions_derived_from``,
``list_dataset_versions_by_run``), one indexed query per node reached, so the cost of a graph
follows its size, not the size of the store. (The builder used to scan every run, model and
dataset per graph; the lookups return what that scan found, in the same order.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.lineage.graph import (
    DEFAULT_DEPTH,
    MAX_DEPTH,
    PREFIX_KINDS,
    Direction,
    LineageEdge,
    LineageGraph,
    LineageNode,
    RootKind,
)
from modelyard.lineage.providers import LineageProvider
from modelyard.lineage.providers.data import DataLineage
from modelyard.lineage.providers.features import FeatureLineage
from modelyard.lineage.providers.registry import RegistryLineage
from modelyard.lineage.providers.tracking import TrackingLineage
from modelyard.tracking import sysinfo

if TYPE_CHECKING:
    from modelyard.store.datasets import DatasetStore
    from modelyard.store.features import FeatureStore
    from modelyard.store.interfaces import TrackingStore
    from modelyard.store.models import ModelRegistryStore

__all__ = ["TAG_REPRODUCTION_OF", "LineageBuilder"]  # the package's __init__ is the public list

#: Tag set on runs started by ``modelyard reproduce``: the id of the run being reproduced.
TAG_REPRODUCTION_OF = sysinfo.TAG_REPRODUCTION_OF
ROOT_KINDS = ("model", "dataset", "run")
_NO_STORE = {"model": "this store has no model registry", "dataset": "this store keeps no datasets"}
# The fixed order of a node's edges (see the module docstring); anything unlisted comes last.
_UPSTREAM_SOURCES = ("dataset", "run", "model", "alias", "state")
_DOWNSTREAM_KINDS = ("read_by", "produced", "derived_from", "parent_of", "alias", "used_by")
_DOWNSTREAM_TARGETS = ("model", "dataset", "state", "alias", "run")


def _rank(order: Sequence[str], value: str) -> int:
    return order.index(value) if value in order else len(order)


class _StoresLike(Protocol):
    """The part of the ``Stores`` bundle the builder reads."""

    @property
    def tracking(self) -> TrackingStore: ...
    @property
    def datasets(self) -> DatasetStore: ...
    @property
    def registry(self) -> ModelRegistryStore: ...
    @property
    def features(self) -> FeatureStore: ...


# -- the builder ----------------------------------------------------------------------------


class LineageBuilder:
    """Builds a ``LineageGraph`` from the subsystems' stores, one provider each.

    ``tracking`` is required (runs); without ``datasets`` or ``registry`` those nodes are simply
    not found. ``providers`` adds subsystems' providers beyond the three built in (serving's
    deployments, features' views). A builder caches what it read: use one per request."""

    def __init__(
        self,
        tracking: TrackingStore,
        *,
        datasets: DatasetStore | None = None,
        registry: ModelRegistryStore | None = None,
        providers: Iterable[LineageProvider] = (),
    ) -> None:
        self.tracking = tracking
        self.datasets = datasets
        self.registry = registry
        data = DataLineage(datasets) if datasets is not None else None
        built: list[LineageProvider] = [TrackingLineage(tracking, data=data)]
        if registry is not None:
            built.append(RegistryLineage(registry))
        if data is not None:
            built.append(data)
        self.providers: list[LineageProvider] = [*built, *providers]
        self._owners = {prefix: p for p in reversed(self.providers) for prefix in p.prefixes}
        self._roots = {p.root_kind: p for p in reversed(self.providers) if p.root_kind is not None}
        self._downstream_edges: dict[str, list[LineageEdge]] = {}

    @classmethod
    def from_stores(cls, stores: _StoresLike, *, providers: Iterable[LineageProvider] = ()) -> LineageBuilder:
        """A builder over a ``Stores`` bundle (anything with ``tracking``, ``datasets``,
        ``registry`` and ``features``): the feature store's provider is added to ``providers``."""
        built = [FeatureLineage(stores.features)]
        return cls(stores.tracking, datasets=stores.datasets, registry=stores.registry, providers=[*built, *providers])

    # -- entry points -----------------------------------------------------------------------
    def resolve_root(self, reference: str, kind: RootKind | None = None) -> str:
        """The node id a reference names. Without ``kind`` the reference may be a model version
        (``NAME@3``, ``NAME@champion``, ``NAME@production``) or a dataset version (``NAME@v3``,
        ``NAME@latest``); if it names both, InvalidArgument asks for ``kind``."""
        if kind is not None and kind not in ROOT_KINDS:
            raise InvalidArgument(f"unknown lineage kind {kind!r}; expected model, dataset or run")
        if kind == "run" or (kind is None and reference.startswith("run:")):
            return self._roots["run"].resolve(reference)
        found: dict[str, str] = {}
        errors: dict[str, NotFound | InvalidArgument] = {}
        for candidate in ("model", "dataset"):
            if kind not in (None, candidate):
                continue
            provider = self._roots.get(candidate)
            try:
                if provider is None:
                    raise NotFound(_NO_STORE[candidate])
                found[candidate] = provider.resolve(reference)
            except (NotFound, InvalidArgument) as exc:
                errors[candidate] = exc
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

    def _upstream(self, node_id: str) -> list[LineageEdge]:
        edges = [edge for provider in self.providers for edge in provider.upstream(node_id)]
        return sorted(edges, key=lambda e: _rank(_UPSTREAM_SOURCES, e.source.partition(":")[0]))

    def _downstream(self, node_id: str) -> list[LineageEdge]:
        """The edges out of ``node_id``, from the stores' reverse lookups (asked once per node)."""
        if node_id not in self._downstream_edges:
            self._downstream_edges[node_id] = list(self._downstream_lookup(node_id))
        return self._downstream_edges[node_id]

    def _downstream_lookup(self, node_id: str) -> list[LineageEdge]:
        edges = [edge for provider in self.providers for edge in provider.downstream(node_id)]
        return sorted(
            edges,
            key=lambda e: (_rank(_DOWNSTREAM_KINDS, e.kind), _rank(_DOWNSTREAM_TARGETS, e.target.partition(":")[0])),
        )

    # -- nodes ------------------------------------------------------------------------------
    def _node(self, node_id: str) -> LineageNode:
        prefix, _, key = node_id.partition(":")
        hints: dict[str, Any] = {}
        for provider in self.providers:
            hints.update(provider.hints(node_id))
        owner = self._owners.get(prefix)
        node = owner.node(node_id, hints) if owner is not None else None
        if node is None:
            return LineageNode(node_id, PREFIX_KINDS.get(prefix, prefix), key, {"missing": True, **hints})
        return node
