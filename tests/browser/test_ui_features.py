"""The feature store pages in a real browser (Debian's Chromium through Playwright) against a
live server: entities, views and their versions, freshness in the online store, which model
versions use which view versions, and a view version's definition with a sample of its values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.artifacts import open_artifact_store
from modelyard.features import (
    Feature,
    FeatureEntity,
    FeatureService,
    FeatureSource,
    FeatureStoreService,
    FeatureView,
)
from modelyard.features.online import open_online_store
from modelyard.registry.service import RegistryService
from modelyard.server import ServerConfig, create_app
from modelyard.tracking.service import TrackingService
from tests.browser.conftest import LiveServer, start_server
from tests.browser.seed import ensure_ui
from tests.fixtures.stores import joined_store
from tests.integration.test_registry_service import Model

pytestmark = pytest.mark.slow

NewPage = Callable[[str], Any]
Shot = Callable[[Any, str], Path]
T0 = datetime(2024, 3, 1)


@pytest.fixture(scope="module")
def features_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("browser-features")
    artifacts = open_artifact_store(str(root / "artifacts"))
    store = joined_store(f"sqlite:///{root / 'ui.db'}", artifacts=artifacts)
    stores = store.stores
    stats_file, ratings_file = root / "stats.parquet", root / "ratings.parquet"
    pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": [T0] * 3, "trips": [5, 9, 2]}).to_parquet(stats_file)
    pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [T0] * 2, "rating": [4.5, 3.0]}).to_parquet(ratings_file)
    driver = FeatureEntity(name="driver", join_keys=["driver_id"])

    def stats(description: str) -> FeatureView:
        return FeatureView(
            name="stats",
            entities=[driver],
            source=FeatureSource.parquet(str(stats_file)),
            features=[Feature(name="trips", dtype="int64", description=description)],
            expectations=[{"expect": "between", "column": "trips", "min": 0, "max": 8}],
        )

    ratings = FeatureView(
        name="ratings",
        entities=[driver],
        source=FeatureSource.parquet(str(ratings_file)),
        features=[Feature(name="rating", dtype="float64")],
    )
    online = open_online_store(f"sqlite:///{root / 'online.db'}")
    features = FeatureStoreService(stores.features, online=online, artifacts=stores.artifacts)
    features.apply([driver, stats("trips per day"), ratings])
    features.apply([stats("trips per day, all cities")])  # stats@v2
    features.apply([FeatureService(name="churn-features", features=["stats:trips", "ratings:rating"])])
    features.materialize(T0, datetime(2024, 3, 2), views=["stats"])  # ratings never materialised
    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    registry.log_model(Model(1.0), "churn", actor="ana", project="ui", input_example=np.zeros((1, 3)))
    features.pin_model("churn", 1, "churn-features")
    online.close()
    server = start_server(ensure_ui(create_app(ServerConfig(), stores=stores)), TrackingService(store, artifacts), None)
    yield server
    server.stop()
    store.close()


def test_feature_pages_show_views_freshness_samples_and_model_use(
    new_page: NewPage, features_server: LiveServer, screenshot: Shot
) -> None:
    page = new_page(features_server.url)
    page.goto("/ui/")
    page.locator("nav.sections").get_by_role("link", name="Features").click()
    page.wait_for_url(re.compile(r"/ui/features$"))
    assert page.locator("#views-table tbody tr").count() == 2
    stats = page.locator("#views-table tr[data-view=stats]")
    assert "stats@v2" in stats.inner_text() and stats.locator("td").nth(1).inner_text() == "2"
    assert stats.locator("td.until").inner_text() == "2024-03-02 00:00:00"
    assert page.locator("#views-table tr[data-view=ratings] td.until").inner_text() == "never"
    use = page.locator("#uses-table tr[data-model=churn]")
    assert "churn v1" in use.inner_text() and "churn-features@v1" in use.inner_text()
    assert use.get_by_role("link", name="stats@v2").count() == 1
    assert use.get_by_role("link", name="ratings@v1").count() == 1
    assert "driver_id" in page.locator("#entities-table tr[data-entity=driver]").inner_text()
    screenshot(page, "features")

    use.get_by_role("link", name="stats@v2").click()
    page.wait_for_url(re.compile(r"/ui/features/views/stats\?version=2$"))
    assert page.locator("#view-version").inner_text() == "v2"
    assert "all cities" in page.locator("#features-table tr[data-feature=trips]").inner_text()
    headers = page.locator("#sample-table thead th").all_inner_texts()
    assert headers == ["driver_id", "event_timestamp", "trips"]
    assert sorted(r.split("\t")[2] for r in page.locator("#sample-table tbody tr").all_inner_texts()) == ["2", "5", "9"]
    assert page.locator("#versions-table tbody tr").count() == 2
    assert "churn v1" in page.locator("#uses-list").inner_text()
    assert page.locator("#profile-rows").inner_text() == "3 rows in 1 run(s)"
    cells = page.locator("#profile-table tr[data-feature=trips] td").all_inner_texts()
    assert cells[:5] == ["trips", "numeric", "0.0%", "2", "9"]
    assert (
        page.locator("#profile-checks").inner_text()
        == "check failed in the newest run: 0 <= trips <= 8: 1 of 3 rows failed"
    )
    screenshot(page, "feature-view")

    page.locator("#versions-table").get_by_role("link", name="v1").click()
    page.wait_for_url(re.compile(r"/ui/features/views/stats\?version=1$"))
    assert page.locator("#view-version").inner_text() == "v1"
    assert page.locator("#uses-list").count() == 0  # the model reads v2
    assert "Not materialised" in page.locator("#profile").inner_text()
    page.goto("/ui/features/views/nothing")
    assert "no feature view 'nothing'" in page.locator("body").inner_text()
