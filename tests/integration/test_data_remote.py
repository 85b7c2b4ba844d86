"""Dataset versioning on PostgreSQL (numbering under concurrent adders) and push/pull with S3.

PostgreSQL is the shared metadata store of a team; each machine keeps a local artifact store
and syncs blobs through an S3 bucket (a real SeaweedFS server here).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data import DatasetService, pull, push
from tests.fixtures.seaweedfs import SeaweedS3
from tests.fixtures.stores import joined_store
from tests.unit.test_data_versioning import make_tree


@pytest.fixture
def pg_service(postgres_uri: str, tmp_path: Path) -> Iterator[DatasetService]:
    store = joined_store(postgres_uri)
    svc = DatasetService(store, ContentAddressedStore(str(tmp_path / "artifacts")), tmp_path / "cache")  # type: ignore[arg-type]
    yield svc
    svc.close()
    store.close()


@pytest.mark.postgres
def test_versioning_on_postgres(pg_service: DatasetService, tmp_path: Path) -> None:
    data = make_tree(tmp_path / "d", {"a": b"1", "b/c": b"2"})
    first = pg_service.add(data, name="pg", message="m").version
    (data / "a").write_bytes(b"changed")
    second = pg_service.add(data, name="pg", parents=["pg@v1"], params={"p": 1}).version
    assert (first.version, second.version) == (1, 2)
    assert pg_service.resolve("pg@v2").parents == second.parents
    assert [c.path for c in pg_service.diff("pg@v1", "pg@v2").modified] == ["a"]
    assert pg_service.resolve(f"pg@{first.manifest_digest[7:15]}") == first
    pg_service.remove("pg@v1")
    with pytest.raises(NotFound):
        pg_service.resolve("pg@v1")
    assert pg_service.store.check() == []  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_concurrent_adders_on_postgres_get_distinct_dense_numbers(
    postgres_uri: str, pg_service: DatasetService, tmp_path: Path
) -> None:
    trees = [make_tree(tmp_path / f"t{i}", {"f": str(i).encode()}) for i in range(8)]
    numbers: list[int] = []
    errors: list[BaseException] = []

    def add(tree: Path) -> None:
        store = joined_store(postgres_uri)  # one connection pool per writer, as separate processes would have
        try:
            svc = DatasetService(store, pg_service.artifacts, tree.parent / f"cache-{tree.name}")  # type: ignore[arg-type]
            numbers.append(svc.add(tree, name="race").version.version)
            svc.close()
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=add, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == list(range(1, 9))


@pytest.mark.s3
def test_push_then_pull_on_another_machine(seaweedfs_s3: SeaweedS3, tmp_path: Path) -> None:
    remote = ContentAddressedStore(seaweedfs_s3.new_prefix(), seaweedfs_s3.storage_options())
    meta = joined_store(f"sqlite:///{tmp_path / 'shared.db'}")  # stands in for the team's PostgreSQL
    laptop = DatasetService(meta, ContentAddressedStore(str(tmp_path / "laptop")), tmp_path / "c1")  # type: ignore[arg-type]
    data = make_tree(tmp_path / "d", {"a.csv": b"x\n1\n", "big.bin": b"z" * 200_000, "dup": b"x\n1\n"})
    laptop.add(data, name="shared")
    (data / "new").write_bytes(b"n")
    laptop.add(data, name="shared")
    pushed = push(laptop, remote)
    assert pushed.versions == 2 and pushed.blobs_copied == 5  # 3 distinct files (a.csv = dup) + 2 manifests
    assert push(laptop, remote).blobs_copied == 0  # idempotent

    server = DatasetService(meta, ContentAddressedStore(str(tmp_path / "server")), tmp_path / "c2")  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - the blobs are not there yet
        server.materialise("shared@v1")
    pulled = pull(server, remote, ["shared@v1"])
    assert pulled.versions == 1 and pulled.blobs_copied == 3  # 2 distinct files + 1 manifest
    out = server.checkout("shared@v1", tmp_path / "out")
    assert (out / "big.bin").read_bytes() == b"z" * 200_000
    assert pull(server, remote).blobs_copied == 2  # the rest of v2: 'new' and its manifest
    assert server.status("shared@v2", data).is_clean

    s3_service = DatasetService(meta, remote, tmp_path / "c3")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not local"):
        push(s3_service, remote)
    laptop.close()
    server.close()
    meta.close()


@pytest.mark.s3
def test_versioning_with_s3_as_the_artifact_store(seaweedfs_s3: SeaweedS3, tmp_path: Path) -> None:
    s3 = ContentAddressedStore(seaweedfs_s3.new_prefix(), seaweedfs_s3.storage_options())
    meta = joined_store(f"sqlite:///{tmp_path / 'meta.db'}")
    svc = DatasetService(meta, s3, tmp_path / "cache")  # type: ignore[arg-type]
    data = make_tree(tmp_path / "d", {"a": b"1", "b": b"2"})
    svc.add(data, name="s3ds")
    assert svc.status("s3ds").is_clean
    assert (svc.materialise("s3ds@v1") / "b").read_bytes() == b"2"
    svc.close()
    meta.close()
