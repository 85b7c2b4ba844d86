"""``POST /v1/models/{name}/explain`` on the model server (modelyard.serving, modelyard.explain):
per-row attributions for the same bodies the predict route takes (SHAP for a tree model, adding up
to its prediction; occlusion against the baseline stored with an evaluated version), and bad input
answered with 4xx JSON bodies, the signature checked as for predict."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelyard.evaluation import evaluate
from modelyard.serving.app import ServingApp, create_serving_app
from modelyard.serving.openapi import openapi_document
from tests.serving._client import call
from tests.serving.conftest import Registered

CSV = {"content-type": "text/csv"}
JSON = {"content-type": "application/json"}


def _frame(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    return frame, 4.0 * frame["a"].to_numpy() + 0.5 * frame["b"].to_numpy()


@pytest.fixture(scope="module")
def app(registered: Registered) -> ServingApp:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression

    frame, y = _frame()
    registry = registered.registry
    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(frame, y)
    registry.log_model(forest, "xforest", actor="tester", project="serving", input_example=frame.head())
    linear = LinearRegression().fit(frame, y)
    version = registry.log_model(linear, "xlinear", actor="tester", project="serving", input_example=frame.head())
    evaluate(f"xlinear@{version.version}", frame.assign(y=y), target="y", registry=registry, actor="tester")
    refs = ["xforest@1", "xlinear@1", "mixed@1", "tens@1", "bc@prod"]
    return create_serving_app(refs, stores=registered.stores, max_body_bytes=64 * 1024)


def _post(app: ServingApp, requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    async def block(client: httpx.AsyncClient) -> list[httpx.Response]:
        out = []
        for path, kwargs in requests:
            method = kwargs.pop("method", "POST")
            out.append(await client.request(method, path, **kwargs))
        return out

    return call(app, block)


def test_tree_model_gets_shap_values_that_add_up(app: ServingApp) -> None:
    frame, _ = _frame()
    rows = frame.head(4)
    [response] = _post(app, [("/v1/models/xforest/explain", {"json": rows.to_dict(orient="records")})])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "shap" and body["additive"] is True and body["output"] == "prediction"
    assert body["model"] == "xforest" and body["version"] == 1 and body["features"] == ["a", "b", "c"]
    assert response.headers["x-request-id"] == body["request_id"]
    served = app.state.get("xforest").live[0].host.loaded.predict(rows)
    for row, prediction in zip(body["explanations"], served, strict=True):
        assert row["base_value"] + sum(row["attributions"].values()) == pytest.approx(prediction, abs=1e-6)
        assert abs(row["attributions"]["a"]) > abs(row["attributions"]["c"])


def test_other_models_get_occlusion_against_the_stored_baseline(app: ServingApp) -> None:
    frame, _ = _frame()
    one = frame.head(1)
    [columns, csv] = _post(
        app,
        [
            ("/v1/models/xlinear/explain", {"json": {"columns": {k: v.tolist() for k, v in one.items()}}}),
            (
                "/v1/models/xlinear/explain",
                {"content": one.to_csv(index=False), "headers": {"content-type": "text/csv"}},
            ),
        ],
    )
    assert columns.status_code == 200, columns.text
    body = columns.json()
    assert body["method"] == "occlusion" and body["additive"] is False
    host = app.state.get("xlinear").live[0].host
    assert host.explain_baseline is not None
    linear = host.native
    expected = (one.to_numpy()[0] - np.array([host.explain_baseline[c] for c in "abc"])) * linear.coef_
    attributions = body["explanations"][0]["attributions"]
    np.testing.assert_allclose([attributions[c] for c in "abc"], expected, atol=1e-9)
    assert csv.status_code == 200 and csv.json()["explanations"] == body["explanations"]


def test_a_pipeline_with_a_text_column_is_explained_by_occlusion(app: ServingApp, registered: Registered) -> None:
    rows = registered.mixed_frame.head(5).to_dict(orient="records")
    [response] = _post(app, [("/v1/models/mixed/explain?method=occlusion", {"json": rows})])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["features"] == ["age", "income", "city"] and len(body["explanations"]) == 5
    assert body["output"] == "probability of class 1"


def test_bad_input_gets_4xx_json(app: ServingApp, registered: Registered) -> None:
    good = {"a": 0.1, "b": 0.2, "c": 0.3}
    many = [good] * 1001
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/v1/models/xforest/explain", {"json": [{"a": 0.1, "b": 0.2}]}, 400, "c"),
        ("/v1/models/xforest/explain", {"json": [{**good, "c": "high"}]}, 400, "c"),
        ("/v1/models/xforest/explain", {"json": [{**good, "d": 1.0}]}, 400, "d"),
        (
            "/v1/models/xforest/explain",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "",
        ),
        ("/v1/models/xforest/explain", {"content": b"x", "headers": {"content-type": "image/png"}}, 415, ""),
        ("/v1/models/xforest/explain?method=lime", {"json": [good]}, 400, ""),
        ("/v1/models/xlinear/explain?method=shap", {"json": [good]}, 400, ""),
        ("/v1/models/nope/explain", {"json": [good]}, 404, ""),
        ("/v1/models/xforest/explain", {"json": many}, 400, ""),
        ("/v1/models/tens/explain", {"json": [[1.0, 2.0, 3.0]]}, 400, ""),
        ("/v1/models/xforest/explain", {"method": "GET"}, 405, ""),
        ("/v1/models/xforest/explain", {"content": b"x" * 70_000}, 413, ""),
    ]
    responses = _post(app, [(path, dict(kwargs)) for path, kwargs, _, _ in cases])
    for (path, _, status, field), response in zip(cases, responses, strict=True):
        assert response.status_code == status, (path, response.status_code, response.text)
        error = response.json()["error"]
        assert error["code"] and error["message"], error
        if field:
            assert error["details"][0]["field"] == field, error
    assert "tree models" in responses[6].json()["error"]["message"]
    assert "at most 1000 rows" in responses[8].json()["error"]["message"]
    # the server still answers
    [after] = _post(app, [("/v1/models/xforest/explain", {"json": [good]})])
    assert after.status_code == 200


def test_a_single_row_without_a_stored_baseline_is_a_clear_400(app: ServingApp, registered: Registered) -> None:
    row = registered.frame.head(1).to_dict(orient="records")
    [one, two] = _post(
        app,
        [
            ("/v1/models/bc/explain", {"json": row}),
            ("/v1/models/bc/explain", {"json": registered.frame.head(3).to_dict(orient="records")}),
        ],
    )
    assert one.status_code == 400 and "baseline" in one.json()["error"]["message"]
    assert two.status_code == 200 and two.json()["method"] == "occlusion"


def test_openapi_lists_the_explain_route(app: ServingApp) -> None:
    document = openapi_document(app.state.get("xforest"))
    route = document["paths"]["/v1/models/xforest/explain"]["post"]
    assert route["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Input"}
    assert "Explanation" in document["components"]["schemas"]
    assert "/v1/models/tens/explain" not in openapi_document(app.state.get("tens"))["paths"]
