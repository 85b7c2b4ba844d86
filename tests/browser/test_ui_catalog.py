"""The dataset and model pages in a real browser (Debian's Chromium through Playwright) against a
live server: a model version's card, evaluation plots drawn by plotly and the lineage graph (with
a click through to a dataset version); a dataset version's profile charts; comparing two
versions; a model's state timeline. Seed: seed_catalog.py. Screenshots: test-artifacts/screenshots/."""

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
from tests.browser.seed_catalog import Catalog, seed_catalog
from tests.fixtures.stores import joined_store

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Catalog]]:
    root = tmp_path_factory.mktemp("browser-catalog")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    tracking = TrackingService(store, artifacts)
    catalog = seed_catalog(tracking, root / "work")
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=store.stores)), tracking, None)
    yield server, catalog
    server.stop()
    store.close()


def drawn(page: Any, selector: str) -> dict[str, Any]:
    """What plotly drew in a figure div: its traces (type and point counts) and the SVG it made."""
    result: dict[str, Any] = page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            return {
                state: el.dataset.state,
                svg: el.querySelectorAll('.main-svg').length,
                traces: (el.data || []).map(t => ({type: t.type, x: (t.x || []).length,
                                                   z: (t.z || []).length, y: Array.from(t.y || [])})),
            };
        }""",
        selector,
    )
    return result


def test_model_version_page_shows_card_plots_and_lineage(
    new_page: NewPage, catalog_server: tuple[LiveServer, Catalog], screenshot: Shot
) -> None:
    server, _ = catalog_server
    page = new_page(server.url)
    page.goto("/ui/")
    page.locator("nav.sections").get_by_role("link", name="Models").click()
    page.wait_for_url(re.compile(r"/ui/models$"))
    page.locator("#models-table").get_by_role("link", name="churn-model", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/models/churn-model$"))
    page.locator("#versions-table").get_by_role("link", name="v1", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/models/churn-model@1$"))

    card = page.locator("#model-card")
    assert card.locator('[data-field="intended_use"]').inner_text() == "Rank customers by churn risk."
    assert card.locator("#training-data").get_by_role("link", name="customers-clean").count() == 1

    roc = page.locator("#figure-eval-roc")
    roc.scroll_into_view_if_needed()
    page.wait_for_selector("#figure-eval-roc[data-state=ready] .main-svg")
    curve = drawn(page, "#figure-eval-roc")
    assert curve["svg"] >= 1 and curve["traces"][0]["x"] > 10  # the ROC curve, not an empty axis
    assert page.locator("#figure-eval-roc .scatterlayer path.js-line").count() >= 1
    page.wait_for_selector("#figure-eval-confusion_matrix[data-state=ready] .main-svg")
    matrix = drawn(page, "#figure-eval-confusion_matrix")
    assert matrix["traces"][0]["type"] == "heatmap" and matrix["traces"][0]["z"] == 2

    graph = page.locator("#lineage-graph")
    graph.scroll_into_view_if_needed()
    nodes = graph.locator("g.node")
    assert nodes.count() >= 7
    assert graph.locator('g.node.root[data-node-id="model:churn-model@1"]').count() == 1
    assert graph.locator('path.edge[data-to="alias:churn-model@champion"]').count() == 1
    assert graph.locator('g.node[data-node-id="dataset:customers-clean@v1"] rect').bounding_box()["width"] > 0
    screenshot(page, "20-model-version")

    graph.locator('g.node[data-node-id="dataset:customers-clean@v1"] a').click()
    page.wait_for_url(re.compile(r"/ui/datasets/customers-clean@v1$"))
    assert page.locator("h1").inner_text().startswith("customers-clean@v1")
    assert page.locator('#lineage-graph g.node.root[data-node-id="dataset:customers-clean@v1"]').count() == 1


def test_dataset_version_profile_is_charted(
    new_page: NewPage, catalog_server: tuple[LiveServer, Catalog], screenshot: Shot
) -> None:
    server, _ = catalog_server
    page = new_page(server.url)
    page.goto("/ui/datasets")
    page.locator("#datasets-table").get_by_role("link", name="v2").click()
    page.wait_for_url(re.compile(r"/ui/datasets/customers@v2$"))
    page.locator("nav.tabs").get_by_role("link", name="Profile").click()
    page.wait_for_url(re.compile(r"tab=profile"))
    assert "Profiled 500 rows" in page.locator("#profile-scope").inner_text()

    page.wait_for_selector("#figure-nulls[data-state=ready] .main-svg")
    age = '#profile-charts .figure[aria-label="age (numeric)"]'
    page.wait_for_selector(f"{age}[data-state=ready] .main-svg")
    histogram = drawn(page, age)
    assert histogram["traces"][0]["type"] == "bar" and sum(histogram["traces"][0]["y"]) == 500
    assert page.locator(f"{age} .barlayer .point").count() >= 10
    screenshot(page, "21-dataset-profile")
    region = '#profile-charts .figure[aria-label="region (categorical)"]'
    page.locator(region).scroll_into_view_if_needed()
    page.wait_for_selector(f"{region}[data-state=ready] .main-svg")  # drawn once scrolled into view
    assert drawn(page, region)["traces"][0]["x"] == 2


def test_comparing_two_dataset_versions(
    new_page: NewPage, catalog_server: tuple[LiveServer, Catalog], screenshot: Shot
) -> None:
    server, _ = catalog_server
    page = new_page(server.url)
    page.goto("/ui/datasets/customers")
    page.wait_for_selector("#figure-size[data-state=ready] .main-svg")
    page.select_option("select[name=from]", "1")
    page.select_option("select[name=to]", "2")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"from=1&to=2"))
    summary = page.locator("#diff-summary").inner_text()
    assert "customers@v1 → customers@v2" in summary and "1 changed" in summary
    assert page.locator("#schema-diff tbody tr").inner_text().split() == ["added", "region", "string"]
    screenshot(page, "22-dataset-diff")


def test_model_page_draws_the_state_timeline(
    new_page: NewPage, catalog_server: tuple[LiveServer, Catalog], screenshot: Shot
) -> None:
    server, _ = catalog_server
    page = new_page(server.url)
    page.goto("/ui/models/churn-model")
    page.wait_for_selector("#figure-timeline[data-state=ready] .main-svg")
    timeline = drawn(page, "#figure-timeline")
    assert {t["type"] for t in timeline["traces"]} == {"bar"} and len(timeline["traces"]) == 3  # draft, staging, prod
    assert page.locator("#history-table tbody tr").count() >= 8
    screenshot(page, "23-model")


def test_card_html_view_draws_its_plots_with_the_servers_plotly_js(
    new_page: NewPage, catalog_server: tuple[LiveServer, Catalog]
) -> None:
    server, catalog = catalog_server
    page = new_page(server.url)
    page.goto(f"/ui/models/{catalog.model}@1")
    url = page.locator("#card-html").get_attribute("href")
    page.goto(url)
    scripts = page.evaluate("() => Array.from(document.scripts).map(s => s.src).filter(Boolean)")
    assert len(scripts) == 1 and re.search(r"/ui/vendor/plotly-[^/]+\.min\.js$", scripts[0])  # not inlined
    page.wait_for_selector(".plotly-graph-div .main-svg")
    assert page.locator(".plotly-graph-div .main-svg").count() >= 2
