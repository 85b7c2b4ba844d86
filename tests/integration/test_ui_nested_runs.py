"""Nested runs in the web UI over HTTP (no browser): children grouped under their parent in the
runs table (hidden until expanded, one query for all the children of a page), a filter that
matches a child whose parent is elsewhere, the children list on a run page and the parent named
on a child's page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from modelyard.artifacts import open_artifact_store
from modelyard.server import ServerConfig, create_app
from modelyard.tracking.service import TrackingService
from tests.browser.seed import ensure_ui
from tests.browser.seed_nested import PROJECT, Nested, seed_nested
from tests.fixtures.stores import joined_store


class Site:
    def __init__(self, client: TestClient, nested: Nested, store: Any) -> None:
        self.client, self.nested, self.store = client, nested, store

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        assert response.status_code == 200, response.text[:500]
        return response


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-nested")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    tracking = TrackingService(store, artifacts)
    nested = seed_nested(tracking, plain=30)
    app = ensure_ui(create_app(ServerConfig(), stores=store.stores))
    with TestClient(app) as client:
        yield Site(client, nested, store)
    store.close()


def table_rows(html: str) -> list[tuple[str, str, bool]]:
    """(kind, run name, hidden) of each row of the runs table: kind is ``top`` or ``child``."""
    body = html.split('id="runs-table"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for tag, cells in re.findall(r"(<tr[^>]*>)(.*?)</tr>", body, flags=re.S):
        name = re.search(r'<td class="name[^"]*">(?:<span[^>]*>[^<]*</span> )?<a [^>]*>([^<]*)</a>', cells)
        if name is None:
            continue
        rows.append(("child" if 'class="child' in tag else "top", unescape(name.group(1)), " hidden" in tag))
    return rows


def toggle_count(html: str, run_id: str) -> str:
    match = re.search(
        rf'<a class="toggle" [^>]*data-run="{run_id}"[^>]*>.*?<span class="child-count">([^<]*)</span>',
        html,
        flags=re.S,
    )
    assert match, f"no toggle for {run_id}"
    return match.group(1)


def test_children_are_nested_under_their_parent_and_hidden(site: Site) -> None:
    html = site.get(f"/ui/projects/{PROJECT}").text
    rows = table_rows(html)
    top = [name for kind, name, _ in rows if kind == "top"]
    assert top[:3] == ["solo", "sweep-b", "sweep-a"]  # newest first, no trial among the top rows
    assert not any(name.startswith("sweep-") and "trial" in name for name in top)
    for sweep in ("sweep-a", "sweep-b"):
        start = [name for _, name, _ in rows].index(sweep)
        children = rows[start + 1 : start + 1 + len(site.nested.children[sweep])]
        assert {name for _, name, _ in children} == set(site.nested.children[sweep])
        assert all(kind == "child" and hidden for kind, _, hidden in children)
        assert toggle_count(html, site.nested.ids[sweep]) == str(len(site.nested.children[sweep]))
    assert 'data-run="{}"'.format(site.nested.ids["solo"]) not in html  # no toggle without children


def test_paging_counts_top_level_runs_only(site: Site) -> None:
    first = site.get(f"/ui/projects/{PROJECT}?size=25").text
    assert len([r for r in table_rows(first) if r[0] == "top"]) == 25
    next_url = unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    second = site.get(next_url).text
    top = [name for kind, name, _ in table_rows(second) if kind == "top"]
    assert len(top) == 33 - 25  # 30 plain + 2 sweeps + solo
    assert all(name.startswith("plain-") for name in top)
    assert 'rel="next"' not in second


def test_one_query_fetches_the_children_of_every_parent_on_the_page(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []
    original = site.store.stores.tracking.search_runs

    def counting(query: Any) -> Any:
        calls.append(query.filter)
        return original(query)

    monkeypatch.setattr(site.store.stores.tracking, "search_runs", counting)
    site.get(f"/ui/projects/{PROJECT}?size=200")
    assert len(calls) == 2, calls  # the page, then the children of all its runs
    assert "IN" in (calls[1] or "")


def test_a_filter_matching_a_child_shows_it_with_its_parent_name(site: Site) -> None:
    html = site.get(f"/ui/projects/{PROJECT}", params={"filter": "metrics.cv_score > 0.75"}).text
    rows = table_rows(html)
    # only sweep-b's trial 1 (0.8) scores above 0.75; sweep-b itself has no score
    assert [(kind, name) for kind, name, _ in rows] == [("top", "sweep-b-trial-1")]
    note = re.search(
        r'<span class="parent-note muted">child of <a class="parent-link" href="([^"]+)"[^>]*>([^<]*)</a>', html
    )
    assert note and note.group(2) == "sweep-b" and note.group(1) == f"/ui/runs/{site.nested.ids['sweep-b']}"


def test_a_filter_matching_parent_and_children_nests_only_matching_children(site: Site) -> None:
    html = site.get(f"/ui/projects/{PROJECT}", params={"filter": "name LIKE 'sweep-a%'", "order": "name ASC"}).text
    rows = table_rows(html)
    assert [(kind, name) for kind, name, _ in rows] == [("top", "sweep-a")] + [
        ("child", name) for name in site.nested.children["sweep-a"]
    ]
    html = site.get(f"/ui/projects/{PROJECT}", params={"filter": "name = 'sweep-a' OR metrics.cv_score > 0.55"}).text
    assert toggle_count(html, site.nested.ids["sweep-a"]) == "2"  # trials 1 and 2 match, trial 0 does not
    names = [name for _, name, _ in table_rows(html)]
    assert "sweep-a-trial-0" not in names and names.count("sweep-a-trial-1") == 1


def test_the_toggle_links_to_the_children_without_javascript(site: Site) -> None:
    html = site.get(f"/ui/projects/{PROJECT}").text
    href = re.search(rf'<a class="toggle" href="([^"]+)" data-run="{site.nested.ids["sweep-a"]}"', html).group(1)
    children = site.get(unescape(href)).text
    names = {name for kind, name, _ in table_rows(children) if kind == "top"}
    assert names == set(site.nested.children["sweep-a"])
    assert children.count('class="parent-link"') == len(names)


def test_run_page_lists_the_children_with_their_metrics(site: Site) -> None:
    html = site.get(f"/ui/runs/{site.nested.ids['sweep-a']}").text
    section = html.split('id="children"', 1)[1].split("</section>", 1)[0]
    names = [unescape(n) for n in re.findall(r'<td class="name"><a href="/ui/runs/\w+"[^>]*>([^<]*)</a>', section)]
    assert names == site.nested.children["sweep-a"]  # oldest first
    assert '<th class="num">cv_score</th>' in section
    assert re.findall(r'<td class="num" title="([^"]+)"', section) == ["0.5", "0.6", "0.7"]
    assert 'Child runs <span class="muted count">3</span>' in section


def test_child_page_links_its_parent_by_name(site: Site) -> None:
    child = site.nested.ids["sweep-b-trial-0"]
    html = site.get(f"/ui/runs/{child}").text
    link = re.search(r'<a id="parent-link" href="([^"]+)"[^>]*>([^<]*)</a>', html)
    assert link and link.group(2) == "sweep-b" and link.group(1) == f"/ui/runs/{site.nested.ids['sweep-b']}"
    assert 'id="children"' not in html


def test_a_run_without_children_or_parent_shows_neither(site: Site) -> None:
    html = site.get(f"/ui/runs/{site.nested.ids['solo']}").text
    assert 'id="children"' not in html and "Parent run" not in html
