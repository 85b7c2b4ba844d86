"""Every ``python`` block in README.md and docs/*.md that follows a ``readme-example`` marker runs."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

import modelyard

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- readme-example: (?P<name>[\w-]+) -->\s*```python\n(?P<code>.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in BLOCK.finditer(doc.read_text()):
            found.append((f"{doc.name}:{match['name']}", match["code"]))
    return found


def test_readme_has_an_sdk_example() -> None:
    names = [name for name, _ in examples()]
    assert "README.md:sdk" in names


@pytest.mark.parametrize(("name", "code"), examples(), ids=[n for n, _ in examples()])
def test_example_runs(
    name: str,
    code: str,
    modelyard_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    script = tmp_path / "example.py"
    script.write_text(code)
    runpy.run_path(str(script), run_name="__main__")
    while modelyard.active_run() is not None:
        modelyard.end_run()
    if name == "README.md:sdk":
        assert (modelyard_home / "modelyard.db").exists(), "the example did not use the store under MODELYARD_HOME"
        assert "0.91" in capsys.readouterr().out
    modelyard.set_store_uri(None)
