"""The web UI in a real browser (Debian's Chromium through Playwright) against a live server:
runs list, filter, sort, column chooser, a run with rendered charts and artifact previews,
comparing runs, logging in, and a project of 10,000 runs. Screenshots: test-artifacts/screenshots/."""

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
from tests.browser.seed import LONG_HISTORY_POINTS, bulk_runs, ensure_ui, seed_demo
from tests.fixtures.stores import joined_store

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]


def table_column(page: Any, header_title: str) -> list[str]:
    """The text of every cell under the header whose sort link has ``title="sort by ..."``."""
    return list(
        page.evaluate(
            """(title) => {
                const headers = Array.from(document.querySelectorAll('#runs-table thead tr:last-child th'));
                const index = headers.findIndex(th => th.querySelector(`a[title="sort by ${title}"]`));
                if (index < 0) return null;
                return Array.from(document.querySelectorAll('#runs-table tbody tr'))
                    .map(tr => tr.children[index].textContent.trim());
            }""",
            header_title,
        )
    )


def chart_summary(page: Any, selector: str) -> dict[str, Any]:
    """What plotly drew in a graph div: its traces and their point counts."""
    result: dict[str, Any] = page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            return {
                traces: (el.data || []).map(t => ({type: t.type || 'scatter', name: t.name,
                                                   x: (t.x || []).length, y: (t.y || []).length,
                                                   dims: (t.dimensions || []).length})),
                svgPaths: el.querySelectorAll('.scatterlayer path.js-line, .scatterlayer .point').length,
                note: el.parentElement.querySelector('.chart-note') ?
                      el.parentElement.querySelector('.chart-note').textContent : '',
            };
        }""",
        selector,
    )
    return result


def test_runs_list_filter_and_sort(new_page: NewPage, live_server: LiveServer, screenshot: Shot) -> None:
    page = new_page(live_server.url)
    page.goto("/")
    assert page.locator("#projects-table tbody tr", has_text="churn").locator("td.num").inner_text() == "31"
    screenshot(page, "00-projects")
    page.get_by_role("link", name="churn").click()
    page.wait_for_url(re.compile(r"/ui/projects/churn$"))
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 31
    assert table_column(page, "name")[0] == "trial-29"
    screenshot(page, "01-runs-list")

    page.fill("#filter", "params.model = 'rf' AND metrics.accuracy > 0.5")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile(r"filter="))
    models = table_column(page, "params.model")
    assert models and set(models) == {"rf"}
    assert len(models) == len(
        live_server.tracking.search_runs(["churn"], filter="params.model = 'rf' AND metrics.accuracy > 0.5")[0]
    )
    screenshot(page, "02-runs-filtered")

    page.get_by_role("link", name="accuracy").first.click()
    page.wait_for_url(re.compile(r"order=metrics.accuracy"))
    values = [float(v) for v in table_column(page, "metrics.accuracy")]
    assert values == sorted(values, reverse=True)
    assert set(table_column(page, "params.model")) == {"rf"}  # sorting keeps the filter


def test_a_bad_filter_shows_where_it_went_wrong(new_page: NewPage, live_server: LiveServer, screenshot: Shot) -> None:
    page = new_page(live_server.url)
    page.goto("/ui/projects/churn")
    page.fill("#filter", "metrics.accuracy > AND params.lr = '0.1'")
    page.press("#filter", "Enter")
    error = page.locator("#filter-error")
    error.wait_for()
    assert "Invalid filter" in error.inner_text()
    caret = page.locator("#filter-error pre.caret").inner_text()
    assert "^ position 19" in caret
    assert page.locator("#runs-table tbody tr").count() == 1  # the "fix the filter" row
    screenshot(page, "03-filter-error")


def test_column_chooser(new_page: NewPage, live_server: LiveServer, screenshot: Shot) -> None:
    page = new_page(live_server.url)
    page.goto("/ui/projects/churn")
    page.click("#column-chooser summary")
    chooser = page.locator("#column-chooser form")
    chooser.get_by_label("loss", exact=True).uncheck()
    chooser.get_by_label("team").check()
    screenshot(page, "03b-column-chooser")
    chooser.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"cols_set=1"))
    titles = page.locator("#runs-table thead a[title^='sort by ']").evaluate_all(
        "links => links.map(a => a.title.slice(8))"
    )
    assert "metrics.loss" not in titles and "tags.team" in titles and "metrics.accuracy" in titles
    assert set(table_column(page, "tags.team")) == {"growth", "risk", ""}  # long-history has no team tag


def test_open_a_run_and_see_its_charts_and_artifacts(
    new_page: NewPage, live_server: LiveServer, screenshot: Shot
) -> None:
    page = new_page(live_server.url)
    page.goto("/ui/projects/churn")
    page.get_by_role("link", name="baseline", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/runs/\w+$"))
    assert page.locator("h1").inner_text().startswith("baseline")
    assert "rf" in page.locator("#params").inner_text()
    page.wait_for_selector(".chart[data-key='loss'][data-state='ready']")
    drawn = chart_summary(page, ".chart[data-key='loss']")
    assert len(drawn["traces"]) == 1 and drawn["traces"][0]["x"] == drawn["traces"][0]["y"] == 60
    assert drawn["svgPaths"] >= 1  # plotly really rendered the line
    assert drawn["note"] == "60 points"
    page.wait_for_selector(".chart[data-key='accuracy'][data-state='ready']")
    screenshot(page, "04-run-page")

    page.select_option("#x-axis", "relative")
    page.wait_for_function(
        "() => { const el = document.querySelector(\".chart[data-key='loss']\");"
        " return el.dataset.state === 'ready' && el.layout.xaxis.title.text.startsWith('seconds'); }"
    )

    page.get_by_role("link", name="plots/").click()
    page.get_by_role("link", name="gradient.png").click()
    image = page.locator("img.preview-image")
    image.wait_for()
    page.wait_for_function("() => document.querySelector('img.preview-image').complete")
    assert image.evaluate("img => img.naturalWidth") == 48
    screenshot(page, "05-artifact-image")

    page.goto(page.url.split("?")[0] + "?artifact=data/features.parquet")
    table = page.locator(".preview-table")
    assert table.locator("thead th").all_inner_texts() == ["customer_id", "tenure_months", "churned", "segment"]
    assert table.locator("tbody tr").count() == 50
    screenshot(page, "06-artifact-table")


def test_a_100k_point_history_is_drawn_downsampled(
    new_page: NewPage, live_server: LiveServer, screenshot: Shot
) -> None:
    assert live_server.seeded is not None
    page = new_page(live_server.url)
    page.goto(f"/ui/runs/{live_server.seeded.long}")
    page.wait_for_selector(".chart[data-key='loss'][data-state='ready']")
    drawn = chart_summary(page, ".chart[data-key='loss']")
    points = drawn["traces"][0]["x"]
    assert 1000 <= points <= 2000
    assert f"of {LONG_HISTORY_POINTS + 1:,} points (downsampled" in drawn["note"] and "1 NaN not drawn" in drawn["note"]
    top = page.evaluate("() => Math.max(...document.querySelector(\".chart[data-key='loss']\").data[0].y)")
    assert top > 5  # the one-step spike at step 54,321 survived downsampling
    screenshot(page, "07-long-history")


def test_compare_two_runs(new_page: NewPage, live_server: LiveServer, screenshot: Shot) -> None:
    page = new_page(live_server.url)
    page.goto("/ui/projects/churn")
    for name in ("baseline", "trial-04"):
        page.get_by_role("checkbox", name=f"select {name}").check()
    assert page.locator("#compare-button").inner_text() == "Compare 2 selected"
    page.click("#compare-button")
    page.wait_for_url(re.compile(r"/ui/compare\?runs="))
    assert page.locator("h1").inner_text() == "Compare 2 runs"
    page.wait_for_selector(".chart[data-key='loss'][data-state='ready']")
    drawn = chart_summary(page, ".chart[data-key='loss']")
    assert sorted(t["name"] for t in drawn["traces"]) == ["baseline", "trial-04"]
    assert all(t["x"] == 60 for t in drawn["traces"])
    page.wait_for_selector("#parcoords[data-state='ready']")
    parallel = chart_summary(page, "#parcoords")
    assert parallel["traces"][0]["type"] == "parcoords" and parallel["traces"][0]["dims"] == 4
    page.wait_for_selector(".chart[data-key='accuracy'][data-state='ready']")
    screenshot(page, "08-compare")

    page.select_option("#parcoords-metric", "loss")
    page.wait_for_url(re.compile(r"metric=loss"))
    page.wait_for_selector("#parcoords[data-state='ready']")
    label = page.evaluate("() => document.querySelector('#parcoords').data[0].dimensions.at(-1).label")
    assert label == "loss"


# --- auth -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    try:
        from modelyard.auth import AuthService
    except ImportError:  # pragma: no cover - auth lands with the same issue
        pytest.skip("modelyard.auth (users, sessions, POST /api/v1/auth/login) is not available yet")
    root = tmp_path_factory.mktemp("browser-auth")
    app = ensure_ui(
        create_app(
            ServerConfig(auth=True, store_uri=f"sqlite:///{root / 'auth.db'}", artifact_uri=str(root / "artifacts"))
        )
    )
    services = app.state.services
    tracking = TrackingService(services.stores.tracking, services.artifacts)
    seeded = seed_demo(tracking, runs=4, steps=10)
    auth = AuthService(services.stores.auth)
    auth.create_user("vera", password="vera-password-1")
    auth.grant_role("vera", services.stores.tracking.get_project_by_name("churn").id, "viewer")
    server = start_server(app, tracking, seeded)
    yield server
    server.stop()
    services.stores.tracking.close()


def test_log_in_when_auth_is_on(new_page: NewPage, secure_server: LiveServer, screenshot: Shot) -> None:
    page = new_page(secure_server.url)
    page.goto("/ui/projects/churn")
    page.wait_for_url(re.compile(r"/ui/login\?next=%2Fui%2Fprojects%2Fchurn$"))
    page.fill("#username", "vera")
    page.fill("#password", "not-her-password")
    page.click("button[type=submit]")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert error.inner_text()
    page.fill("#password", "vera-password-1")
    screenshot(page, "09-login")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/projects/churn$"))
    assert page.locator("#runs-table tbody tr").count() == 5
    assert page.locator(".topbar .user").inner_text() == "vera"
    page.goto("/ui/")
    assert page.get_by_role("link", name="fraud").count() == 0  # no role there


# --- 10,000 runs ----------------------------------------------------------------------------------

BIG_RUNS = 10_000


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A project of 10,000 runs, each with 3 params and 2 metrics (see ``bulk_runs``)."""
    root = tmp_path_factory.mktemp("browser-big")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'big.db'}", artifacts=artifacts)
    tracking = TrackingService(store, artifacts)
    bulk_runs(store, "big", BIG_RUNS)
    assert store.check() == []  # the bulk insert left the store consistent
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=store.stores)), tracking, None)
    yield server
    server.stop()
    store.close()


def test_runs_page_of_a_10k_run_project(new_page: NewPage, big_server: LiveServer, screenshot: Shot) -> None:
    page = new_page(big_server.url)
    page.goto("/ui/")
    row = page.locator("#projects-table tbody tr", has_text="big")
    assert row.locator("td.num").inner_text() == "10,000"
    row.get_by_role("link", name="big").click()
    page.wait_for_url(re.compile(r"/ui/projects/big$"))
    names = table_column(page, "name")
    assert names == [f"sweep-{i:05d}" for i in range(BIG_RUNS - 1, BIG_RUNS - 51, -1)]
    assert "Runs 1–50" in page.locator("#page-info").inner_text()
    screenshot(page, "10-runs-10k")

    page.click("#next-page")
    page.wait_for_url(re.compile(r"page_token="))
    assert table_column(page, "name")[0] == f"sweep-{BIG_RUNS - 51:05d}"
    assert "Runs 51–100" in page.locator("#page-info").inner_text()

    page.fill("#filter", "metrics.accuracy > 0.99 AND params.depth = '3'")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile(r"filter="))
    expected = big_server.tracking.search_runs(
        ["big"], filter="metrics.accuracy > 0.99 AND params.depth = '3'", max_results=50
    )[0]
    assert table_column(page, "name") == [r.name for r in expected]

    page.goto("/ui/projects/big?order=metrics.accuracy+DESC&size=100")
    values = [float(v) for v in table_column(page, "metrics.accuracy")]
    assert len(values) == 100 and values == sorted(values, reverse=True)
