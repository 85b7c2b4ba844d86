"""Issue 16, item 10: a checkout that fails leaves nothing behind.

Every file is staged (fetched and verified) before the working copy is touched, so a missing or
corrupt blob changes nothing: a destination the checkout created is gone again, an existing working
copy keeps its bytes, and no staging directory is left. Should a rename into place fail, the error
lists exactly what was written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.core.datasets import DatasetVersion
from modelyard.core.errors import CheckoutIncomplete, IntegrityError, NotFound
from modelyard.data import DatasetService
from modelyard.data.checkout import STAGING_PREFIX
from modelyard.store import Stores, open_stores


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    settings_uri = f"sqlite:///{tmp_path / 'meta.db'}"
    with open_stores(settings_uri) as opened:
        yield opened


@pytest.fixture
def service(stores: Stores, tmp_path: Path) -> Iterator[DatasetService]:
    svc = DatasetService(stores.datasets, stores.artifacts, tmp_path / "cache")
    yield svc
    svc.close()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _version(service: DatasetService, tmp_path: Path) -> tuple[DatasetVersion, dict[str, tuple[str, int]]]:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (src / name).write_bytes(name.encode() * 1000)
    version = service.add(src, name="d").version
    return version, service.files(version)


def test_a_missing_blob_writes_nothing_and_removes_the_new_destination(
    service: DatasetService, stores: Stores, tmp_path: Path
) -> None:
    version, files = _version(service, tmp_path)
    stores.artifacts.delete(files["sub/c.txt"][0])
    dest = tmp_path / "fresh"
    with pytest.raises(NotFound, match="nothing was written"):
        service.checkout(version, dest)
    assert not dest.exists()


def test_a_corrupt_blob_leaves_the_working_copy_as_it_was(
    service: DatasetService, stores: Stores, tmp_path: Path
) -> None:
    version, files = _version(service, tmp_path)
    dest = tmp_path / "work"
    dest.mkdir()
    (dest / "a.txt").write_text("my edit\n")  # differs from the version: would be overwritten
    (dest / "mine.txt").write_text("not in the version\n")
    before = _tree(dest)
    blob = stores.artifacts.local_blob_path(files["b.txt"][0])
    assert blob is not None and blob.is_file()
    blob.chmod(0o644)
    data = blob.read_bytes()
    blob.write_bytes(b"X" + data[1:])  # same size, other bytes
    with pytest.raises(IntegrityError):
        service.checkout(version, dest, clean=True)
    assert _tree(dest) == before
    assert not list(dest.glob(f"{STAGING_PREFIX}*"))
    blob.write_bytes(data)  # repaired: the same checkout now succeeds and cleans
    service.checkout(version, dest, clean=True)
    assert _tree(dest) == {name: name.encode() * 1000 for name in ("a.txt", "b.txt", "sub/c.txt")}


def test_a_failed_rename_reports_exactly_what_was_written(
    service: DatasetService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version, _ = _version(service, tmp_path)
    dest = tmp_path / "partial"
    real_replace = os.replace
    done: list[str] = []

    def replace_twice(src: str | Path, dst: str | Path) -> None:
        into_place = Path(src).parent.name.startswith(STAGING_PREFIX) and Path(src).name.isdigit()
        if into_place and len(done) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)
        if into_place:
            done.append(str(dst))

    monkeypatch.setattr(os, "replace", replace_twice)
    with pytest.raises(CheckoutIncomplete) as raised:
        service.checkout(version, dest)
    monkeypatch.undo()
    written = raised.value.written
    assert len(written) == 2 and "2 of 3 files were written" in str(raised.value)
    assert sorted(_tree(dest)) == sorted(written)
    assert not list(dest.glob(f"{STAGING_PREFIX}*"))


def test_a_killed_checkouts_staging_directory_is_removed_by_the_next(service: DatasetService, tmp_path: Path) -> None:
    version, _ = _version(service, tmp_path)
    dest = tmp_path / "again"
    (dest / f"{STAGING_PREFIX}abc").mkdir(parents=True)
    (dest / f"{STAGING_PREFIX}abc" / "0").write_text("half")
    service.checkout(version, dest, clean=True)
    assert sorted(_tree(dest)) == ["a.txt", "b.txt", "sub/c.txt"]


def test_the_cli_says_nothing_was_written(
    modelyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    (src / "b.txt").write_text("b\n")
    assert runner.invoke(app, ["data", "add", "src", "--name", "d"]).exit_code == 0
    with open_stores(f"sqlite:///{modelyard_home / 'modelyard.db'}") as stores:
        manifest = stores.datasets.get_dataset_version("d", 1).manifest_digest
        stores.artifacts.delete(stores.artifacts.get_manifest(manifest).entries[1].digest)
    result = runner.invoke(app, ["data", "checkout", "d", "out"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "nothing was written" in lines[0]
    assert not (tmp_path / "out").exists()
