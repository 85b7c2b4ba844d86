"""Lineage providers: one per subsystem, each answering for the facts its own store holds.

The builder (``lineage/builder.py``) knows no subsystem: it asks every provider for the edges
into and out of a node and asks the provider that owns a node's prefix to draw it. A subsystem
that adds nodes (serving: deployments; features: feature views) adds a provider here and passes
it to the builder; nothing else changes.

An edge between two subsystems is yielded by the provider whose store records it: a run's inputs
are tracking facts, so the tracking provider yields ``dataset -> run`` edges both ways; a model
version's run is a registry fact, so the registry provider yields ``run -> model`` edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from modelyard.core.errors import NotFound
from modelyard.lineage.graph import LineageEdge, LineageNode

__all__ = ["LineageProvider"]


class LineageProvider:
    """What one subsystem contributes to the lineage graph. Every method has a default, so a
    provider implements only what its store knows."""

    #: Node id prefixes whose nodes this provider draws (``("dataset",)``).
    prefixes: ClassVar[tuple[str, ...]] = ()
    #: The ``kind`` of root reference it resolves (``"model"``, ``"dataset"``, ``"run"``), if any.
    root_kind: ClassVar[str | None] = None

    def resolve(self, reference: str) -> str:
        """The node id ``reference`` names (NotFound or InvalidArgument when it names none)."""
        raise NotFound(f"{reference!r}: nothing to resolve here")

    def node(self, node_id: str, hints: Mapping[str, Any]) -> LineageNode | None:
        """The node drawn for an id with one of ``prefixes``; None when the store has no such
        thing (the builder then draws it as missing, with ``hints``)."""
        return None

    def hints(self, node_id: str) -> Mapping[str, Any]:
        """Facts this provider saw about a node it does not own (a run's record of an input)."""
        return {}

    def upstream(self, node_id: str) -> Iterable[LineageEdge]:
        """Edges into ``node_id`` that this provider's store records."""
        return ()

    def downstream(self, node_id: str) -> Iterable[LineageEdge]:
        """Edges out of ``node_id`` that this provider's store records."""
        return ()
