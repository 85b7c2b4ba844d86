"""Text renderings of a lineage graph: Mermaid, Graphviz DOT and the CLI's rich tree.

Split from ``graph.py`` and ``builder.py`` (which build the graph) because drawing is a separate
concern with its own vocabulary (shapes, verbs, one-line node descriptions);
``LineageGraph.to_mermaid``, ``to_dot`` and ``to_tree`` call these.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.tree import Tree

    from modelyard.lineage.graph import LineageEdge, LineageGraph, LineageNode

__all__ = ["graph_to_dot", "graph_to_mermaid", "graph_to_tree"]


def graph_to_mermaid(graph: LineageGraph) -> str:
    """A Mermaid flowchart (left to right, data flowing along the arrows)."""
    ids = {node_id: f"n{i}" for i, node_id in enumerate(graph.nodes)}
    shapes = {
        "dataset_version": ("[(", ")]"),
        "run": ("[", "]"),
        "model_version": ("[[", "]]"),
        "alias": ("([", "])"),
        "state": ("{{", "}}"),
        "deployment": (">", "]"),
        "feature_view": ("[/", "/]"),
    }
    lines = ["flowchart LR"]
    for node_id, node in graph.nodes.items():
        left, right = shapes.get(node.kind, ("[", "]"))
        label = _mermaid_text(node.label)
        lines.append(f'    {ids[node_id]}{left}"{label}"{right}')
    for edge in graph.edges:
        label = edge.kind if edge.context is None else f"{edge.kind} ({edge.context})"
        lines.append(f'    {ids[edge.source]} -->|"{_mermaid_text(label)}"| {ids[edge.target]}')
    lines.append(f"    style {ids[graph.root]} stroke-width:3px")
    return "\n".join(lines) + "\n"


def graph_to_dot(graph: LineageGraph) -> str:
    """Graphviz DOT text (``dot -Tsvg``)."""
    shapes = {
        "dataset_version": "cylinder",
        "run": "box",
        "model_version": "box3d",
        "alias": "ellipse",
        "state": "hexagon",
        "deployment": "cds",
        "feature_view": "tab",
    }
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node_id, node in graph.nodes.items():
        extra = ", penwidth=3" if node_id == graph.root else ""
        shape = shapes.get(node.kind, "box")
        lines.append(f"  {_dot_quote(node_id)} [label={_dot_quote(node.label)}, shape={shape}{extra}];")
    for edge in graph.edges:
        label = edge.kind if edge.context is None else f"{edge.kind} ({edge.context})"
        lines.append(f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_to_tree(graph: LineageGraph) -> Tree:
    """A rich Tree: the root, then what it came from (upstream) and what came from it."""
    from rich.markup import escape
    from rich.tree import Tree

    tree = Tree(_describe(graph.nodes[graph.root], escape, root=True))
    for title, step in (("upstream", graph.upstream_of), ("downstream", graph.downstream_of)):
        if not step(graph.root):
            continue
        branch = tree.add(f"[bold]{title}[/]")
        _grow(graph, branch, graph.root, step, title == "upstream", {graph.root}, escape)
    if graph.truncated:
        tree.add(f"[yellow]depth limit {graph.depth} reached at {len(graph.truncated)} node(s); use --depth[/]")
    return tree


def _grow(
    graph: LineageGraph, branch: Tree, node_id: str, step: Any, upstream: bool, seen: set[str], escape: Any
) -> None:
    for edge in step(node_id):
        other = edge.source if upstream else edge.target
        node = graph.nodes[other]
        verb = _verb(edge, upstream)
        text = f"[dim]{escape(verb)}[/] {_describe(node, escape)}"
        if other in seen:
            branch.add(f"{text} [dim](shown above)[/]")
            continue
        seen.add(other)
        child = branch.add(text)
        _grow(graph, child, other, step, upstream, seen, escape)


def _verb(edge: LineageEdge, upstream: bool) -> str:
    context = f" ({edge.context})" if edge.context else ""
    if upstream:
        return {
            "derived_from": "derived from",
            "read_by": f"read{context}",
            "produced": "produced by",
            "parent_of": "child of",
            "alias": "aliased from",
            "used_by": "used",
        }.get(edge.kind, edge.kind)
    return {
        "derived_from": "derives",
        "read_by": f"read by{context}",
        "produced": "produced",
        "parent_of": "parent of",
        "alias": "known as",
        "used_by": "used by",
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
