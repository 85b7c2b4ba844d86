"""The curated face: ``__all__`` is exactly the public names of the package (httpx-style meta test)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import modelyard


def test_all_matches_public_names() -> None:
    public = {name for name in vars(modelyard) if not name.startswith("_")}
    submodules = {m.name for m in pkgutil.iter_modules(modelyard.__path__)}
    assert set(modelyard.__all__) == (public - submodules) | {"__version__"}


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
