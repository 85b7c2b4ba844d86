"""The lineage graph of ``modelyard.lineage`` drawn as inline SVG: what the page can show of it
(nodes of projects the user may not read are left out) and where each node goes.

The graph itself is built by ``LineageBuilder`` (the one implementation, shared with the CLI);
this module only lays it out. Edges point downstream, so a node's column is the length of the
longest path reaching it (data flows left to right), and nodes within a column are ordered by the
mean position of their neighbours (two sweeps of the barycentre heuristic), which removes most
crossings in graphs of this shape. The drawing is plain SVG made on the server: no JavaScript, no
third-party graph library, and every node is a link to its page.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from modelyard.core.errors import NotFound
from modelyard.lineage import LineageBuilder, LineageGraph, LineageNode
from modelyard.server.app import Services
from modelyard.server.ui.catalog import dataset_url, model_url, run_url

NODE_W, NODE_H = 176, 44
GAP_X, GAP_Y = 56, 16
MARGIN = 12
#: A graph larger than this is cut to the nodes nearest the root (all of them stay in the table).
MAX_DRAWN_NODES = 150
UI_DEPTH = 6

_KIND_TITLES = {
    "dataset_version": "dataset",
    "run": "run",
    "model_version": "model",
    "alias": "alias",
    "state": "state",
    "deployment": "deployment",
    "feature_view": "feature view",
}


@dataclass
class DrawnNode:
    id: str
    kind: str
    label: str
    caption: str
    href: str | None
    root: bool
    x: int = 0
    y: int = 0
    width: int = NODE_W
    height: int = NODE_H

    @property
    def short_label(self) -> str:
        return self.label if len(self.label) <= 24 else self.label[:23] + "…"


@dataclass
class DrawnEdge:
    source: str
    target: str
    kind: str
    context: str | None
    path: str = ""

    @property
    def title(self) -> str:
        return self.kind if self.context is None else f"{self.kind} ({self.context})"


@dataclass
class LineageView:
    root: str
    nodes: list[DrawnNode] = field(default_factory=list)
    edges: list[DrawnEdge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    hidden: int = 0  # nodes of projects the user may not read
    not_drawn: int = 0  # nodes left out of the picture (over MAX_DRAWN_NODES); still in the table
    truncated: list[str] = field(default_factory=list)
    table: list[DrawnNode] = field(default_factory=list)  # every visible node, drawn or not
    all_edges: list[DrawnEdge] = field(default_factory=list)


def build_lineage(
    services: Services,
    reference: str,
    kind: Literal["model", "dataset"],
    readable: Callable[[str | None], bool],
    depth: int = UI_DEPTH,
) -> tuple[LineageGraph, LineageView]:
    """The graph around ``reference`` and its drawing for this user."""
    stores = services.stores
    builder = LineageBuilder.from_stores(stores)
    graph = builder.build(reference, kind=kind, direction="both", depth=depth)
    visible, hidden = _visible(graph, readable, _model_projects(builder))
    return visible, layout(visible, hidden)


def _model_projects(builder: LineageBuilder) -> Callable[[str], str | None]:
    """Model name -> project id (a registered model's project is the only scope it has)."""
    cache: dict[str, str | None] = {}

    def project_of(name: str) -> str | None:
        if name not in cache:
            try:
                cache[name] = builder.registry.get_registered_model(name).project_id if builder.registry else None
            except NotFound:  # a model gone since the walk: show nothing of it
                cache[name] = None
        return cache[name]

    return project_of


def _node_project(node: LineageNode, model_project: Callable[[str], str | None]) -> tuple[bool, str | None]:
    """(scoped, project id): datasets are store-wide; runs and models belong to a project."""
    a = node.attributes
    if node.kind == "run":
        return (not a.get("missing"), a.get("project_id"))
    if node.kind == "model_version":
        return True, model_project(str(a.get("name") or node.label.rpartition("@")[0]))
    if node.kind in ("alias", "state", "deployment"):
        return True, model_project(str(a.get("model") or node.label.rpartition("@")[0]))
    return False, None


def _visible(
    graph: LineageGraph, readable: Callable[[str | None], bool], model_project: Callable[[str], str | None]
) -> tuple[LineageGraph, int]:
    """The part of ``graph`` the user may see: nodes of unreadable projects removed, then
    whatever is no longer connected to the root (so nothing leaks through a hidden node)."""
    allowed = set()
    for node_id, node in graph.nodes.items():
        scoped, project_id = _node_project(node, model_project)
        if node_id == graph.root or not scoped or readable(project_id):
            allowed.add(node_id)
    neighbours: dict[str, set[str]] = {n: set() for n in allowed}
    for edge in graph.edges:
        if edge.source in allowed and edge.target in allowed:
            neighbours[edge.source].add(edge.target)
            neighbours[edge.target].add(edge.source)
    reached = {graph.root}
    queue = deque([graph.root])
    while queue:
        for other in neighbours.get(queue.popleft(), ()):
            if other not in reached:
                reached.add(other)
                queue.append(other)
    out = LineageGraph(root=graph.root, direction=graph.direction, depth=graph.depth)
    for node_id, node in graph.nodes.items():
        if node_id in reached:
            out.add_node(node)
    for edge in graph.edges:
        if edge.source in reached and edge.target in reached:
            out.add_edge(edge)
    out.truncated = [n for n in graph.truncated if n in reached]
    return out, len(graph.nodes) - len(out.nodes)


def node_href(node: LineageNode) -> str | None:
    a = node.attributes
    if a.get("missing"):
        return None
    if node.kind == "dataset_version" and a.get("name") and a.get("version") and not a.get("removed"):
        return dataset_url(str(a["name"]), int(a["version"]))
    if node.kind == "run" and a.get("id"):
        return run_url(str(a["id"]))
    if node.kind == "model_version" and a.get("name"):
        return model_url(str(a["name"]), int(a["version"]))
    if node.kind in ("alias", "state") and a.get("model"):
        return model_url(str(a["model"]))
    return None


def _caption(node: LineageNode) -> str:
    a = node.attributes
    title = _KIND_TITLES.get(node.kind, node.kind)
    if a.get("missing"):
        return f"{title} · not in this store"
    if node.kind == "dataset_version":
        files = a.get("file_count")
        return f"{title} · {files} file{'s' if files != 1 else ''}" + (" · removed" if a.get("removed") else "")
    if node.kind == "run":
        return f"{title} · {str(a.get('status', '')).lower()}"
    if node.kind == "model_version":
        return f"{title} · {a.get('state', '')} · {a.get('flavor', '')}"
    return title


def _drawn(node: LineageNode, root: str) -> DrawnNode:
    drawn = DrawnNode(node.id, node.kind, node.label, _caption(node), node_href(node), node.id == root)
    if node.kind in ("alias", "state"):  # "@champion" fits a box; the model is its neighbour
        model, _, value = node.label.rpartition("@")
        drawn.label, drawn.caption = f"@{value}", f"{drawn.caption} of {model}"
    return drawn


def _nearest(graph: LineageGraph, limit: int) -> set[str]:
    """The ``limit`` nodes closest to the root (undirected hops), for drawing huge graphs."""
    neighbours: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for edge in graph.edges:
        neighbours[edge.source].append(edge.target)
        neighbours[edge.target].append(edge.source)
    kept = [graph.root]
    seen = {graph.root}
    queue = deque([graph.root])
    while queue and len(kept) < limit:
        for other in neighbours[queue.popleft()]:
            if other not in seen and len(kept) < limit:
                seen.add(other)
                kept.append(other)
                queue.append(other)
    return seen


def _columns(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering; bounded so that a cycle (which lineage should never have) ends."""
    column = dict.fromkeys(ids, 0)
    for _ in range(len(ids)):
        changed = False
        for source, target in edges:
            if column[target] < column[source] + 1 <= len(ids):
                column[target] = column[source] + 1
                changed = True
        if not changed:
            break
    return column


def _order(layers: list[list[str]], edges: list[tuple[str, str]]) -> None:
    """Barycentre sweeps, in place: each node moves towards the mean row of its neighbours."""
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for source, target in edges:
        succs.setdefault(source, []).append(target)
        preds.setdefault(target, []).append(source)

    def sweep(order: range, neighbours: dict[str, list[str]], layer_of: Callable[[int], int]) -> None:
        for i in order:
            position = {n: idx for idx, n in enumerate(layers[layer_of(i)])}
            layer = layers[i]

            def centre(node: str, fallback: int, position: dict[str, int] = position) -> float:
                near = [position[n] for n in neighbours.get(node, []) if n in position]
                return sum(near) / len(near) if near else float(fallback)

            keyed = [(centre(n, idx), idx, n) for idx, n in enumerate(layer)]
            layers[i] = [n for _, _, n in sorted(keyed)]

    for _ in range(2):
        sweep(range(1, len(layers)), preds, lambda i: i - 1)
        sweep(range(len(layers) - 2, -1, -1), succs, lambda i: i + 1)


def layout(graph: LineageGraph, hidden: int = 0, max_nodes: int = MAX_DRAWN_NODES) -> LineageView:
    """Positions for every drawn node and an SVG path for every drawn edge."""
    view = LineageView(root=graph.root, hidden=hidden, truncated=list(graph.truncated))
    view.table = sorted(
        (_drawn(n, graph.root) for n in graph.nodes.values()),
        key=lambda d: (list(_KIND_TITLES).index(d.kind) if d.kind in _KIND_TITLES else 99, d.label),
    )
    view.all_edges = [DrawnEdge(e.source, e.target, e.kind, e.context) for e in graph.edges]
    keep = _nearest(graph, max_nodes) if len(graph.nodes) > max_nodes else set(graph.nodes)
    view.not_drawn = len(graph.nodes) - len(keep)
    ids = [n for n in graph.nodes if n in keep]
    pairs = [(e.source, e.target) for e in graph.edges if e.source in keep and e.target in keep]
    column = _columns(ids, pairs)
    layers: list[list[str]] = [[] for _ in range(max(column.values(), default=0) + 1)]
    for node_id in sorted(ids, key=lambda n: (graph.nodes[n].kind, graph.nodes[n].label)):
        layers[column[node_id]].append(node_id)
    _order(layers, pairs)
    tallest = max((len(layer) for layer in layers), default=1)
    view.width = MARGIN * 2 + len(layers) * NODE_W + (len(layers) - 1) * GAP_X
    view.height = MARGIN * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y
    drawn: dict[str, DrawnNode] = {}
    for col, layer in enumerate(layers):
        offset = (tallest - len(layer)) * (NODE_H + GAP_Y) // 2
        for row, node_id in enumerate(layer):
            node = _drawn(graph.nodes[node_id], graph.root)
            node.x = MARGIN + col * (NODE_W + GAP_X)
            node.y = MARGIN + offset + row * (NODE_H + GAP_Y)
            drawn[node_id] = node
    view.nodes = list(drawn.values())
    for edge in graph.edges:
        if edge.source in drawn and edge.target in drawn:
            a, b = drawn[edge.source], drawn[edge.target]
            x1, y1 = a.x + a.width, a.y + a.height // 2
            x2, y2 = b.x, b.y + b.height // 2
            bend = max(30, (x2 - x1) // 2)
            path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2 - 4},{y2}"
            view.edges.append(DrawnEdge(edge.source, edge.target, edge.kind, edge.context, path))
    return view


def neighbours_of(
    graph: LineageGraph, node_id: str, kind: str, *, downstream: bool, edge_kind: str
) -> list[tuple[LineageNode, str | None]]:
    """Nodes of ``kind`` one ``edge_kind`` hop from ``node_id`` (with the edge's context)."""
    out: list[tuple[LineageNode, str | None]] = []
    for edge in graph.edges:
        if edge.kind != edge_kind:
            continue
        near, far = (edge.source, edge.target) if downstream else (edge.target, edge.source)
        if near == node_id and far in graph.nodes and graph.nodes[far].kind == kind:
            out.append((graph.nodes[far], edge.context))
    return out
