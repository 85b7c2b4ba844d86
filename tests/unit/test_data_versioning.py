"""Dataset versioning (modelyard.data.DatasetService) on SQLite and a local artifact store."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.core.datasets import DatasetVersionKey, NewDatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data import DatasetService
from modelyard.data.statcache import RACY_NS
from tests.fixtures.stores import joined_store


def age(*paths: Path, seconds: float = 10) -> None:
    """Back-date files so the stat cache trusts them (it distrusts just-modified files)."""
    stamp = time.time_ns() - int(seconds * 1e9)
    for path in paths:
        for p in [path] if path.is_file() else [q for q in path.rglob("*") if q.is_file()]:
            os.utime(p, ns=(stamp, stamp))


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    age(root)
    return root


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    store = joined_store(f"sqlite:///{tmp_path / 'meta.db'}")
    artifacts = ContentAddressedStore(str(tmp_path / "artifacts"))
    svc = DatasetService(store, artifacts, tmp_path / "cache")  # type: ignore[arg-type]
    yield svc
    svc.close()
    store.close()


def blob_count(service: DatasetService) -> int:
    return sum(1 for _ in service.artifacts.iter_digests())


def test_add_directory_versions_and_dedup(service: DatasetService, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "d", {"a.txt": b"a" * 100, "sub/b.txt": b"b" * 50})
    first = service.add(data, name="ds", message="first")
    assert first.created and first.version.ref == "ds@v1" and first.version.kind == "directory"
    assert first.version.file_count == 2 and first.version.total_size == 150
    assert service.files(first.version) == {
        "a.txt": (service.files(first.version)["a.txt"][0], 100),
        "sub/b.txt": (service.files(first.version)["sub/b.txt"][0], 50),
    }
    blobs = blob_count(service)  # 2 files + 1 manifest
    again = service.add(data, name="ds")
    assert not again.created and again.version == first.version and again.files_read == 0
    (data / "c.txt").write_bytes(b"c")
    age(data / "c.txt")
    second = service.add(data, name="ds", message="with c")
    assert second.version.version == 2 and second.files_read == 1 and second.files_cached == 2
    assert blob_count(service) == blobs + 2  # only the new file and the new manifest
    assert [v.version for v in service.versions("ds")] == [1, 2]
    assert service.resolve("ds").version == 2 and service.resolve("ds@latest").version == 2
    assert service.resolve("ds@v1") == first.version
    digest_hex = first.version.manifest_digest.split(":")[1]
    assert service.resolve(f"ds@{digest_hex[:8]}") == first.version
    assert service.resolve(f"ds@sha256:{digest_hex[:12]}") == first.version
    assert service.store.check() == []  # type: ignore[attr-defined]


def test_add_single_file_is_a_one_entry_manifest(service: DatasetService, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("x,y\n1,2\n")
    result = service.add(path, name="train")
    assert result.version.kind == "file" and result.version.file_count == 1
    assert list(service.files(result.version)) == ["train.csv"]
    materialised = service.materialise(result.version)
    assert materialised.name == "train.csv" and materialised.read_text() == "x,y\n1,2\n"
    assert service.materialise("train@v1") == materialised  # made once, then reused


def test_diff_shows_added_removed_modified_with_sizes(service: DatasetService, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "d", {"keep": b"k", "change": b"old", "drop": b"dd"})
    service.add(data, name="ds")
    (data / "drop").unlink()
    (data / "change").write_bytes(b"newer")
    (data / "new").write_bytes(b"nnnn")
    age(data)
    service.add(data, name="ds")
    diff = service.diff("ds@v1", "ds@v2")
    assert [(c.path, c.new_size) for c in diff.added] == [("new", 4)]
    assert [(c.path, c.old_size) for c in diff.removed] == [("drop", 2)]
    assert [(c.path, c.old_size, c.new_size) for c in diff.modified] == [("change", 3, 5)]
    assert diff.unchanged == 1 and not diff.is_clean
    assert service.diff("ds@v2", "ds@v2").is_clean


def test_status_uses_the_stat_cache_and_sees_same_size_edits(service: DatasetService, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "d", {f"f{i}": bytes([i]) * 10 for i in range(20)})
    service.add(data, name="ds")
    clean = service.status("ds")
    assert clean.is_clean and clean.rehashed == 0 and clean.unchanged == 20
    (data / "f3").write_bytes(b"X" * 10)  # same size, new content
    (data / "f9").unlink()
    (data / "extra").write_bytes(b"e")
    status = service.status("ds")
    assert [c.path for c in status.modified] == ["f3"]
    assert [c.path for c in status.removed] == ["f9"]
    assert [c.path for c in status.added] == ["extra"]
    assert status.rehashed == 2  # only the changed and the new file were read
    assert service.status("ds@v1", data).modified  # an explicit path works too


def test_status_of_a_file_dataset(service: DatasetService, tmp_path: Path) -> None:
    path = tmp_path / "one.bin"
    path.write_bytes(b"1" * 100)
    age(path)
    service.add(path, name="one")
    assert service.status("one").is_clean
    path.write_bytes(b"2" * 100)
    assert [c.path for c in service.status("one").modified] == ["one.bin"]


def test_checkout_writes_verified_files_and_clean_removes_extras(service: DatasetService, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "d", {"a": b"1", "b/c": b"22"})
    service.add(data, name="ds")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "stray").write_bytes(b"s")
    service.checkout("ds@v1", dest)
    assert (dest / "a").read_bytes() == b"1" and (dest / "b" / "c").read_bytes() == b"22"
    assert (dest / "stray").exists()
    service.checkout("ds@v1", dest, clean=True)
    assert not (dest / "stray").exists()
    assert service.status("ds@v1", dest).is_clean
    file_ds = tmp_path / "f.txt"
    file_ds.write_text("hello")
    service.add(file_ds, name="f")
    assert service.checkout("f", tmp_path / "copy.txt").read_text() == "hello"
    assert service.checkout("f", dest) == dest / "f.txt"


def test_remove_hides_a_version_and_never_reuses_its_number(service: DatasetService, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "d", {"a": b"1"})
    service.add(data, name="ds")
    (data / "a").write_bytes(b"2")
    age(data)
    service.add(data, name="ds")
    service.remove("ds@v2")
    with pytest.raises(NotFound, match="removed"):
        service.resolve("ds@v2")
    assert service.resolve("ds").version == 1
    (data / "a").write_bytes(b"3")
    age(data)
    assert service.add(data, name="ds").version.version == 3
    assert [v.version for v in service.versions("ds", include_removed=True)] == [1, 2, 3]
    with pytest.raises(NotFound):
        service.remove("ds@v2")


def test_lineage_records_parents_code_and_params(service: DatasetService, tmp_path: Path) -> None:
    raw = make_tree(tmp_path / "raw", {"r": b"raw"})
    other = make_tree(tmp_path / "other", {"o": b"other"})
    clean = make_tree(tmp_path / "clean", {"c": b"clean"})
    service.add(raw, name="raw")
    service.add(other, name="other")
    derived = service.add(
        clean, name="clean", parents=["raw@v1", "other"], code="clean.py@abc123", params={"dropna": True}
    ).version
    assert derived.parents == (DatasetVersionKey("other", 1), DatasetVersionKey("raw", 1))
    assert derived.code == "clean.py@abc123" and dict(derived.params) == {"dropna": "True"}
    again = service.resolve("clean@v1")
    assert again.parents == derived.parents and dict(again.params) == {"dropna": "True"}
    with pytest.raises(NotFound):
        service.add(clean, name="clean2", parents=["raw@v9"])


def test_bad_input_changes_nothing(service: DatasetService, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        service.add(tmp_path / "missing", name="ds")
    with pytest.raises(InvalidArgument):
        service.add(tmp_path, name="bad name")
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(outside)
    with pytest.raises(InvalidArgument, match="outside"):
        service.add(tree, name="ds")
    with pytest.raises(NotFound):
        service.resolve("ds")
    assert service.list_datasets() == []


def test_an_interrupted_add_leaves_no_visible_version(
    service: DatasetService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_tree(tmp_path / "d", {"a": b"1", "b": b"2"})

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(service.artifacts, "put_bytes", crash)  # dies before the manifest is stored
    with pytest.raises(KeyboardInterrupt):
        service.add(data, name="ds")
    monkeypatch.undo()
    with pytest.raises(NotFound):
        service.resolve("ds")
    assert service.list_datasets() == []
    assert service.add(data, name="ds").version.version == 1  # and a retry works, reusing the blobs


def test_concurrent_adders_get_distinct_numbers(service: DatasetService, tmp_path: Path) -> None:
    trees = [make_tree(tmp_path / f"d{i}", {"f": str(i).encode()}) for i in range(6)]
    results: list[int] = []
    errors: list[BaseException] = []

    def add(tree: Path) -> None:
        try:
            results.append(service.add(tree, name="shared").version.version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [1, 2, 3, 4, 5, 6]


def test_an_ambiguous_hash_prefix_is_an_error(service: DatasetService) -> None:
    store = service.store
    for fill in ("1", "2"):
        store.create_dataset_version(
            NewDatasetVersion(
                name="crafted", manifest_digest="sha256:abcd" + fill * 60, kind="file", file_count=1, total_size=1
            )
        )
    with pytest.raises(InvalidArgument, match="ambiguous"):
        service.resolve("crafted@abcd")
    assert service.resolve("crafted@abcd2").version == 2
    with pytest.raises(NotFound):
        service.resolve("crafted@ffff")


def test_racy_files_are_rehashed(service: DatasetService, tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "f").write_bytes(b"fresh")  # modified 'now': the cache must not vouch for it yet
    service.add(data, name="ds")
    assert service.status("ds").rehashed == 1
    stamp = time.time_ns() - 5 * RACY_NS
    os.utime(data / "f", ns=(stamp, stamp))
    service.status("ds")
    assert service.status("ds").rehashed == 0


def test_tree_snapshot_short_circuits_status_and_never_hides_a_change(service: DatasetService, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "d", {f"f{i}": bytes([i]) * 8 for i in range(10)})
    service.add(data, name="ds")  # saves a snapshot: every file is old enough to be trusted
    calls: list[str] = []
    original = service.files
    service.files = lambda version: calls.append(version.ref) or original(version)  # type: ignore[method-assign]
    assert service.status("ds").is_clean and calls == []  # answered from the snapshot alone
    stamp = time.time_ns() - 5 * RACY_NS
    (data / "f4").write_bytes(b"Z" * 8)  # same size; a different (but old-looking) mtime
    os.utime(data / "f4", ns=(stamp, stamp))
    status = service.status("ds")
    assert [c.path for c in status.modified] == ["f4"] and calls == ["ds@v1"]
    service.add(data, name="ds")
    assert service.status("ds@v2").is_clean and service.status("ds@v1").modified


def test_batch_and_parallel_copy_paths_of_the_artifact_store(tmp_path: Path) -> None:
    """The write paths dataset versioning relies on: put_files (small files read whole, one sync
    per batch) and the two-thread hash-and-copy of big files; same digests as hashlib."""
    import hashlib

    from modelyard.artifacts.backends.local import PARALLEL_COPY_MIN

    store = ContentAddressedStore(str(tmp_path / "store"))
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for i in range(PARALLEL_COPY_MIN // (1 << 20) + 3):
            out.write(bytes([i % 251]) * (1 << 20))
    smalls = []
    for i in range(130):
        path = tmp_path / f"s{i}"
        path.write_bytes(str(i % 100).encode() * 100)  # 30 duplicates
        smalls.append(path)
    refs = store.put_files([*smalls, big])
    expected = [hashlib.sha256(p.read_bytes()).hexdigest() for p in [*smalls, big]]
    assert [r.digest for r in refs] == [f"sha256:{h}" for h in expected]
    assert [r.size for r in refs] == [p.stat().st_size for p in [*smalls, big]]
    assert all(store.verify(r.digest) for r in {r.digest: r for r in refs}.values())
    assert store.put_file(big).digest == refs[-1].digest  # the single-file path agrees
    assert not list((tmp_path / "store" / "tmp").iterdir())  # no temp file left behind
    with pytest.raises(NotFound):
        store.put_files([smalls[0], tmp_path / "missing"])


def test_push_sends_packed_blobs_too(service: DatasetService, tmp_path: Path) -> None:
    """Small files of a big batch sit in packs, with no file of their own: push still sends them
    (the remote here is a second local store; any ArtifactStore works)."""
    from modelyard.data import push

    files = {f"part-{i:03d}.csv": f"id\n{i}\n".encode() for i in range(80)}
    service.add(make_tree(tmp_path / "d", files), name="many")
    version = service.resolve("many")
    entries = service.files(version)
    assert any(not service._local_blob(d).is_file() for d, _ in entries.values())  # type: ignore[union-attr]
    remote = ContentAddressedStore(str(tmp_path / "remote"))
    assert push(service, remote).blobs_copied == len(files) + 1
    for name, (digest, _size) in entries.items():
        assert remote.get_bytes(digest) == files[name]
