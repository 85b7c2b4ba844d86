"""The lineage graph: dataset versions -> runs -> model versions -> aliases and states, read
across the subsystems.

A reader in the layers: it imports the subsystems (through one provider each, in
``providers/``) and none imports it. ``LineageBuilder`` walks, ``LineageGraph`` is the result,
``text.py`` draws it as Mermaid, DOT or a rich tree.
"""

from __future__ import annotations

from modelyard.lineage.builder import TAG_REPRODUCTION_OF, LineageBuilder
from modelyard.lineage.graph import (
    DEFAULT_DEPTH,
    EDGE_KINDS,
    MAX_DEPTH,
    NODE_KINDS,
    LineageEdge,
    LineageGraph,
    LineageNode,
    dataset_node_id,
    model_node_id,
    run_node_id,
)
from modelyard.lineage.providers import LineageProvider

__all__ = [
    "DEFAULT_DEPTH",
    "EDGE_KINDS",
    "MAX_DEPTH",
    "NODE_KINDS",
    "TAG_REPRODUCTION_OF",
    "LineageBuilder",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LineageProvider",
    "dataset_node_id",
    "model_node_id",
    "run_node_id",
]
