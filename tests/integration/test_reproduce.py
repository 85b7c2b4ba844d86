"""``modelyard reproduce`` end to end: a temporary git repository with a tiny training script
that reads dataset versions, logs params and a model; the script is committed and run, then
reproduced from the recorded commit in an isolated working copy.

Cases: identical predictions; a data change (the script reads ``train@latest`` and a new version
was added) named in the report and exit 1; a run with uncommitted changes refused unless
--allow-dirty; unknown and malformed references as one-line CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app

runner = CliRunner()

TRAIN_SCRIPT = """\
import modelyard
from sklearn.tree import DecisionTreeClassifier

with modelyard.start_run(name="train"):
    train = modelyard.datasets.get("train", context="training").to_pandas()  # the latest version
    modelyard.datasets.get("holdout@v1", context="evaluation")
    params = {"max_depth": 3, "random_state": 0}
    modelyard.log_params(params)
    X = train[["a", "b"]]
    model = DecisionTreeClassifier(**params).fit(X, train["y"])
    modelyard.log_model(model, "clf", input_example=X.head())
"""

NOISY_SCRIPT = """\
import numpy as np
import modelyard
from sklearn.linear_model import LinearRegression

with modelyard.start_run(name="noisy"):
    train = modelyard.datasets.get("train@v1", context="training").to_pandas()
    modelyard.datasets.get("holdout@v1", context="test")
    noise = np.random.default_rng().normal(0.0, 1e-3, len(train))  # unseeded: never the same twice
    model = LinearRegression().fit(train[["a", "b"]], train["y"] + noise)
    modelyard.log_model(model, "reg", input_example=train[["a", "b"]].head())
"""


ARGS_SCRIPT = """\
import argparse
import modelyard
from sklearn.tree import DecisionTreeClassifier

parser = argparse.ArgumentParser()
parser.add_argument("--max-depth", type=int, required=True)
depth = parser.parse_args().max_depth
with modelyard.start_run(name="train-args"):
    train = modelyard.datasets.get("train@v1", context="training").to_pandas()
    modelyard.datasets.get("holdout@v1", context="evaluation")
    modelyard.log_param("max_depth", depth)
    X = train[["a", "b"]]
    model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, train["y"])
    modelyard.log_model(model, "deep", input_example=X.head())
"""


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _table(path: Path, flip: bool = False, rows: int = 60) -> Path:
    lines = ["a,b,y"]
    for i in range(rows):
        a, b = i % 10, (i * 7) % 13
        label = int(a + b > 10)
        lines.append(f"{a},{b},{1 - label if flip else label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def project(tmp_path: Path, modelyard_home: Path) -> Iterator[dict[str, object]]:
    """A committed training repository and stores with train@v1 and holdout@v1."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    (repo / "train.py").write_text(TRAIN_SCRIPT)
    (repo / "noisy.py").write_text(NOISY_SCRIPT)
    (repo / "training").mkdir()
    (repo / "training" / "train_args.py").write_text(ARGS_SCRIPT)
    _git(repo, "add", "train.py", "noisy.py", "training/train_args.py")
    _git(repo, "commit", "--quiet", "-m", "training script")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    env = {
        **os.environ,
        "MODELYARD_HOME": str(modelyard_home),
        "MODELYARD_STORE_URI": store,
        "MODELYARD_ARTIFACT_URI": str(tmp_path / "artifacts"),
        "MODELYARD_PROJECT": "repro",
    }
    env.pop("MODELYARD_REPRODUCE_OF", None)
    data = tmp_path / "data"
    data.mkdir()
    for name, path in (("train", _table(data / "train.csv")), ("holdout", _table(data / "holdout.csv", rows=25))):
        result = runner.invoke(app, ["data", "add", str(path), "--name", name, "--store", store], env=env)
        assert result.exit_code == 0, result.output
    yield {"repo": repo, "env": env, "store": store, "data": data}


def _train(project: dict[str, object], script: str = "train.py") -> None:
    subprocess.run([sys.executable, script], cwd=project["repo"], env=project["env"], check=True, capture_output=True)


def _reproduce(project: dict[str, object], *args: str) -> tuple[int, dict[str, object]]:
    env: dict[str, str] = project["env"]  # type: ignore[assignment]
    result = runner.invoke(app, ["reproduce", *args, "--json", "--store", str(project["store"])], env=env)
    assert result.output.strip(), result.output
    return result.exit_code, json.loads(result.output)


def test_a_committed_training_reproduces_with_identical_predictions(project: dict[str, object]) -> None:
    _train(project)
    code, report = _reproduce(project, "clf@1")
    assert code == 0, report
    assert report["status"] == "reproduced" and report["reproduced"] is True
    assert report["reproduction_ref"] == "clf@2"
    predictions = report["predictions"]
    assert isinstance(predictions, dict)
    assert predictions["data"] == "holdout@v1" and predictions["rows"] == 25 and predictions["mismatched"] == 0
    assert [d["what"] for d in report["differences"]] == []  # type: ignore[union-attr]
    assert report["workdir"] is None  # the temporary working copy is gone
    # the new run says what it reproduces; the user's checkout was not touched
    env: dict[str, str] = project["env"]  # type: ignore[assignment]
    shown = runner.invoke(app, ["runs", "show", str(report["reproduction_run_id"]), "--json"], env=env)
    tags = json.loads(shown.output)["tags"]
    assert tags["modelyard.reproduction_of"] == report["original_run_id"]
    assert _git(project["repo"], "status", "--porcelain") == ""  # type: ignore[arg-type]


def test_the_recorded_arguments_and_working_directory_are_used(project: dict[str, object]) -> None:
    """Started as ``cd training && python train_args.py --max-depth 2``: the reproduction runs
    the same command in the same directory of the working copy, with no arguments given."""
    repo: Path = project["repo"]  # type: ignore[assignment]
    subprocess.run(
        [sys.executable, "train_args.py", "--max-depth", "2"],
        cwd=repo / "training",
        env=project["env"],
        check=True,
        capture_output=True,
    )
    code, report = _reproduce(project, "deep@1")
    assert code == 0, report
    original = report["original"]
    assert isinstance(original, dict)
    assert original["args"] == ["--max-depth", "2"] and original["cwd"] == "training"
    assert report["status"] == "reproduced" and report["reproduction_ref"] == "deep@2"
    assert [d["what"] for d in report["differences"]] == []  # type: ignore[union-attr]
    env: dict[str, str] = project["env"]  # type: ignore[assignment]
    shown = runner.invoke(app, ["runs", "show", str(report["reproduction_run_id"]), "--json"], env=env)
    assert json.loads(shown.output)["params"] == {"max_depth": "2"}


def test_a_data_change_is_named_and_exits_non_zero(project: dict[str, object]) -> None:
    _train(project)
    data: Path = project["data"]  # type: ignore[assignment]
    flipped = _table(data / "train-v2.csv", flip=True)
    result = runner.invoke(
        app, ["data", "add", str(flipped), "--name", "train", "--store", str(project["store"])], env=project["env"]
    )
    assert result.exit_code == 0, result.output
    code, report = _reproduce(project, "clf@1")
    assert code == 1
    assert report["status"] == "not_reproduced"
    kinds = [d["what"] for d in report["differences"]]  # type: ignore[union-attr]
    assert kinds[0] == "data" and "data" in str(report["summary"])
    detail = report["differences"][0]["detail"]  # type: ignore[index]
    assert "train (training): v1" in detail and "v2" in detail
    # the human report names it too
    text = runner.invoke(app, ["reproduce", "clf@1", "--store", str(project["store"])], env=project["env"])
    assert text.exit_code == 1 and "not_reproduced" in text.output and "train (training): v1" in text.output


def test_uncommitted_changes_are_refused_unless_allowed(project: dict[str, object]) -> None:
    repo: Path = project["repo"]  # type: ignore[assignment]
    (repo / "train.py").write_text(TRAIN_SCRIPT + "# an uncommitted comment\n")
    _train(project)
    code, report = _reproduce(project, "clf@1")
    assert code == 1 and report["status"] == "refused"
    assert "uncommitted changes (dirty hash" in str(report["summary"]) and "--allow-dirty" in str(report["summary"])
    code, report = _reproduce(project, "clf@1", "--allow-dirty")
    assert code == 0, report
    assert report["status"] == "reproduced"
    assert report["differences"][0]["what"] == "code"  # type: ignore[index]
    assert "dirty hash" in report["differences"][0]["detail"]  # type: ignore[index]


def test_a_missing_commit_and_a_kept_working_copy(project: dict[str, object], tmp_path: Path) -> None:
    _train(project)
    workdir = tmp_path / "copy"
    code, report = _reproduce(project, "clf@1", "--workdir", str(workdir))
    assert code == 0 and report["workdir"] == str(workdir)
    assert (workdir / "train.py").read_text() == TRAIN_SCRIPT
    again = runner.invoke(
        app, ["reproduce", "clf@1", "--workdir", str(workdir), "--store", str(project["store"])], env=project["env"]
    )
    assert again.exit_code == 2 and "must be empty" in again.output  # it is not empty now
    repo: Path = project["repo"]  # type: ignore[assignment]
    _git(repo, "commit", "--quiet", "--amend", "-m", "rewritten history")
    _git(repo, "reflog", "expire", "--expire=now", "--all")
    _git(repo, "gc", "--quiet", "--prune=now")
    code, report = _reproduce(project, "clf@1")
    assert code == 1 and report["status"] == "refused" and "is not in the repository" in str(report["summary"])


def test_a_non_deterministic_training_reproduces_within_a_tolerance(project: dict[str, object]) -> None:
    _train(project, "noisy.py")
    code, report = _reproduce(project, "reg@1")
    assert code == 1 and report["status"] == "not_reproduced"  # the default tolerance is 0
    predictions = report["predictions"]
    assert isinstance(predictions, dict) and predictions["data"] == "holdout@v1"
    assert 0 < predictions["max_abs_diff"] < 0.1
    assert "model files" in [d["what"] for d in report["differences"]]  # type: ignore[union-attr]
    code, report = _reproduce(project, "reg@1", "--tolerance", "0.1")
    assert code == 0 and report["status"] == "within_tolerance" and report["reproduced"] is True


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["reproduce", "nosuch@1"], 1, "nosuch"),
        (["reproduce", "clf"], 2, "invalid model reference"),
        (["reproduce", "clf@1", "--tolerance", "-1"], 2, "--tolerance"),
    ],
)
def test_bad_references_are_one_line_errors(
    project: dict[str, object], args: list[str], code: int, message: str
) -> None:
    result = runner.invoke(app, [*args, "--store", str(project["store"])], env=project["env"])  # type: ignore[arg-type]
    assert result.exit_code == code, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
