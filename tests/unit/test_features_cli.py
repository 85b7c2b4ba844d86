"""``modelyard features`` and ``modelyard.feature_store`` on the embedded default: apply a
definition file, list/show/diff versions, build and save a training set whose lineage names the
view versions and the dataset version they read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app

runner = CliRunner()
T0 = datetime(2024, 3, 1)

DEFINITIONS = """
from modelyard.features import Feature, FeatureEntity, FeatureService, FeatureSource, FeatureView

driver = FeatureEntity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats",
    entities=[driver],
    source=FeatureSource.parquet("data/stats.parquet"),
    features=[Feature(name="trips", dtype="int64")],
    ttl_seconds={ttl},
)
ratings = FeatureView(
    name="ratings",
    entities=[driver],
    source=FeatureSource.dataset("ratings@v1"),
    features=[Feature(name="rating", dtype="float64")],
)
model = FeatureService(name="model", features=[stats, "ratings:rating"])
"""


@pytest.fixture(autouse=True)
def fresh_sdk(modelyard_home: Path) -> Iterator[Path]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    yield modelyard_home
    modelyard.set_store_uri(None)


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [T0, T0 + timedelta(hours=2)], "trips": [5, 9]}).to_parquet(
        tmp_path / "data" / "stats.parquet"
    )
    ratings = tmp_path / "ratings.parquet"
    pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [T0, T0], "rating": [4.5, 3.0]}).to_parquet(ratings)
    invoke("data", "add", str(ratings), "--name", "ratings")
    (tmp_path / "features.py").write_text(DEFINITIONS.format(ttl=3600))
    return tmp_path


def test_apply_list_show_diff(repo: Path) -> None:
    out = json.loads(invoke("features", "apply", str(repo / "features.py"), "--json"))
    assert [(a["kind"], a["ref"], a["created"]) for a in out] == [
        ("entity", "driver@v1", True),
        ("view", "ratings@v1", True),
        ("view", "stats@v1", True),
        ("service", "model@v1", True),
    ]
    assert "0 new version(s), 4 unchanged" in invoke("features", "apply", str(repo / "features.py"))
    (repo / "features.py").write_text(DEFINITIONS.format(ttl=7200))
    out = json.loads(invoke("features", "apply", str(repo / "features.py"), "--json"))
    assert [a["ref"] for a in out if a["created"]] == ["stats@v2", "model@v2"]
    shown = json.loads(invoke("features", "show", "stats@v1", "--json"))
    assert shown["definition"]["ttl_seconds"] == 3600
    # The relative Parquet path was stored absolute (read from anywhere).
    assert shown["definition"]["source"]["location"] == str((repo / "data" / "stats.parquet").resolve())
    listed = json.loads(invoke("features", "list", "--json"))
    assert [v["name"] + "@v" + str(v["version"]) for v in listed] == ["ratings@v1", "stats@v2"]
    assert len(json.loads(invoke("features", "list", "stats", "--json"))) == 2
    diff = json.loads(invoke("features", "diff", "stats", "--json"))
    assert diff["changed"] == {"ttl_seconds": {"from": 3600, "to": 7200}}
    assert "ttl_seconds: 3600 → 7200" in invoke("features", "diff", "stats", "1", "2")
    assert "stats@v2:trips" in invoke("features", "show", "model", "--kind", "service")


def test_training_set_saved_with_lineage(repo: Path, tmp_path: Path) -> None:
    invoke("features", "apply", str(repo / "features.py"))
    entities = tmp_path / "entities.parquet"
    pd.DataFrame({"driver_id": [2, 1, 3], "event_timestamp": [T0 + timedelta(hours=1)] * 3}).to_parquet(entities)
    out = tmp_path / "train.parquet"
    invoke("features", "training-set", str(entities), "--service", "model", "--out", str(out), "--save", "train")
    frame = pd.read_parquet(out)
    assert frame["driver_id"].tolist() == [2, 1, 3]
    assert frame["rating"].tolist()[:2] == [3.0, 4.5]
    assert pd.isna(frame["trips"][0]) and frame["trips"][1] == 5  # driver 2's trips come an hour later
    saved = modelyard.datasets.get("train@v1")
    assert [str(p) for p in saved.parents] == ["ratings@v1"]
    assert saved.params["feature_views"] == "stats@v1,ratings@v1"
    graph = json.loads(invoke("lineage", "train@v1", "--json"))
    edges = {(e["from"], e["to"], e["kind"]) for e in graph["edges"]}
    assert ("feature_view:stats@v1", "dataset:train@v1", "derived_from") in edges
    assert ("dataset:ratings@v1", "feature_view:ratings@v1", "read_by") in edges
    nodes = graph["nodes"]
    kinds = {n["id"]: n["kind"] for n in (nodes if isinstance(nodes, list) else nodes.values())}
    assert kinds["feature_view:stats@v1"] == "feature_view"
    # The SDK reads the same store.
    ts = modelyard.feature_store.get_training_set(pd.read_parquet(entities), ["stats@v1:trips"])
    assert ts.to_pandas()["trips"].tolist()[1] == 5


def test_bad_input_is_one_line(repo: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from modelyard.features import FeatureEntity\nx = FeatureEntity(name='a', join_keys=[])\n")
    for args in (
        ["features", "apply", str(broken)],
        ["features", "apply", str(tmp_path / "missing.py")],
        ["features", "show", "nothing"],
        ["features", "list", "--kind", "table"],
        ["features", "training-set", str(tmp_path / "e.parquet"), "-f", "stats:trips"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert modelyard.feature_store.list_views() == []


def test_materialize_freshness_and_online_from_the_cli(repo: Path) -> None:
    invoke("features", "apply", str(repo / "features.py"))
    runs = json.loads(invoke("features", "materialize", "--end", "2024-03-02T00:00:00", "--json"))
    assert sorted((r["view"], r["rows"]) for r in runs) == [("ratings", 2), ("stats", 2)]
    assert "up to date" in invoke("features", "materialize", "--end", "2024-03-02T00:00:00")
    fresh = json.loads(invoke("features", "freshness", "--json"))
    assert {f["view"] for f in fresh} == {"ratings@v1", "stats@v1"} and all(f["rows"] == 2 for f in fresh)
    out = json.loads(
        invoke("features", "online", "--service", "model", "-e", '{"driver_id": 2}', "-e", '{"driver_id": 99}')
    )
    # stats has a TTL of an hour, long past now: served as not found; ratings has none.
    assert out[0]["values"] == {"trips": None, "rating": 3.0}
    assert out[0]["found"] == {"stats@v1": False, "ratings@v1": True}
    assert out[1]["found"] == {"stats@v1": False, "ratings@v1": False}
    result = runner.invoke(app, ["features", "online", "-f", "stats:trips", "-e", "[1]"])
    assert result.exit_code == 2 and "JSON object" in result.output
    result = runner.invoke(app, ["features", "materialize", "--start", "yesterday"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_online_reads_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from modelyard.features import FeatureStoreService
    from modelyard.features.online import open_online_store
    from modelyard.store import open_stores
    from tests.fixtures.live_server import sqlite_server

    online_uri = f"sqlite:///{tmp_path / 'online.db'}"
    monkeypatch.setenv("MODELYARD_ONLINE_STORE_URI", online_uri)
    pd.DataFrame({"driver_id": [1], "event_timestamp": [T0], "trips": [5]}).to_parquet(tmp_path / "s.parquet")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "stats.parquet").write_bytes((tmp_path / "s.parquet").read_bytes())
    definitions = tmp_path / "defs.py"
    definitions.write_text(DEFINITIONS.format(ttl="None").split("ratings = ")[0])
    with sqlite_server(tmp_path / "server") as (url, _app), open_stores(url) as stores:
        online = open_online_store(online_uri)
        service = FeatureStoreService(stores.features, online=online)
        from modelyard.features.definitions import load_definitions

        service.apply(load_definitions(definitions))
        service.materialize(T0, T0 + timedelta(days=1))  # recorded on the server, written locally
        body = {"features": ["stats:trips"], "entities": [{"driver_id": 1}, {"driver_id": 2}]}
        response = httpx.post(f"{url}/api/v1/features/online", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "features": ["trips"],
            "views": ["stats@v1"],
            "values": [[5], [None]],
            "found": [[True], [False]],
        }
        bad = httpx.post(f"{url}/api/v1/features/online", json={**body, "features": ["stats:trip"]})
        assert bad.status_code == 404 and "closest: trips" in bad.text
        # the refusals the route makes, whichever path reads the request
        text = httpx.post(f"{url}/api/v1/features/online", content=b"{}", headers={"Content-Type": "text/plain"})
        assert text.status_code == 400 and "expected a JSON body" in text.json()["error"]["message"]
        missing = httpx.post(f"{url}/api/v1/features/online", json={"features": ["stats:trips"]})
        assert missing.status_code == 422 and "entities" in missing.json()["error"]["message"]
        no_key = httpx.post(f"{url}/api/v1/features/online", json={**body, "entities": [{"driver": 1}]})
        assert no_key.status_code == 400 and "no join key 'driver_id'" in no_key.text
        both = httpx.post(f"{url}/api/v1/features/online", json={**body, "service": "model"})
        assert both.status_code == 400 and "either 'features' or 'service'" in both.text
        # the fast path answers a good read itself and hands a refused one to the route
        assert _fast_path(_app, body) == (200, False, response.content)
        status, reached_route, _ = _fast_path(_app, {**body, "features": ["stats:trip"]})
        assert status == 599 and reached_route
        counted = httpx.get(f"{url}/metrics").text
        assert 'route="/api/v1/features/online",status="200"} 1.0' in counted  # the good read, counted once
        fresh = httpx.get(f"{url}/api/v1/features/freshness").json()["views"]
        assert [(f["view"], f["rows"]) for f in fresh] == [("stats@v1", 1)]
        online.close()


def _fast_path(app: Any, body: dict[str, Any]) -> tuple[int, bool, bytes]:
    """``OnlineReadFastPath`` called directly over ``app``'s state, in front of a stand-in for
    the route (it answers 599 with the body it received): (status, route reached, body)."""
    import asyncio

    from modelyard.server.routers.features import ONLINE_PATH, OnlineReadFastPath

    raw = json.dumps(body).encode()
    reached: list[bytes] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        reached.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": reached[-1]})

    async def call() -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []
        scope = {
            "type": "http",
            "method": "POST",
            "path": ONLINE_PATH,
            "headers": [(b"content-type", b"application/json")],
            "query_string": b"",
            "app": app,
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await OnlineReadFastPath(route)(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    status, content = asyncio.run(call())
    if reached:
        assert reached == [raw]  # the route got the whole body again
    return status, bool(reached), content


def test_definition_bodies_are_wire_models(tmp_path: Path) -> None:
    """The definition routes decode strict wire bodies: a rule of the schema and a rule between
    fields are both a 422 with the JSON error body, never a 500; an unknown field is refused."""
    import httpx

    from tests.fixtures.live_server import sqlite_server

    entity = {"name": "driver", "join_keys": ["driver_id"]}
    view = {
        "name": "stats",
        "entities": ["driver"],
        "source": {"kind": "parquet", "location": "s.parquet"},
        "features": [{"name": "trips", "dtype": "int64"}],
    }
    with sqlite_server(tmp_path / "server") as (url, _app), httpx.Client(base_url=f"{url}/api/v1/features") as http:
        assert http.post("/entities", json=entity).status_code == 201
        again = http.post("/entities", json=entity)
        assert again.status_code == 200 and again.json()["created"] is False
        repeated = http.post("/entities", json={**entity, "name": "d2", "join_keys": ["a", "a"]})
        assert repeated.status_code == 422 and repeated.json()["error"]["code"] == "INVALID_ARGUMENT"
        unknown = http.post("/entities", json={**entity, "typo": 1})
        assert unknown.status_code == 422 and "typo" in unknown.text
        between = http.post("/views", json={**view, "timestamp_field": "trips"})
        assert between.status_code == 422, between.text
        assert "is not a feature" in between.json()["error"]["message"]
        created = http.post("/views", json=view)
        assert created.status_code == 201, created.text
        latest = http.get("/views/stats/latest").json()
        assert latest["definition"]["entities"] == ["driver"] and latest["join_keys"] == ["driver_id"]
        assert latest["digest"] == created.json()["version"]["digest"]


def test_pin_and_parity_from_the_cli(repo: Path) -> None:
    invoke("features", "apply", str(repo / "features.py"))
    pinned = json.loads(invoke("features", "pin", "churn", "1", "--service", "model", "--json"))
    assert pinned["service"] == "model" and pinned["views"] == ["stats@v1", "ratings@v1"]
    result = runner.invoke(app, ["features", "pin", "churn", "1", "--service", "nothing"])
    assert result.exit_code == 1 and "no feature service 'nothing'" in result.output
    # Nothing materialised yet: the online store lags the offline join.
    result = runner.invoke(app, ["features", "parity", "--service", "model", "-e", '{"driver_id": 2}'])
    assert result.exit_code == 1 and "1 of 2 values differ" in result.output
    invoke("features", "materialize")
    assert "parity" in invoke("features", "parity", "--service", "model", "-e", '{"driver_id": 2}')
    assert modelyard.feature_store.enrich([{"driver_id": 2}], "churn", 1).values == [[None, 3.0]]
