"""Drift between datasets (monitoring/drift.py): method selection, options, sources, SDK, CLI, report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import modelyard
from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument
from modelyard.monitoring.drift import DriftOptions, choose_method, compute_drift
from modelyard.monitoring.profiles import profile_frame
from modelyard.reports.drift import drift_report_dict, render_drift_html
from modelyard.stats.profile import DatasetProfile

runner = CliRunner()


def frame(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(shift if i < 2 else 0.0, 1.0, size=n) for i in range(4)})
    df["color"] = rng.choice(["red", "green", "blue"], size=n, p=[0.6, 0.3, 0.1] if shift == 0 else [0.2, 0.3, 0.5])
    df["flag"] = rng.random(n) < 0.5
    df["level"] = rng.integers(0, 4, size=n)
    df["pred"] = df["x0"] * 0.5 + rng.normal(size=n)
    return df


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (500, {"x0": "ks", "color": "chisquare", "flag": "z", "level": "chisquare"}),
        (5000, {"x0": "wasserstein", "color": "jensenshannon", "flag": "jensenshannon", "level": "jensenshannon"}),
    ],
)
def test_method_follows_type_and_reference_size(n: int, expected: dict[str, str]) -> None:
    result = compute_drift(frame(n), frame(n, seed=1))
    assert {c.column: c.method for c in result.columns if c.column in expected} == expected


def test_binary_numeric_small_reference_uses_z_test() -> None:
    ref = profile_frame(pd.DataFrame({"b": np.tile([0, 1], 100)}))
    assert choose_method(ref.columns["b"], ref.columns["b"]) == "z"


def test_shifted_columns_are_flagged_and_stable_ones_are_not() -> None:
    for n in (600, 20_000):
        result = compute_drift(frame(n), frame(n, shift=0.5, seed=1), options=DriftOptions(prediction="pred"))
        assert set(result.drifted_columns) == {"x0", "x1", "color"}, n
        assert result.prediction is not None and result.prediction.role == "prediction"
        assert "pred" not in result.drifted_columns
        assert result.share_drifted == pytest.approx(3 / 7)
        assert not result.dataset_drift
        assert compute_drift(frame(n), frame(n, 0.5, 1), options=DriftOptions(drift_share=0.4)).dataset_drift


def test_per_column_method_and_threshold() -> None:
    options = DriftOptions(columns={"x0": {"method": "psi", "threshold": 5.0}, "x2": "ks", "color": {"threshold": 0.9}})
    result = compute_drift(frame(5000), frame(5000, 0.5, 1), options=options)
    x0, x2, color = result.column("x0"), result.column("x2"), result.column("color")
    assert (x0.method, x0.threshold, x0.drifted) == ("psi", 5.0, False)
    assert x2.method == "ks" and x2.p_value is not None and x2.score == x2.p_value
    assert color.method == "jensenshannon" and color.threshold == 0.9 and not color.drifted
    every = compute_drift(frame(5000), frame(5000, 0.5, 1), options=DriftOptions(method="psi"))
    assert {c.method for c in every.columns} == {"psi"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "bogus"}, "unknown drift method"),
        ({"columns": {"x0": "bogus"}}, "unknown drift method"),
        ({"columns": {"x0": {"metod": "ks"}}}, "unknown option"),
        ({"drift_share": 0}, "drift_share"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        DriftOptions(**kwargs)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidArgument, match="no columns in common"):
        compute_drift(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]}))
    with pytest.raises(InvalidArgument, match="no rows"):
        compute_drift(pd.DataFrame({"a": []}), pd.DataFrame({"a": [1.0]}))
    with pytest.raises(InvalidArgument, match="needs a numeric column"):
        compute_drift(frame(100), frame(100), options=DriftOptions(columns={"color": "ks"}))
    with pytest.raises(InvalidArgument, match="not compared"):
        compute_drift(frame(100), frame(100), options=DriftOptions(columns={"nope": "ks"}))
    with pytest.raises(InvalidArgument, match="prediction column"):
        compute_drift(frame(100), frame(100), options=DriftOptions(prediction="nope"))


def test_text_columns_are_skipped_unless_asked_and_kinds_must_agree() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"id": [f"u{i}" for i in range(3000)], "v": rng.normal(size=3000)})
    cur = pd.DataFrame({"id": [f"w{i}" for i in range(3000)], "v": rng.choice(["a", "b"], size=3000)})
    result = compute_drift(ref, cur)
    assert "id" in result.skipped and "kinds differ" in result.skipped["v"]
    forced = compute_drift(ref, cur, columns=["id"], options=DriftOptions(columns={"id": "jensenshannon"}))
    assert forced.column("id").drifted


def test_drift_against_a_profile_equals_drift_against_the_frame() -> None:
    ref, cur = frame(20_000), frame(20_000, 0.5, 1)
    by_frame = compute_drift(ref, cur)
    prof = DatasetProfile.from_bytes(profile_frame(ref).to_bytes())
    by_profile = compute_drift(prof, cur)
    assert by_frame.drifted_columns == by_profile.drifted_columns
    for a, b in zip(by_frame.columns, by_profile.columns, strict=True):
        # the profile's KLL sketch is randomized (about 0.7% rank error, no seed to fix); a distance
        # summed over the quantiles, tails included, moves by a few percent of itself from one sketch
        # to the next and, about once in a few hundred sketches, by 10-13% (seen: 0.220 vs 0.195)
        assert a.method == b.method and a.statistic == pytest.approx(b.statistic, rel=0.25, abs=0.02)


def test_domain_classifier_sees_joint_shift_that_marginals_miss() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=4000)
    ref = pd.DataFrame({"a": a, "b": a + rng.normal(0, 0.1, size=4000)})
    a2 = rng.normal(size=4000)
    cur = pd.DataFrame({"a": a2, "b": -a2 + rng.normal(0, 0.1, size=4000)})  # same marginals, flipped relation
    result = compute_drift(ref, cur, options=DriftOptions(domain_classifier=True))
    assert not result.drifted_columns
    assert result.domain is not None and result.domain.drifted and result.domain.roc_auc > 0.9
    same = compute_drift(ref, ref.sample(frac=1.0, random_state=1), options=DriftOptions(domain_classifier=True))
    assert same.domain is not None and not same.domain.drifted
    with pytest.raises(InvalidArgument, match="domain classifier"):
        compute_drift(profile_frame(ref), cur, options=DriftOptions(domain_classifier=True))


def test_result_to_dict_is_json() -> None:
    result = compute_drift(frame(500), pd.concat([frame(500, 0.5, 1), frame(5, seed=3).assign(color="new")]))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["columns"][0]["column"] == "x0" and "score" in data["columns"][0]


# ---- sources, SDK, CLI -------------------------------------------------------------------------


def test_sdk_drift_and_profile_between_files(tmp_path) -> None:
    frame(3000).to_parquet(tmp_path / "ref.parquet")
    frame(3000, 0.5, 1).to_csv(tmp_path / "cur.csv", index=False)
    prof = modelyard.profile(tmp_path / "ref.parquet", path=tmp_path / "ref.myprofile")
    assert prof.rows == 3000 and (tmp_path / "ref.myprofile").read_bytes().startswith(b"MYPROF1")
    by_file = modelyard.drift(str(tmp_path / "ref.parquet"), tmp_path / "cur.csv")
    by_profile = modelyard.drift(tmp_path / "ref.myprofile", tmp_path / "cur.csv", report=tmp_path / "r.html")
    assert by_file.drifted_columns == by_profile.drifted_columns == ["x0", "x1", "color", "pred"]
    assert (tmp_path / "r.html").stat().st_size < 200_000 and (tmp_path / "plotly.min.js").exists()
    some = modelyard.profile(tmp_path / "cur.csv", columns=["x0", "color"])
    assert list(some.columns) == ["x0", "color"] and some.rows == 3000
    only = modelyard.drift(tmp_path / "ref.parquet", tmp_path / "cur.csv", columns=["x2", "color"])
    assert [c.column for c in only.columns] == ["x2", "color"] and only.drifted_columns == ["color"]


def test_cli_drift_table_json_and_report(tmp_path) -> None:
    frame(3000).to_parquet(tmp_path / "ref.parquet")
    frame(3000, 0.5, 1).to_parquet(tmp_path / "cur.parquet")
    out = runner.invoke(
        app,
        [
            "drift",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            "--report",
            str(tmp_path / "d.html"),
            "--column",
            "x3=psi:0.5",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "4 of 8 columns drifted" in out.output and (tmp_path / "d.html").exists()
    out = runner.invoke(
        app,
        [
            "drift",
            str(tmp_path / "ref.parquet"),
            str(tmp_path / "cur.parquet"),
            "--json",
            "--drift-share",
            "0.3",
            "--fail-on-drift",
        ],
    )
    assert out.exit_code == 1
    data = json.loads(out.stdout)
    assert (
        data["dataset_drift"] and data["drifted_columns"] == ["x0", "x1", "color", "pred"] and len(data["plots"]) == 8
    )
    out = runner.invoke(app, ["profile", str(tmp_path / "ref.parquet"), "-o", str(tmp_path / "ref.myprofile")])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["drift", str(tmp_path / "ref.myprofile"), str(tmp_path / "cur.parquet"), "--json"])
    assert json.loads(out.stdout)["drifted_columns"] == ["x0", "x1", "color", "pred"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.parquet", "{cur}"], "no such file"),
        (["{ref}", "{other}"], "no columns in common"),
        (["{ref}", "{cur}", "--method", "nope"], "unknown drift method"),
        (["{ref}", "{cur}", "--column", "x0"], "--column takes"),
        (["{ref}", "{cur}", "--column", "x0=ks:abc"], "is not a number"),
        (["{ref}", "{cur}", "--self-contained"], "needs --report"),
        (["{ref}", "{notes}"], "cannot read"),
        (["{ref}", "{cur}", "--columns", "x0,zz"], "no column 'zz' in ref.parquet"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args: list[str], message: str) -> None:
    frame(200).to_parquet(tmp_path / "ref.parquet")
    frame(200, 0.5).to_parquet(tmp_path / "cur.parquet")
    pd.DataFrame({"zzz": [1, 2]}).to_csv(tmp_path / "other.csv", index=False)
    (tmp_path / "notes.txt").write_text("hello")
    paths = {
        "ref": tmp_path / "ref.parquet",
        "cur": tmp_path / "cur.parquet",
        "other": tmp_path / "other.csv",
        "notes": tmp_path / "notes.txt",
    }
    argv = ["drift", *[a.format(**paths) for a in args]]
    out = runner.invoke(app, argv)
    assert out.exit_code == 2, out.output
    assert message in out.stderr and "Traceback" not in out.output
    assert len(out.stderr.strip().splitlines()) == 1


def test_report_holds_aggregates_only_and_stays_small() -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    ref = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(20)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.3 if i < 5 else 0.0, 1.0, size=n) for i in range(20)})
    for i in range(5):
        ref[f"c{i}"] = rng.choice([f"k{j}" for j in range(30)], size=n)
        cur[f"c{i}"] = rng.choice([f"k{j}" for j in range(30)], size=n)
    result = compute_drift(ref, cur)
    html = render_drift_html(result, plotly_src="plotly.min.js")
    assert len(html.encode()) < 100_000
    assert html.count('class="plot"') == 25
    data = json.dumps(drift_report_dict(result))
    # no row of the data is in it: no value at full precision, and no more numbers than bins
    for value in ref["x3"].to_numpy()[1:200]:
        assert repr(float(value)) not in html and repr(float(value)) not in data
    numbers = re.findall(r"-?\d+\.\d+", html)
    assert len(numbers) < 25 * 3 * 31 + 500  # x, reference and current per bin


def test_cli_drift_between_dataset_versions(tmp_path) -> None:
    (tmp_path / "store").mkdir()
    store = str(tmp_path / "store")
    frame(2000).to_parquet(tmp_path / "train.parquet")
    frame(2000, 0.5, 1).to_parquet(tmp_path / "live.parquet")
    for name in ("train", "live"):
        out = runner.invoke(app, ["data", "add", str(tmp_path / f"{name}.parquet"), "--name", name, "--store", store])
        assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["drift", "train@v1", "live@latest", "--store", store, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["drifted_columns"] == ["x0", "x1", "color", "pred"]
    out = runner.invoke(app, ["drift", "train@v9", "live@latest", "--store", store])
    assert out.exit_code != 0 and "Traceback" not in out.output and len(out.stderr.strip().splitlines()) == 1


def test_files_are_profiled_a_batch_at_a_time(tmp_path, monkeypatch) -> None:
    from modelyard.monitoring import profiles

    ref, cur = frame(5000), frame(5000, 0.5, 1)
    ref.to_parquet(tmp_path / "ref.parquet", row_group_size=1000)
    whole = compute_drift(ref, cur)
    monkeypatch.setattr(profiles, "BATCH_ROWS", 1000)
    prof = profiles.profile_file(tmp_path / "ref.parquet", batch_rows=700)
    assert prof.rows == 5000 and prof.columns["color"].counts == profile_frame(ref).columns["color"].counts
    batched = compute_drift(prof, cur)
    assert batched.drifted_columns == whole.drifted_columns
    for a, b in zip(whole.columns, batched.columns, strict=True):
        # Both sides are quantile sketches (KLL, randomised compaction): a Wasserstein distance read
        # off them moved by up to 6% of its value between runs (0.03 of 0.48 seen in 40 runs).
        assert a.statistic == pytest.approx(b.statistic, rel=0.1, abs=0.03)
    empty = tmp_path / "empty.parquet"
    ref.iloc[:0].to_parquet(empty)
    with pytest.raises(InvalidArgument, match="no rows"):
        compute_drift(profiles.profile_file(empty), cur)


def test_datetimes_missing_values_and_nullable_columns() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    start = pd.Timestamp("2026-01-01")
    ref = pd.DataFrame(
        {
            "seen": start + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s"),
            "amount": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 500, n)), dtype="Int64"),
            "city": pd.Series(rng.choice(["a", "b", None], n, p=[0.5, 0.4, 0.1]), dtype="object"),
        }
    )
    cur = ref.copy()
    cur["seen"] = cur["seen"] + pd.Timedelta(days=20)
    cur.loc[: n // 2, "amount"] = pd.NA
    result = compute_drift(ref, cur)
    seen, amount, city = result.column("seen"), result.column("amount"), result.column("city")
    assert seen.kind == "datetime" and seen.drifted
    assert amount.kind == "numeric" and amount.reference_missing == pytest.approx(0.1, abs=0.02)
    assert amount.current_missing > 0.5
    assert city.kind == "categorical" and city.reference_missing == pytest.approx(0.1, abs=0.02) and not city.drifted
