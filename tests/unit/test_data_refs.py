"""Dataset references and the stat cache's rules (modelyard.data.refs, modelyard.data.statcache)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelyard.core.errors import InvalidArgument
from modelyard.data.refs import DatasetRef, parse_ref, validate_dataset_name
from modelyard.data.statcache import RACY_NS, StatCache


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", DatasetRef("churn")),
        ("churn@latest", DatasetRef("churn")),
        ("churn@v3", DatasetRef("churn", version=3)),
        ("churn@12", DatasetRef("churn", version=12)),
        ("raw/events.v2@v1", DatasetRef("raw/events.v2", version=1)),
        ("churn@ab12cd", DatasetRef("churn", digest_prefix="ab12cd")),
        ("churn@sha256:ab12", DatasetRef("churn", digest_prefix="sha256:ab12")),
    ],
)
def test_parse_ref(text: str, expected: DatasetRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "text", ["", "@v1", "churn@v0", "churn@", "churn@abc", "churn@XYZ1", "a@b@c", "../x@v1", "churn@v1 ", 3]
)
def test_parse_ref_rejects_malformed(text: object) -> None:
    with pytest.raises(InvalidArgument):
        parse_ref(text)


@pytest.mark.parametrize("name", ["a/../b", "trailing/", "-x", "with space", "x" * 201, "a@b"])
def test_dataset_names_are_restricted(name: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_dataset_name(name)


def test_ref_str_round_trips() -> None:
    for text in ("churn@v3", "churn@latest", "churn@ab12cd"):
        assert str(parse_ref(text)) == text


def test_stat_cache_trusts_only_non_racy_matching_entries(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "cache.sqlite")
    root = tmp_path / "data"
    root.mkdir()
    now = time.time_ns()
    old = now - 10 * RACY_NS
    cache.update(
        [
            (str(root / "a"), 10, old, 1, "sha256:" + "a" * 64, now),
            (str(root / "racy"), 10, now - 1000, 2, "sha256:" + "b" * 64, now),
            (str(tmp_path / "datax" / "c"), 10, old, 3, "sha256:" + "c" * 64, now),
        ]
    )
    loaded = cache.load(root, tree=True)
    assert set(loaded) == {str(root / "a"), str(root / "racy")}  # not the sibling 'datax'
    assert loaded[str(root / "a")].matches(10, old, 1)
    assert not loaded[str(root / "a")].matches(11, old, 1)  # size changed
    assert not loaded[str(root / "a")].matches(10, old + 1, 1)  # mtime changed
    assert not loaded[str(root / "a")].matches(10, old, 9)  # replaced by another inode
    assert not loaded[str(root / "racy")].matches(10, now - 1000, 2)  # modified as it was hashed
    cache.update([], forget=[str(root / "a")])
    assert set(cache.load(root, tree=True)) == {str(root / "racy")}
    assert set(cache.load(root / "racy", tree=False)) == {str(root / "racy")}
    cache.close()


def test_a_corrupt_stat_cache_is_recreated(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = StatCache(path)
    assert cache.load(tmp_path, tree=True) == {}
    cache.update([(str(tmp_path / "f"), 1, 1, 1, "sha256:" + "d" * 64, 10 * RACY_NS)])
    assert str(tmp_path / "f") in cache.load(tmp_path, tree=True)
    cache.close()
    assert os.path.getsize(path) > 0
