"""Nested runs in a real browser (Debian's Chromium through Playwright) against a live server:
a parent's toggle in the runs table shows and hides its child runs, the parent's run page lists
them, and a child's page links its parent by name. Seed: seed_nested.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.server import ServerConfig, create_app
from modelyard.tracking.service import TrackingService
from tests.browser.conftest import LiveServer, start_server
from tests.browser.seed import ensure_ui
from tests.browser.seed_nested import PROJECT, Nested, seed_nested
from tests.fixtures.stores import joined_store

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]


@pytest.fixture(scope="module")
def nested_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Nested]]:
    root = tmp_path_factory.mktemp("browser-nested")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    tracking = TrackingService(store, artifacts)
    nested = seed_nested(tracking, plain=4)
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=store.stores)), tracking, None)
    yield server, nested
    server.stop()
    store.close()


def visible_names(page: Any) -> list[str]:
    """Run names of the rows of the runs table the user can see, top to bottom."""
    return list(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('#runs-table tbody tr'))
                .filter(tr => tr.offsetParent !== null)
                .map(tr => tr.querySelector('td.name a').textContent.trim())"""
        )
    )


def test_expanding_a_parent_shows_its_children(
    new_page: NewPage, nested_server: tuple[LiveServer, Nested], screenshot: Shot
) -> None:
    server, nested = nested_server
    page = new_page(server.url)
    page.goto(f"/ui/projects/{PROJECT}")
    collapsed = visible_names(page)
    assert collapsed[:3] == ["solo", "sweep-b", "sweep-a"] and len(collapsed) == 3 + 4
    toggle = page.locator(f'#runs-table a.toggle[data-run="{nested.ids["sweep-a"]}"]')
    assert toggle.inner_text().strip() == "▸ 3" and toggle.get_attribute("aria-expanded") == "false"

    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    expanded = visible_names(page)
    at = expanded.index("sweep-a")
    assert expanded[at + 1 : at + 4] == nested.children["sweep-a"][::-1]  # in the table's order: newest first
    assert "sweep-b-trial-0" not in expanded  # the other parent stays collapsed
    assert page.url.endswith(f"/ui/projects/{PROJECT}")  # expanded in place, no navigation
    screenshot(page, "30-nested-runs")

    child_box = page.locator(f'#runs-table input[name=runs][value="{nested.ids["sweep-a-trial-0"]}"]')
    child_box.check()
    page.locator(f'#runs-table input[name=runs][value="{nested.ids["solo"]}"]').check()
    assert page.locator("#compare-button").is_enabled()  # children can be compared like any run

    toggle.click()
    assert visible_names(page) == collapsed
    assert not child_box.is_checked()  # hiding a row drops it from the selection


def test_parent_page_lists_children_and_a_child_links_its_parent_by_name(
    new_page: NewPage, nested_server: tuple[LiveServer, Nested], screenshot: Shot
) -> None:
    server, nested = nested_server
    page = new_page(server.url)
    page.goto(f"/ui/projects/{PROJECT}")
    page.locator("#runs-table").get_by_role("link", name="sweep-b", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/runs/\w+$"))
    children = page.locator("#children-table tbody tr")
    assert children.count() == 2
    assert [children.nth(i).locator("td.name a").inner_text() for i in range(2)] == nested.children["sweep-b"]
    assert page.locator("#children-table thead").inner_text().count("cv_score") == 1
    screenshot(page, "31-parent-run")

    page.locator("#children-table").get_by_role("link", name="sweep-b-trial-1").click()
    page.wait_for_url(re.compile(rf"/ui/runs/{nested.ids['sweep-b-trial-1']}$"))
    parent = page.locator("#parent-link")
    assert parent.inner_text() == "sweep-b"
    parent.click()
    page.wait_for_url(re.compile(rf"/ui/runs/{nested.ids['sweep-b']}$"))
    assert page.locator("h1").inner_text().startswith("sweep-b")


def test_a_filter_shows_a_matching_child_with_its_parent_name(
    new_page: NewPage, nested_server: tuple[LiveServer, Nested]
) -> None:
    server, nested = nested_server
    page = new_page(server.url)
    page.goto(f"/ui/projects/{PROJECT}")
    page.fill("#filter", "metrics.cv_score > 0.75")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile(r"filter="))
    assert visible_names(page) == ["sweep-b-trial-1"]
    note = page.locator("#runs-table .parent-note a.parent-link")
    assert note.inner_text() == "sweep-b"
    note.click()
    page.wait_for_url(re.compile(rf"/ui/runs/{nested.ids['sweep-b']}$"))
