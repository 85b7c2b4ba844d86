"""Nested runs in the UI: children (tuning trials, autologged search candidates) grouped under
their parent in the runs table, listed on the parent's run page, and the parent named on a child's.

A child is a run whose ``parent_run_id`` is set. Without a filter the runs table pages over
top-level runs only (``parent_run_id IS NULL``) and fetches the children of the page's runs with
one more ``search_runs`` (``parent_run_id IN (...)``, ordered by parent then the table's order), so
a page costs two queries however many children there are. With a filter every matching run is a
candidate: a match whose parent is on the page is nested under it (the children query then carries
the filter too, so a parent lists only its matching children); a match whose parent is elsewhere
is a row of its own that names its parent (one query for those names). One level is nested: a
grandchild is listed on its parent's run page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from modelyard.core.errors import NotFound
from modelyard.core.tracking import Run, RunQuery
from modelyard.server.app import Services
from modelyard.server.ui._common import url_with

TOP_LEVEL_FILTER = "parent_run_id IS NULL"
#: Children fetched for one page of the table; past it the last parents say "N+".
PAGE_CHILDREN_LIMIT = 2_000
#: Children listed on a run page; the rest are one click away in the filtered runs table.
RUN_PAGE_CHILDREN_LIMIT = 200
#: Metric columns of the children list on a run page.
CHILD_METRIC_COLUMNS = 6


def quote_string(value: str) -> str:
    """A string literal of the filter language (a backslash escapes the quote and itself)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def children_filter(parent_run_id: str) -> str:
    return f"parent_run_id = {quote_string(parent_run_id)}"


def children_url(project_name: str, parent_run_id: str) -> str:
    """The runs table filtered to one run's children (works without JavaScript)."""
    from urllib.parse import quote

    return url_with(f"/ui/projects/{quote(project_name, safe='')}", [("filter", children_filter(parent_run_id))])


@dataclass
class Row:
    """One top-level row of the runs table and what is nested under it."""

    run: Run
    children: list[Run] = field(default_factory=list)
    children_complete: bool = True  # False: there are more children than fetched ("N+")
    parent_name: str | None = None  # a child shown as a row of its own: its parent's name
    children_link: str = ""  # the filtered table of this run's children


def page_filter(user_filter: str) -> str:
    """What the table searches: the user's filter, or top-level runs only."""
    return user_filter or TOP_LEVEL_FILTER


def group_page(
    services: Services,
    project_id: str,
    project_name: str,
    runs: Sequence[Run],
    *,
    user_filter: str,
    order: str,
) -> list[Row]:
    """The page's rows: ``runs`` (one page of the search) with their children nested."""
    if not runs:
        return []
    on_page = {run.id for run in runs}
    ids = ", ".join(quote_string(run.id) for run in runs)
    condition = f"parent_run_id IN ({ids})"
    if user_filter:
        condition = f"({user_filter}) AND {condition}"
    result = services.stores.tracking.search_runs(
        RunQuery(
            project_ids=[project_id],
            filter=condition,
            order_by=("parent_run_id ASC", order),
            max_results=PAGE_CHILDREN_LIMIT,
        )
    )
    by_parent: dict[str, list[Run]] = {}
    for child in result.runs:
        by_parent.setdefault(child.parent_run_id or "", []).append(child)
    # Children come ordered by parent id: when the limit cut them, the last parent fetched may have
    # more, and parents after it were not reached at all.
    last_parent = result.runs[-1].parent_run_id or "" if result.next_page_token and result.runs else None

    rows: list[Row] = []
    orphans: list[Row] = []
    for run in runs:
        if run.parent_run_id and run.parent_run_id in on_page:
            continue  # listed under its parent
        complete = last_parent is None or run.id < last_parent
        row = Row(run, by_parent.get(run.id, []), complete, children_link=children_url(project_name, run.id))
        if run.parent_run_id:
            orphans.append(row)
        rows.append(row)
    if orphans:
        names = parent_names(services, project_id, {row.run.parent_run_id or "" for row in orphans})
        for row in orphans:
            parent_id = row.run.parent_run_id or ""
            row.parent_name = names.get(parent_id) or parent_id[:12]
    return rows


def parent_names(services: Services, project_id: str, parent_ids: set[str]) -> dict[str, str]:
    """Run names of ``parent_ids`` in one query (deleted runs included; unnamed runs: short id)."""
    ids = ", ".join(quote_string(i) for i in sorted(parent_ids))
    result = services.stores.tracking.search_runs(
        RunQuery(
            project_ids=[project_id],
            filter=f"run_id IN ({ids})",
            max_results=max(len(parent_ids), 1),
            lifecycle=None,
            include_metrics=False,
            include_params=False,
            include_tags=False,
        )
    )
    return {run.id: run.name or run.id[:12] for run in result.runs}


@dataclass
class Children:
    """A run page's list of children: the first ones, how many there are, their metric columns."""

    runs: list[Run]
    total: int
    metric_keys: list[str]
    all_url: str


def run_children(services: Services, run: Run, project_name: str) -> Children:
    """The children of ``run`` for its page, oldest first (trial order)."""
    result = services.stores.tracking.search_runs(
        RunQuery(
            project_ids=[run.project_id],
            filter=children_filter(run.id),
            order_by=("start_time ASC",),
            max_results=RUN_PAGE_CHILDREN_LIMIT,
        )
    )
    total = len(result.runs)
    if result.next_page_token:
        total = len(services.stores.tracking.list_child_runs(run.id))
    keys = sorted({k for child in result.runs for k in child.metrics})
    return Children(result.runs, total, keys[:CHILD_METRIC_COLUMNS], children_url(project_name, run.id))


def parent_of(services: Services, run: Run) -> Run | None:
    """The parent run of ``run`` (None without one, or when it is gone)."""
    if not run.parent_run_id:
        return None
    try:
        return services.stores.tracking.get_run(run.parent_run_id)
    except NotFound:
        return None
