"""The web UI's dataset and model pages over HTTP (no browser): lists, versions, diffs with schema
changes, paged files, profiles with their chart data, recorded validation reports, model cards,
evaluation plot data, the lineage graph drawn from ``LineageBuilder``, downloads, 404/400 pages,
and permissions (what a viewer of one project may not see). Seed: tests/browser/seed_catalog.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from modelyard.artifacts import open_artifact_store
from modelyard.evaluation import latest_evaluation
from modelyard.lineage import LineageBuilder
from modelyard.registry.service import RegistryService
from modelyard.server import ServerConfig, create_app
from modelyard.tracking.service import TrackingService
from tests.browser.seed import ensure_ui
from tests.browser.seed_catalog import PHOTO_FILES, Catalog, drawn_edges, drawn_nodes, figures_of, seed_catalog
from tests.fixtures.stores import Joined, joined_store


class Site:
    def __init__(self, client: TestClient, catalog: Catalog, tracking: TrackingService) -> None:
        self.client, self.catalog, self.tracking = client, catalog, tracking

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def html(self, url: str) -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
        return str(response.text)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-catalog")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    tracking = TrackingService(store, artifacts)
    catalog = seed_catalog(tracking, root / "work")
    app = ensure_ui(create_app(ServerConfig(), stores=store.stores))
    with TestClient(app) as client:
        yield Site(client, catalog, tracking)
    store.close()


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The text of each cell of each body row of the table with ``id``."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return rows


def builder_graph(site: Site, reference: str, kind: str) -> dict[str, Any]:
    store = site.tracking.store
    graph = LineageBuilder(store, datasets=store, registry=store).build(reference, kind=kind, depth=6)
    return graph.to_dict()


# --- navigation -------------------------------------------------------------------------------


def test_navigation_links_to_datasets_and_models_on_every_page(site: Site) -> None:
    for url in ("/ui/", "/ui/datasets", "/ui/models", f"/ui/runs/{site.catalog.run_ids['train']}"):
        html = site.html(url)
        nav = html.split('<nav class="sections"', 1)[1].split("</nav>", 1)[0]
        assert 'href="/ui/datasets"' in nav and 'href="/ui/models"' in nav and 'href="/ui/"' in nav


def test_run_page_links_its_inputs_and_registered_models(site: Site) -> None:
    html = site.html(f"/ui/runs/{site.catalog.run_ids['train']}")
    assert 'href="/ui/datasets/customers-clean@v1">customers-clean</a>' in html
    registered = table_rows(html, "registered-models")
    assert [r[0] for r in registered] == ["churn-model v2", "churn-model v1"]
    assert registered[1][1] == "production" and registered[1][2] == "champion"


# --- datasets ---------------------------------------------------------------------------------


def test_datasets_list_shows_versions_latest_size_and_files(site: Site) -> None:
    rows = {r[0]: r for r in table_rows(site.html("/ui/datasets"), "datasets-table")}
    assert set(rows) == {"customers", "customers-clean", "photos"}
    assert rows["customers"][1:3] == ["2", "v2"]
    assert rows["photos"][4] == f"{PHOTO_FILES}"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows["customers"][5])


def test_dataset_page_lists_versions_with_digests_and_parents(site: Site) -> None:
    store = site.tracking.store
    html = site.html("/ui/datasets/customers-clean")
    rows = table_rows(html, "versions-table")
    assert len(rows) == 1 and rows[0][0] == "v1"
    version = store.get_dataset_version("customers-clean", 1)  # type: ignore[attr-defined]
    assert rows[0][1] == version.manifest_digest[:19] and rows[0][6] == "customers@v1"
    assert 'href="/ui/datasets/customers@v1"' in html
    versions = table_rows(site.html("/ui/datasets/customers"), "versions-table")
    assert [r[0] for r in versions] == ["v2", "v1"]  # newest first
    assert versions[0][7] == "CRM export with regions"


def test_diff_of_two_versions_lists_changed_files_and_the_schema_change(site: Site) -> None:
    html = site.html("/ui/datasets/customers?from=1&to=2")
    paragraph = html.split('id="diff-summary">', 1)[1].split("</p>")[0]
    summary = " ".join(unescape(re.sub(r"<[^>]+>", " ", paragraph)).split())
    assert "customers@v1 → customers@v2" in summary and "0 added" in summary and "1 changed" in summary
    assert table_rows(html, "diff-files") == [["changed", "customers.csv", "9.1 KB", "14.3 KB"]]
    assert table_rows(html, "schema-diff") == [["added", "region", "string"]]
    assert "figure-size" in html and figures_of(html)["size"]["data"][0]["y"][1] > 0


def test_version_overview_shows_derivation_readers_models_and_lineage(site: Site) -> None:
    catalog = site.catalog
    html = site.html("/ui/datasets/customers-clean@v1")
    derivation = html.split('id="derivation"', 1)[1].split("</section>", 1)[0]
    assert 'href="/ui/datasets/customers@v1"' in derivation
    assert f'href="/ui/runs/{catalog.run_ids["prepare"]}">run:{catalog.run_ids["prepare"]}</a>' in derivation
    assert "max_age" in derivation and "drop_segment" in derivation
    used = html.split('id="used-by"', 1)[1].split("</section>", 1)[0]
    assert f"/ui/runs/{catalog.run_ids['train']}" in used and "training" in used
    assert 'href="/ui/models/churn-model@1"' in used and 'href="/ui/models/churn-model@2"' in used
    expected = builder_graph(site, "customers-clean@v1", "dataset")
    assert set(drawn_nodes(html)) == {n["id"] for n in expected["nodes"]}
    assert set(drawn_edges(html)) == {(e["from"], e["to"], e["kind"]) for e in expected["edges"]}
    assert '<g class="node node-dataset_version root" data-node-id="dataset:customers-clean@v1"' in html
    assert ("dataset:customers@v1", "dataset:customers-clean@v1", "derived_from") in drawn_edges(html)
    assert (f"run:{catalog.run_ids['train']}", "model:churn-model@1", "produced") in drawn_edges(html)


def test_files_are_paged_and_filtered(site: Site) -> None:
    first = site.html("/ui/datasets/photos@v1?tab=files")
    assert "Files 1–100 of 250" in unescape(first)
    assert len(table_rows(first, "files-table")) == 100
    next_url = unescape(re.search(r'id="files-next" href="([^"]+)"', first).group(1))
    assert "page=2" in next_url
    last = site.html("/ui/datasets/photos@v1?tab=files&page=3")
    rows = table_rows(last, "files-table")
    assert len(rows) == 50 and rows[-1][0] == "batch-2/img-0249.bin" and 'rel="next"' not in last
    filtered = site.html("/ui/datasets/photos@v1?tab=files&q=batch-1/")
    assert "Files 1–100 of 100 matching" in unescape(filtered)
    download = site.get(re.search(r'href="(/ui/api/datasets/file[^"]+)"', first).group(1).replace("&amp;", "&"))
    assert download.status_code == 200 and download.content == b"photo 0" * 4
    assert download.headers["content-disposition"].startswith("attachment")


def test_profile_shows_columns_and_chart_data(site: Site) -> None:
    html = site.html("/ui/datasets/customers@v2?tab=profile")
    rows = {r[0]: r for r in table_rows(html, "profile-table")}
    assert set(rows) == {"customer_id", "age", "segment", "spend", "tenure", "churned", "region"}
    assert rows["segment"][1] == "categorical" and rows["age"][1] == "numeric"
    assert rows["spend"][3].startswith("30") and "%" in rows["spend"][3]  # every 17th row is null
    assert "Profiled 500 rows" in html
    figures = figures_of(html)
    nulls = figures["nulls"]["data"][0]
    assert dict(zip(nulls["x"], nulls["y"], strict=True))["spend"] == pytest.approx(30 / 500)
    histograms = [f for f in figures.values() if f["layout"]["title"]["text"] == "age (numeric)"]
    assert len(histograms) == 1 and sum(histograms[0]["data"][0]["y"]) == 500
    regions = next(f for f in figures.values() if f["layout"]["title"]["text"] == "region (categorical)")
    assert sorted(regions["data"][0]["x"]) == ["north", "south"]


def test_profile_of_a_version_without_tables_says_why(site: Site) -> None:
    html = site.html("/ui/datasets/photos@v1?tab=profile")
    assert 'id="profile-message"' in html and "no tabular file" in html
    assert "ui-figures" not in html


def test_validation_reports_recorded_for_a_version(site: Site) -> None:
    html = site.html("/ui/datasets/customers-clean@v1?tab=validation")
    rows = table_rows(html, "validations-table")
    assert len(rows) == 1 and rows[0][1] == "passed" and rows[0][2] == "clean-customers"
    assert rows[0][3:7] == ["3", "0", "237", "churn"]
    assert [r[0] for r in table_rows(html, "expectations-table")] == ["pass", "pass", "pass"]
    failing = site.html("/ui/datasets/customers@v1?tab=validation")
    assert table_rows(failing, "validations-table")[0][1] == "failed"
    expectations = table_rows(failing, "expectations-table")
    assert expectations[1][0] == "fail" and expectations[1][1] == "18 <= age <= 70" and int(expectations[1][2]) > 0
    report = site.get(f"/ui/api/validation/report?run={site.catalog.validation_run}")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "Validation of customers-clean@v1 against clean-customers" in report.text
    assert "sandbox allow-scripts" in report.headers["content-security-policy"]
    assert site.html("/ui/datasets/customers@v2?tab=validation").count("No validation of customers@v2") == 1


def test_the_cli_records_validation_reports_that_the_page_lists(tmp_path: Path, modelyard_home: Path) -> None:
    import modelyard
    from modelyard.cli.main import app

    data = tmp_path / "people.csv"
    data.write_text("id,age\n1,30\n2,200\n3,40\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: people\nexpectations:\n  - {expect: between, column: age, min: 0, max: 120}\n")
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    try:
        modelyard.datasets.add(data, name="people")
        out = CliRunner().invoke(
            app, ["data", "validate", "people@v1", "--suite", str(suite), "--json", "--project", "quality"]
        )
        assert out.exit_code == 1, out.output
        run_id = json.loads(out.stdout)["run_id"]
        skipped = CliRunner().invoke(app, ["data", "validate", "people@v1", "--suite", str(suite), "--no-record"])
        assert "recorded in run" not in skipped.output
        client = modelyard.TrackingClient()
        run = client.store.get_run(run_id)
        assert run.tags["modelyard.validation.dataset"] == "people@v1" and run.status.value == "FINISHED"
        assert [(i.name, i.version, i.context) for i in run.inputs] == [("people", "v1", "validation")]
        app_ = ensure_ui(create_app(ServerConfig(), stores=client.stores))
        with TestClient(app_) as http:
            html = http.get("/ui/datasets/people@v1?tab=validation").text
        rows = table_rows(html, "validations-table")
        assert len(rows) == 1 and rows[0][1] == "failed" and rows[0][6] == "quality"  # --no-record added none
    finally:
        modelyard.set_store_uri(None)


def test_unknown_datasets_and_versions_are_404_pages(site: Site) -> None:
    for url in (
        "/ui/datasets/nope",
        "/ui/datasets/customers@v9",
        "/ui/datasets/nope@v1",
        "/ui/datasets/customers?from=1&to=9",
    ):
        response = site.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html") and "Not found" in response.text
    bad = site.get("/ui/datasets/customers@v1?tab=nonsense")
    assert bad.status_code == 400 and "unknown tab" in bad.text
    assert site.get("/ui/datasets/customers?from=x&to=2").status_code == 400
    latest = site.get("/ui/datasets/customers@latest?tab=files", follow_redirects=False)
    assert latest.status_code == 307 and latest.headers["location"] == "/ui/datasets/customers@v2?tab=files"
    assert site.get("/ui/api/datasets/file?name=photos&version=1&path=missing.bin").status_code == 404


# --- models -----------------------------------------------------------------------------------


def test_models_list_shows_latest_version_states_and_aliases(site: Site) -> None:
    rows = {r[0]: r for r in table_rows(site.html("/ui/models"), "models-table")}
    assert set(rows) == {"churn-model", "fraud-model"}
    churn = rows["churn-model"]
    assert churn[1] == "churn" and churn[2] == "v2 staging" and churn[3] == "v1" and churn[4] == "v2"
    assert churn[5] == "champion → v1" and churn[6] == "production 1 · staging 1"
    assert rows["fraud-model"][2] == "v1 draft"


def test_model_page_shows_versions_history_approvals_and_a_timeline(site: Site) -> None:
    html = site.html("/ui/models/churn-model")
    versions = table_rows(html, "versions-table")
    assert [(r[0], r[1], r[2]) for r in versions] == [("v2", "staging", ""), ("v1", "production", "champion")]
    assert versions[1][8] == "bob" and "1 approval needed before production" in html
    history = table_rows(html, "history-table")
    transitions = [(r[1], r[2], r[3], r[4]) for r in history if "→" in r[2]]
    assert ("v1", "staging → production", "ana", "approved by bob") in transitions
    assert ("v1", "draft → staging", "ana", "first candidate") in transitions
    assert any(r[2] == "approved" and r[3] == "bob" and r[4] == "recall is fine" for r in history)
    timeline = figures_of(html)["timeline"]
    by_state = {t["name"]: t["y"] for t in timeline["data"]}
    assert by_state["production"] == ["v1"] and by_state["staging"] == ["v1", "v2"]


def test_model_version_page_shows_the_card_signature_files_and_history(site: Site) -> None:
    store = site.tracking.store
    html = site.html("/ui/models/churn-model@1")
    card = html.split('id="model-card"', 1)[1].split("</section>", 1)[0]
    assert '<p class="field-text" data-field="intended_use">Rank customers by churn risk.</p>' in card
    assert '<p class="field-text" data-field="owners">growth team</p>' in card
    assert table_rows(card, "training-data")[0][:3] == ["customers-clean", "v1", "training"]
    assert 'href="/ui/datasets/customers-clean@v1"' in card
    assert [r for r in re.findall(r"<tr><th>(\w+)</th><td><code>(\w+)</code>", card)] == [
        ("tenure", "int64"),
        ("age", "float64"),
    ]
    files = table_rows(html, "files-table")
    expected = store.list_model_files("churn-model", 1)  # type: ignore[attr-defined]
    assert [(r[0], r[2]) for r in files] == [(f.path, f.digest) for f in expected]
    assert any(r[2] == "staging → production" for r in table_rows(html, "history-table"))
    assert "production" in html.split("<h1>", 1)[1].split("</h1>")[0]


def test_model_version_page_has_the_evaluation_and_its_plot_data(site: Site) -> None:
    registry = RegistryService(site.tracking.store, site.tracking.store, site.tracking.artifacts)  # type: ignore[arg-type]
    result = latest_evaluation(registry, "churn-model", 1)
    assert result is not None
    html = site.html("/ui/models/churn-model@1")
    assert table_rows(html, "evaluations-table")[0][2:4] == ["classification", str(result.n_rows)]
    figures = figures_of(html)
    assert {"eval-confusion_matrix", "eval-roc", "eval-pr"} <= set(figures)
    assert figures["eval-confusion_matrix"]["data"][0]["z"] == result.confusion_matrix
    roc = figures["eval-roc"]["data"][0]
    assert roc["x"] == pytest.approx(result.curves["roc"]["fpr"])
    assert roc["y"] == pytest.approx(result.curves["roc"]["tpr"])
    assert 'data-figure="eval-roc"' in html
    metrics = dict(
        (r[0], r[1])
        for r in re.findall(
            r'<tr><th>(\w+)</th><td class="num" title="([^"]+)"',
            html.split('id="evaluation-metrics"', 1)[1].split("</table>")[0],
        )
    )
    assert float(metrics["accuracy"]) == pytest.approx(result.metrics["accuracy"])
    chosen = site.html(f"/ui/models/churn-model@1?evaluation={site.catalog.evaluation_id}")
    assert 'class="selected"' in chosen
    assert site.get("/ui/models/churn-model@1?evaluation=nope").status_code == 404
    none = site.html("/ui/models/churn-model@2")
    assert "Not evaluated yet" in none and "ui-figures" not in none


def test_model_version_lineage_is_the_builders_graph(site: Site) -> None:
    html = site.html("/ui/models/churn-model@1")
    expected = builder_graph(site, "churn-model@1", "model")
    nodes = drawn_nodes(html)
    assert set(nodes) == {n["id"] for n in expected["nodes"]}
    assert {
        "dataset:customers@v1",
        "dataset:customers-clean@v1",
        f"run:{site.catalog.run_ids['train']}",
        "model:churn-model@1",
        "alias:churn-model@champion",
        "state:churn-model@production",
    } <= set(nodes)
    assert set(drawn_edges(html)) == {(e["from"], e["to"], e["kind"]) for e in expected["edges"]}
    assert ("model:churn-model@1", "alias:churn-model@champion", "alias") in drawn_edges(html)
    assert 'href="/ui/datasets/customers-clean@v1"' in html.split('id="lineage-graph"', 1)[1]


def test_model_card_downloads(site: Site) -> None:
    markdown = site.get("/ui/api/models/card?name=churn-model&version=1&format=md")
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.headers["content-disposition"].startswith("attachment")
    assert markdown.text.startswith("# Model card: churn-model version 1")
    assert "Rank customers by churn risk." in markdown.text
    html = site.get("/ui/api/models/card?name=churn-model&version=1&format=html")
    assert html.status_code == 200 and "<h1>Model card: churn-model version 1</h1>" in html.text
    assert "sandbox allow-scripts" in html.headers["content-security-policy"]
    vendor = re.search(r'<script src="(/ui/vendor/plotly-[^"]+\.min\.js)"></script>', html.text)
    assert vendor and "Plotly.newPlot" in html.text and len(html.content) < 500_000  # the server's plotly.js
    assert site.get(vendor.group(1)).status_code == 200
    download = site.get("/ui/api/models/card?name=churn-model&version=1&format=html&download=true")
    assert download.headers["content-disposition"].startswith("attachment")
    assert "<script src" not in download.text and len(download.content) > 1_000_000  # one self-contained file
    assert site.get("/ui/api/models/card?name=churn-model&version=1&format=pdf").status_code == 400
    page = site.html("/ui/models/churn-model@1")
    assert 'href="/ui/api/models/card?name=churn-model&amp;version=1&amp;format=md"' in page


def test_model_references_redirect_and_unknown_ones_are_404(site: Site) -> None:
    for ref, number in (("champion", 1), ("production", 1), ("staging", 2), ("latest", 2)):
        response = site.get(f"/ui/models/churn-model@{ref}", follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == f"/ui/models/churn-model@{number}"
    for url in ("/ui/models/nope", "/ui/models/nope@1", "/ui/models/churn-model@9", "/ui/models/churn-model@nobody"):
        response = site.get(url)
        assert response.status_code == 404 and "Not found" in response.text, url
    assert site.get("/ui/models/churn-model@!").status_code == 400
    assert site.get("/ui/api/models/card?name=nope&version=1").status_code == 404


def test_user_content_on_catalog_pages_is_escaped(site: Site) -> None:
    registry = RegistryService(site.tracking.store, site.tracking.store, site.tracking.artifacts)  # type: ignore[arg-type]
    from modelyard.reports.cards import update_card

    update_card(registry, "churn-model", 2, {"limitations": "<script>alert(1)</script>"}, actor="ana")
    page = site.html("/ui/models/churn-model@2")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- permissions --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Catalog]]:
    from modelyard.auth import AuthService

    root = tmp_path_factory.mktemp("ui-catalog-auth")
    app = ensure_ui(
        create_app(
            ServerConfig(auth=True, store_uri=f"sqlite:///{root / 'auth.db'}", artifact_uri=str(root / "artifacts"))
        )
    )
    services = app.state.services
    catalog = seed_catalog(TrackingService(Joined(services.stores), services.artifacts), root / "work")
    auth = AuthService(services.stores.auth)
    auth.create_user("vera", password="vera-password-1")
    auth.grant_role("vera", services.stores.tracking.get_project_by_name("churn").id, "viewer")
    auth.create_user("nora", password="nora-password-1")  # no role anywhere
    with TestClient(app) as client:
        yield client, catalog
    services.stores.tracking.close()


def _login(client: TestClient, user: str) -> None:
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"username": user, "password": f"{user}-password-1"})
    assert response.status_code == 200, response.text


def test_anonymous_visitors_are_sent_to_login(secured: tuple[TestClient, Catalog]) -> None:
    client, _ = secured
    client.cookies.clear()
    for url in ("/ui/datasets", "/ui/datasets/customers@v1", "/ui/models", "/ui/models/churn-model@1"):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login?next="), url
    assert client.get("/ui/api/models/card?name=churn-model&version=1").status_code == 401
    assert client.get("/ui/api/datasets/file?name=customers&version=1&path=customers.csv").status_code == 401


def test_a_viewer_sees_only_the_models_of_their_projects(secured: tuple[TestClient, Catalog]) -> None:
    client, _ = secured
    _login(client, "vera")
    models = client.get("/ui/models")
    assert models.status_code == 200
    assert [r[0] for r in table_rows(models.text, "models-table")] == ["churn-model"]
    for url in ("/ui/models/fraud-model", "/ui/models/fraud-model@1"):
        denied = client.get(url)
        assert denied.status_code == 403 and "text/html" in denied.headers["content-type"], url
    assert client.get("/ui/api/models/card?name=fraud-model&version=1").status_code == 403
    assert client.get("/ui/models/churn-model@1").status_code == 200
    client.cookies.clear()


def test_a_viewer_sees_no_runs_models_or_reports_of_other_projects_on_dataset_pages(
    secured: tuple[TestClient, Catalog],
) -> None:
    client, catalog = secured
    _login(client, "vera")
    html = client.get("/ui/datasets/customers@v1").text
    nodes = drawn_nodes(html)
    assert f"run:{catalog.run_ids['fraud-train']}" not in nodes and "model:fraud-model@1" not in nodes
    assert f"run:{catalog.run_ids['prepare']}" in nodes and "dataset:customers-clean@v1" in nodes
    assert catalog.run_ids["fraud-train"] not in html and "fraud-model" not in html
    assert 'id="lineage-hidden"' in html
    validation = client.get("/ui/datasets/customers@v1?tab=validation").text
    assert "No validation of customers@v1" in validation and catalog.fraud_validation_run not in validation
    assert client.get(f"/ui/api/validation/report?run={catalog.fraud_validation_run}").status_code == 403
    assert client.get(f"/ui/api/validation/report?run={catalog.validation_run}").status_code == 200
    client.cookies.clear()


def test_a_user_without_any_role_cannot_read_datasets(secured: tuple[TestClient, Catalog]) -> None:
    client, _ = secured
    _login(client, "nora")
    for url in ("/ui/datasets", "/ui/datasets/customers", "/ui/datasets/customers@v1?tab=profile"):
        response = client.get(url)
        assert response.status_code == 403 and "text/html" in response.headers["content-type"], url
    assert client.get("/ui/api/datasets/file?name=customers&version=1&path=customers.csv").status_code == 403
    assert "No registered models you can see" in client.get("/ui/models").text
    client.cookies.clear()


# --- bounded profiles ---------------------------------------------------------------------------


def test_profiles_of_big_versions_read_a_bounded_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from modelyard.data.service import DatasetService
    from modelyard.server.ui import dataset_profile

    artifacts = open_artifact_store(str(tmp_path / "artifacts"))
    store = joined_store(f"sqlite:///{tmp_path / 'big.db'}", artifacts=artifacts)
    service = DatasetService(store, artifacts, tmp_path / "cache")  # type: ignore[arg-type]
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(3):
        pd.DataFrame({"x": range(i * 100, i * 100 + 100)}).to_csv(parts / f"part-{i}.csv", index=False)
    big_csv = tmp_path / "big.csv"
    pd.DataFrame({"x": range(5000)}).to_csv(big_csv, index=False)
    big_parquet = tmp_path / "big.parquet"
    pd.DataFrame({"x": range(5000)}).to_parquet(big_parquet)
    try:
        versions = {
            name: service.add(path, name=name).version
            for name, path in (("parts", parts), ("big-csv", big_csv), ("big-parquet", big_parquet))
        }
        part_size = (parts / "part-1.csv").stat().st_size
        monkeypatch.setattr(dataset_profile, "MAX_READ_BYTES", 2 * part_size + 10)
        monkeypatch.setattr(dataset_profile, "MAX_PROFILE_ROWS", 50)

        def profile_of(name: str) -> dataset_profile.VersionProfile:
            version = versions[name]
            return dataset_profile.compute_profile(artifacts, version, service.files(version))

        sampled = profile_of("parts")
        assert (sampled.files_read, sampled.tabular_files, sampled.rows_read) == (2, 3, 200)
        assert sampled.profile is not None and sampled.profile.rows == 50 and sampled.sampled
        assert sampled.profile.columns["x"].min >= 0 and sampled.profile.columns["x"].max < 200  # parts 0 and 1
        head = profile_of("big-csv")
        assert head.head_only and head.files_read == 1 and 0 < head.rows_read < 5000
        refused = profile_of("big-parquet")
        assert refused.profile is None and "larger than" in str(refused.message)
    finally:
        service.close()
        store.close()
