"""Dataset checkout over a working copy of another shape, backslash names, the same bytes re-added.

Each case is run through the service (the SDK's engine) and through ``modelyard data``: either the
right thing is done (``--clean`` replaces what is in the way) or the command refuses with one line
and leaves the working copy exactly as it was (every path, kind, content and mtime compared).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelyard
from modelyard import datasets
from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.cli.main import app
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data import DatasetService
from modelyard.store import open_stores

runner = CliRunner()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    artifacts = ContentAddressedStore(str(tmp_path / "artifacts"))
    stores = open_stores(f"sqlite:///{tmp_path / 'meta.db'}", artifacts=artifacts)
    svc = DatasetService(stores.datasets, stores.artifacts, tmp_path / "cache")
    yield svc
    svc.close()
    stores.close()


@pytest.fixture
def sdk_home(modelyard_home: Path) -> Iterator[Path]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    yield modelyard_home
    modelyard.set_store_uri(None)


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def snapshot(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every path under ``root`` (and ``root`` itself): kind, content, mtime."""
    out: dict[str, tuple[str, bytes, int]] = {}
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    for path in paths:
        st = path.lstat()
        kind = "dir" if path.is_dir() else "file"
        out[str(path.relative_to(root.parent))] = (kind, path.read_bytes() if kind == "file" else b"", st.st_mtime_ns)
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- the three shapes, through the service ------------------------------------------------------

SHAPES = {
    # name: (the version's files, what is in the working copy)
    "dir_over_file": ({"x/a": b"in x", "keep": b"k"}, {"x": b"x is a file here", "keep": b"k"}),
    "file_over_dir": ({"x": b"x is a file", "keep": b"k"}, {"x/a": b"in x", "x/deep/b": b"b", "keep": b"k"}),
    "file_over_empty_dir": ({"x": b"x is a file"}, {}),
    "deep_dir_over_file": ({"a/b/c/d": b"d"}, {"a/b": b"b is a file"}),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_shape_conflict_is_refused_without_clean_and_replaced_with_it(
    service: DatasetService, tmp_path: Path, shape: str
) -> None:
    version_files, working_files = SHAPES[shape]
    service.add(tree(tmp_path / "src", version_files), name="ds")
    dest = tree(tmp_path / "wc", working_files)
    if shape == "file_over_empty_dir":
        (dest / "x").mkdir(parents=True)
    before = snapshot(dest)
    with pytest.raises(InvalidArgument) as info:
        service.checkout("ds@v1", dest)
    assert "\n" not in str(info.value) and "--clean" in str(info.value)
    assert snapshot(dest) == before  # nothing written, nothing deleted
    service.checkout("ds@v1", dest, clean=True)
    assert files_of(dest) == version_files
    assert service.status("ds@v1", dest).is_clean


def test_a_directory_dataset_is_not_written_over_a_regular_file(service: DatasetService, tmp_path: Path) -> None:
    service.add(tree(tmp_path / "src", {"a": b"1"}), name="ds")
    dest = tmp_path / "dest"
    dest.write_bytes(b"precious")
    before = snapshot(dest)
    for clean in (False, True):
        with pytest.raises(InvalidArgument, match="is a file and the version is a directory"):
            service.checkout("ds@v1", dest, clean=clean)
        assert snapshot(dest) == before
    with pytest.raises(InvalidArgument, match="cannot create"):
        service.checkout("ds@v1", dest / "below")  # a parent is a file


def test_a_file_dataset_is_not_written_over_a_directory(service: DatasetService, tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_bytes(b"a\n1\n")
    service.add(tmp_path / "f.csv", name="f")
    dest = tree(tmp_path / "wc", {"f.csv/inside": b"i"})
    before = snapshot(dest)
    with pytest.raises(InvalidArgument, match="is a directory and the version is a file"):
        service.checkout("f@v1", dest)
    assert snapshot(dest) == before


def test_clean_deletes_a_symlink_not_its_target(service: DatasetService, tmp_path: Path) -> None:
    service.add(tree(tmp_path / "src", {"a": b"1"}), name="ds")
    dest = tree(tmp_path / "wc", {"real": b"target"})
    os.symlink("real", dest / "link")
    service.checkout("ds@v1", dest, clean=True)
    assert files_of(dest) == {"a": b"1"}


# -- backslashes and the same bytes from another path -------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="a backslash is a separator on Windows")
def test_backslash_names_round_trip(service: DatasetService, tmp_path: Path) -> None:
    files = {"a\\b.csv": b"1", "dir/x\\y\\z": b"2", "plain": b"3"}
    version = service.add(tree(tmp_path / "src", files), name="bs").version
    assert sorted(service.files(version)) == sorted(files)
    assert files_of(service.checkout(version, tmp_path / "out")) == files
    assert service.status("bs", tmp_path / "out").is_clean
    assert files_of(service.materialise(version)) == files


def test_backslash_escapes_are_still_refused(service: DatasetService, tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a\\..\\b": b"x"})
    with pytest.raises(InvalidArgument, match="backslash"):
        service.add(src, name="bad")
    with pytest.raises(NotFound):
        service.resolve("bad")  # nothing was recorded


def test_the_same_bytes_from_another_path_are_the_existing_version(service: DatasetService, tmp_path: Path) -> None:
    first = tree(tmp_path / "one", {"train.csv": b"a\n1\n"}) / "train.csv"
    moved = tree(tmp_path / "two", {"copy-of-train.csv": b"a\n1\n"}) / "copy-of-train.csv"
    v1 = service.add(first, name="f")
    again = service.add(moved, name="f")
    assert not again.created and again.version.ref == v1.version.ref == "f@v1"
    changed = tree(tmp_path / "three", {"train.csv": b"a\n2\n"}) / "train.csv"
    assert service.add(changed, name="f").version.ref == "f@v2"  # different bytes: a new version
    # Directories: the same tree from another place is the same version too.
    d1 = service.add(tree(tmp_path / "d1", {"p/q": b"q", "r": b"r"}), name="d")
    d2 = service.add(tree(tmp_path / "elsewhere" / "d2", {"p/q": b"q", "r": b"r"}), name="d")
    assert not d2.created and d2.version.ref == d1.version.ref


# -- the same through the SDK and the CLI --------------------------------------------------------


def test_sdk_and_cli(sdk_home: Path, tmp_path: Path) -> None:
    datasets.add(tree(tmp_path / "src", {"x/a": b"in x"}), name="shape")
    dest = tree(tmp_path / "wc", {"x": b"file"})
    before = snapshot(dest)
    with pytest.raises(InvalidArgument):
        datasets.checkout("shape@v1", dest)
    assert snapshot(dest) == before
    result = runner.invoke(app, ["data", "checkout", "shape@v1", str(dest)])
    assert result.exit_code == 2  # refused: bad input for this working copy
    assert result.output.strip().count("\n") == 0 and "error:" in result.output and "--clean" in result.output
    assert snapshot(dest) == before
    result = runner.invoke(app, ["data", "checkout", "shape@v1", str(dest), "--clean"])
    assert result.exit_code == 0, result.output
    assert files_of(dest) == {"x/a": b"in x"}

    plain = tmp_path / "plain-file"
    plain.write_bytes(b"keep")
    result = runner.invoke(app, ["data", "checkout", "shape@v1", str(plain)])
    assert result.exit_code != 0 and "is a file and the version is a directory" in result.output
    assert plain.read_bytes() == b"keep"

    if os.name == "posix":
        src = tree(tmp_path / "bs", {"a\\b": b"1"})
        result = runner.invoke(app, ["data", "add", str(src), "--name", "bs"])
        assert result.exit_code == 0, result.output
        with pytest.raises(InvalidArgument):
            datasets.add(tree(tmp_path / "bad", {"..\\x": b"1"}), name="bad")
        assert files_of(datasets.get("bs").checkout(tmp_path / "bs-out")) == {"a\\b": b"1"}

    (tmp_path / "a.csv").write_bytes(b"a\n1\n")
    (tmp_path / "b.csv").write_bytes(b"a\n1\n")
    assert runner.invoke(app, ["data", "add", str(tmp_path / "a.csv"), "--name", "same"]).exit_code == 0
    result = runner.invoke(app, ["data", "add", str(tmp_path / "b.csv"), "--name", "same"])
    assert result.exit_code == 0 and "unchanged, already same@v1" in result.output
    assert [v.ref for v in datasets.versions("same")] == ["same@v1"]
