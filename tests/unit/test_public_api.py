"""The curated face: ``__all__`` is exactly the public names of the package (httpx-style meta test)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tomllib
from pathlib import Path

import pytest
import typer

import modelyard
from modelyard.cli._output import fail


def test_all_matches_public_names() -> None:
    public = {name for name in vars(modelyard) if not name.startswith("_")}
    # a subpackage whose name the face gives to an SDK function (``modelyard.explain(...)`` over the
    # ``modelyard.explain`` room) is public under that name
    submodules = {m.name for m in pkgutil.iter_modules(modelyard.__path__) if not callable(vars(modelyard).get(m.name))}
    # namespaces importable as ``modelyard.<name>`` (``datasets`` lives in ``modelyard.sdk``)
    submodules |= {name for name, value in vars(modelyard).items() if sys.modules.get(f"modelyard.{name}") is value}
    assert set(modelyard.__all__) == (public - submodules) | {"__version__"}


def test_datasets_namespace_imports_both_ways() -> None:
    from modelyard import datasets

    dotted = importlib.import_module("modelyard.datasets")  # ``import modelyard.datasets`` (docs/data.md)
    from modelyard.sdk import datasets as sdk_datasets

    assert dotted is datasets is sdk_datasets is modelyard.datasets
    assert callable(modelyard.datasets.add) and callable(modelyard.datasets.get)


def test_every_name_in_all_exists() -> None:
    for name in modelyard.__all__:
        assert getattr(modelyard, name) is not None


def test_every_module_imports() -> None:
    root = Path(modelyard.__file__).parent
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if "migrations" in parts:
            continue
        importlib.import_module(".".join(parts))


def test_every_subpackage_has_tests() -> None:
    root = Path(modelyard.__file__).parent
    tests = Path(__file__).resolve().parents[1]
    text = "\n".join(p.read_text() for p in tests.rglob("test_*.py"))
    for sub in sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        assert f"modelyard.{sub}" in text or f"modelyard import {sub}" in text, f"no test mentions modelyard.{sub}"


def test_what_the_embedded_default_draws_with_is_a_core_dependency() -> None:
    """`make quickstart` installs modelyard without extras and evaluates a model (plotly), writes a
    validation report and an HTML model card (jinja2): those cannot hide in the server extra."""
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    core = {dep.split(">")[0].split("=")[0].split("[")[0].strip().lower() for dep in project["dependencies"]}
    assert {"plotly", "jinja2"} <= core


def test_cli_errors_keep_their_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    """An error message is printed as text, not rich markup: "[s3]" in an install hint survives."""
    with pytest.raises(typer.Exit):
        fail("install it: pip install 'modelyard[s3]'", 2)
    assert "pip install 'modelyard[s3]'" in capsys.readouterr().err
