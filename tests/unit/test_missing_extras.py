"""A missing optional package is one line naming ``pip install 'modelyard[extra]'``, never a traceback.

In-process tests make a package unimportable with ``sys.modules[name] = None``; the CLI tests run
a fresh interpreter in which the package is absent (tests/fixtures/core_install.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelyard.core.errors import MissingExtra
from modelyard.core.extras import EXTRA_OF_MODULE, missing_extra, require_extra
from tests.fixtures.core_install import cli_without


def _block(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(("module", "extra"), sorted(EXTRA_OF_MODULE.items()))
def test_require_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str, extra: str) -> None:
    _block(monkeypatch, module)
    with pytest.raises(MissingExtra) as info:
        require_extra(module, purpose="this needs it")
    assert info.value.extra == extra
    assert str(info.value) == f"this needs it, which is not installed: pip install 'modelyard[{extra}]'"


def test_require_extra_returns_the_module_when_installed() -> None:
    assert require_extra("json", extra="none") is sys.modules["json"]


def test_an_import_error_inside_an_installed_package_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'numpy.core._x'", name="numpy.core._x")

    monkeypatch.setattr("importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        require_extra("xgboost")


def test_missing_extra_maps_only_optional_modules() -> None:
    hint = missing_extra(ModuleNotFoundError("No module named 'torch.nn'", name="torch.nn"))
    assert hint is not None and hint.extra == "pytorch" and "pip install 'modelyard[pytorch]'" in str(hint)
    assert missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None
    assert missing_extra(ImportError("cannot import name 'x'")) is None


# -- every place that imports an optional package ---------------------------------------------


def _load_xgboost(tmp_path: Path) -> None:
    from modelyard.registry.flavors.xgboost import XGBoostFlavor

    XGBoostFlavor().load(tmp_path, {})


def _load_lightgbm(tmp_path: Path) -> None:
    from modelyard.registry.flavors.lightgbm import LightGBMFlavor

    LightGBMFlavor().load(tmp_path, {"format": "text"})


def _load_pytorch(tmp_path: Path) -> None:
    from modelyard.registry.flavors.pytorch import PyTorchFlavor

    PyTorchFlavor().load(tmp_path, {})


def _load_onnx(tmp_path: Path) -> None:
    from modelyard.registry.flavors.onnx import OnnxModel

    OnnxModel(b"")


def _export_onnx(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from modelyard.registry.onnx_export import sklearn_to_onnx

    sklearn_to_onnx(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), [[0.0]])


def _tune_on_ray(tmp_path: Path) -> None:
    from modelyard.compute import open_executor

    open_executor("ray")


def _redis_source(tmp_path: Path) -> None:
    from modelyard.data.streaming.redis_source import RedisStreamSource

    RedisStreamSource.from_url("redis://127.0.0.1:6379/0", "s", "g", "c")


def _postgres_store(tmp_path: Path) -> None:
    from modelyard.store import open_stores

    open_stores("postgresql://postgres@127.0.0.1:5432/postgres")


def _s3_artifacts(tmp_path: Path) -> None:
    from modelyard.artifacts import open_artifact_store

    open_artifact_store("s3://bucket/prefix", {})


@pytest.mark.parametrize(
    ("blocked", "extra", "call"),
    [
        ("xgboost", "xgboost", _load_xgboost),
        ("lightgbm", "lightgbm", _load_lightgbm),
        ("torch", "pytorch", _load_pytorch),
        ("onnxruntime", "onnx", _load_onnx),
        ("skl2onnx", "onnx", _export_onnx),
        ("ray", "ray", _tune_on_ray),
        ("redis", "redis", _redis_source),
        ("psycopg", "postgres", _postgres_store),
        ("s3fs", "s3", _s3_artifacts),
    ],
)
def test_each_integration_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, blocked: str, extra: str, call: Any
) -> None:
    _block(monkeypatch, blocked)
    with pytest.raises(MissingExtra) as info:
        call(tmp_path)
    assert f"pip install 'modelyard[{extra}]'" in str(info.value)


# -- the command line ---------------------------------------------------------------------------


def _cli(blocked: list[str], args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    return subprocess.run(
        cli_without(blocked, args),
        cwd=tmp_path,
        env={**clean, "MODELYARD_HOME": str(tmp_path / "home"), "COLUMNS": "400", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _assert_one_line_hint(proc: subprocess.CompletedProcess[str], extra: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and f"pip install 'modelyard[{extra}]'" in lines[0], lines[0]


def test_cli_postgres_store_without_psycopg(tmp_path: Path) -> None:
    proc = _cli(["psycopg"], ["projects", "list", "--store", "postgresql://postgres@127.0.0.1:5432/x"], tmp_path)
    _assert_one_line_hint(proc, "postgres")


def test_cli_s3_artifacts_without_s3fs(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("a\n1\n")
    proc = _cli(["s3fs"], ["data", "add", "f.csv", "--name", "d"], tmp_path, MODELYARD_ARTIFACT_URI="s3://bucket/p")
    _assert_one_line_hint(proc, "s3")


def test_cli_redis_stream_without_redis(tmp_path: Path) -> None:
    args = ["ingest", "stream", "--redis", "redis://127.0.0.1:6379/0", "--stream", "s", "--to", "d"]
    _assert_one_line_hint(_cli(["redis"], args, tmp_path), "redis")


def test_cli_turns_any_import_error_of_an_extra_into_the_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An extra imported somewhere without require_extra still ends as the one-line hint."""
    from modelyard.cli import main as cli_main

    def app() -> None:
        raise ModuleNotFoundError("No module named 'lightgbm'", name="lightgbm")

    monkeypatch.setattr(cli_main, "app", app)
    with pytest.raises(SystemExit) as info:
        cli_main.main()
    assert info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'modelyard[lightgbm]'" in err
