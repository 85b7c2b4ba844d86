"""The lineage graph's vocabulary: node ids, nodes, edges and the graph a walk collects.

Node ids are ``<prefix>:<key>`` (``dataset:churn@v3``, ``run:<id>``, ``model:churn@2``,
``alias:churn@champion``, ``state:churn@production``); the prefix says which provider draws the
node. Every edge points downstream, the way data flows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelyard.lineage.text import graph_to_dot, graph_to_mermaid, graph_to_tree

if TYPE_CHECKING:
    from rich.tree import Tree

__all__ = [
    "DEFAULT_DEPTH",
    "EDGE_KINDS",
    "MAX_DEPTH",
    "NODE_KINDS",
    "PREFIX_KINDS",
    "Direction",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "RootKind",
    "dataset_node_id",
    "model_node_id",
    "run_node_id",
]

NodeKind = Literal["dataset_version", "run", "model_version", "alias", "state", "deployment", "feature_view"]
EdgeKind = Literal["derived_from", "read_by", "produced", "parent_of", "alias", "used_by"]
Direction = Literal["upstream", "downstream", "both"]
RootKind = Literal["model", "dataset", "run"]
NODE_KINDS: tuple[str, ...] = (
    "dataset_version",
    "run",
    "model_version",
    "alias",
    "state",
    "deployment",
    "feature_view",
)
EDGE_KINDS: tuple[str, ...] = ("derived_from", "read_by", "produced", "parent_of", "alias", "used_by")
DEFAULT_DEPTH = 10
MAX_DEPTH = 100
#: Node id prefix -> the node kind drawn for it (a node no provider can find is drawn as missing).
PREFIX_KINDS: dict[str, str] = {
    "dataset": "dataset_version",
    "run": "run",
    "model": "model_version",
    "alias": "alias",
    "state": "state",
    "deployment": "deployment",
    "feature_view": "feature_view",
}


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

    # -- renderings (lineage/text.py) -----------------------------------------------
    def to_mermaid(self) -> str:
        """A Mermaid flowchart (left to right, data flowing along the arrows)."""
        return graph_to_mermaid(self)

    def to_dot(self) -> str:
        """Graphviz DOT text (``dot -Tsvg``)."""
        return graph_to_dot(self)

    def to_tree(self) -> Tree:
        """A rich Tree: the root, then what it came from (upstream) and what came from it."""
        return graph_to_tree(self)
