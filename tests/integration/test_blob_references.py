"""Issue 16, item 6: a version can only point at blobs that are stored, and ``db check --blobs``
finds the references that broke afterwards (``--hashes``: the blobs that no longer hash right).

The server refuses (400, nothing recorded) a dataset version whose manifest, or a blob the manifest
lists, is not in its artifact store, or whose counts are not the manifest's; the same for a model
version's package. The service applies the same rule (``record_version``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from modelyard.artifacts import Manifest, ManifestEntry
from modelyard.artifacts.manifest import manifest_to_bytes
from modelyard.cli.main import app
from modelyard.core.datasets import NewDatasetVersion
from modelyard.core.errors import InvalidArgument
from modelyard.data.references import record_version
from modelyard.store import Stores, open_stores
from tests.fixtures.live_server import sqlite_server

runner = CliRunner()
ABSENT = "sha256:" + "0" * 64


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Stores]]:
    with sqlite_server(tmp_path / "server") as (url, _app), open_stores(url) as stores:
        yield url, stores


def _manifest(stores: Stores, files: dict[str, bytes], *, store_files: bool = True) -> tuple[str, int]:
    """Store a manifest of ``files`` (and, unless told not to, the files): (digest, total size)."""
    entries = []
    for index, (path, data) in enumerate(files.items(), start=1):
        ref = stores.artifacts.put_bytes(data) if store_files else None
        digest = ref.digest if ref is not None else "sha256:" + f"{index:x}" * 64
        entries.append(ManifestEntry(path=path, digest=digest, size=len(data)))
    manifest = stores.artifacts.put_bytes(manifest_to_bytes(Manifest(entries=tuple(entries))))
    return manifest.digest, sum(len(d) for d in files.values())


def _post_version(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/datasets/d/versions", json=body, timeout=30)


def test_the_server_refuses_a_dataset_version_whose_blobs_are_not_stored(server: tuple[str, Stores]) -> None:
    url, stores = server
    body = {"manifest_digest": ABSENT, "kind": "directory", "file_count": 1, "total_size": 1}
    response = _post_version(url, body)
    assert response.status_code == 400
    assert ABSENT in response.json()["error"]["message"] and "not in the artifact store" in response.text

    dangling, total = _manifest(stores, {"a.txt": b"abc", "b.txt": b"de"}, store_files=False)
    response = _post_version(url, {**body, "manifest_digest": dangling, "file_count": 2, "total_size": total})
    assert response.status_code == 400 and "2 blob(s)" in response.json()["error"]["message"]

    good, total = _manifest(stores, {"a.txt": b"abc", "b.txt": b"de"})
    response = _post_version(url, {**body, "manifest_digest": good, "file_count": 3, "total_size": total})
    assert response.status_code == 400 and "do not match" in response.json()["error"]["message"]
    assert stores.datasets.list_datasets() == []  # every refusal recorded nothing

    response = _post_version(url, {**body, "manifest_digest": good, "file_count": 2, "total_size": total})
    assert response.status_code == 201 and response.json()["version"] == 1


def test_the_server_refuses_a_model_version_whose_package_is_not_stored(server: tuple[str, Stores]) -> None:
    url, stores = server
    project = stores.tracking.create_project("p")
    assert httpx.post(f"{url}/api/v1/models", json={"name": "m", "project_id": project.id}, timeout=30).is_success
    model_file = stores.artifacts.put_bytes(b"weights")
    manifest, _ = _manifest(stores, {"model.bin": b"weights"})
    files = [{"path": "model.bin", "digest": model_file.digest, "size": 7}]
    cases = [
        ({"manifest_digest": ABSENT, "files": files}, "not in the artifact store"),
        ({"manifest_digest": manifest, "files": [{**files[0], "size": 8}]}, "not those of"),
        ({"manifest_digest": manifest, "files": []}, "not those of"),
    ]
    for body, needle in cases:
        response = httpx.post(f"{url}/api/v1/models/m/versions", json={"flavor": "python", **body}, timeout=30)
        assert response.status_code == 400, response.text
        assert needle in response.json()["error"]["message"]
    assert stores.registry.list_model_versions("m") == []
    response = httpx.post(
        f"{url}/api/v1/models/m/versions",
        json={"flavor": "python", "manifest_digest": manifest, "files": files},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def test_the_service_applies_the_same_rule(tmp_path: Path) -> None:
    with open_stores(f"sqlite:///{tmp_path / 'm.db'}") as stores:
        new = NewDatasetVersion(name="d", manifest_digest=ABSENT, kind="file", file_count=1, total_size=1)
        with pytest.raises(InvalidArgument, match="not in the artifact store"):
            record_version(stores.datasets, stores.artifacts, new)
        assert stores.datasets.list_datasets() == []


# --- db check --blobs ---------------------------------------------------------------------------


@pytest.fixture
def home(modelyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return modelyard_home


def _check(*args: str) -> Any:
    return runner.invoke(app, ["db", "check", *args])


def test_db_check_blobs_lists_missing_and_corrupt_blobs(home: Path, tmp_path: Path) -> None:
    import modelyard

    big = os.urandom(300_000)  # stored loose, so it can be damaged on disk
    (tmp_path / "big.bin").write_bytes(big)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a\n")
    (tree / "b.txt").write_text("b\n")
    assert runner.invoke(app, ["data", "add", "big.bin", "--name", "big"]).exit_code == 0
    assert runner.invoke(app, ["data", "add", "tree", "--name", "tree"]).exit_code == 0
    with modelyard.start_run() as run:
        modelyard.log_artifact(str(tree / "a.txt"))
    modelyard.set_store_uri(None)

    result = _check("--blobs")
    assert result.exit_code == 0, result.output
    assert "passed every check" in result.stdout and "referenced blobs present" in result.stdout
    assert _check("--blobs", "--hashes").exit_code == 0

    with open_stores(f"sqlite:///{home / 'modelyard.db'}") as stores:
        tree_manifest = stores.datasets.get_dataset_version("tree", 1).manifest_digest
        entries = stores.artifacts.get_manifest(tree_manifest).entries
        b_digest = next(e.digest for e in entries if e.path == "b.txt")
        a_digest = next(e.digest for e in entries if e.path == "a.txt")
        stores.artifacts.delete(b_digest)
        stores.artifacts.delete(a_digest)
        big_digest = next(
            iter(stores.artifacts.get_manifest(stores.datasets.get_dataset_version("big", 1).manifest_digest).entries)
        ).digest
        blob = stores.artifacts.local_blob_path(big_digest)
    assert blob is not None and blob.is_file()
    blob.chmod(0o644)
    blob.write_bytes(b"X" + big[1:])  # same size, other bytes

    result = _check("--blobs")
    assert result.exit_code == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert f"problem: missing blob {b_digest}, referenced by dataset tree@v1 (file b.txt)" in problems
    assert any(
        a_digest in p and (f"run {run.id} (artifact a.txt)" in p or "tree@v1 (file a.txt)" in p) for p in problems
    )
    assert len(problems) == 2  # the damaged blob is still there: only --hashes sees it
    result = _check("--blobs", "--hashes", "--json")
    assert result.exit_code == 1
    import orjson

    report = orjson.loads(result.stdout)
    assert report["ok"] is False and len(report["problems"]) == 3
    assert any(big_digest in p and "corrupt" in p and "dataset big@v1" in p for p in report["problems"])
    # Without --blobs the rows alone are still fine.
    assert _check().exit_code == 0


def test_db_check_blobs_covers_prediction_log_partitions(home: Path) -> None:
    """Each partition file of a prediction log (of any endpoint: no deployment is needed, so a
    deleted one's logs count too) is a referenced blob: one missing, one damaged, each reported with
    its endpoint and partition."""
    from modelyard.core.ids import new_id
    from modelyard.core.serving import PredictionLogPartition

    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    parts = []
    with open_stores(f"sqlite:///{home / 'modelyard.db'}") as stores:
        for endpoint in ("api", "gone", "api"):
            data = os.urandom(200_000)  # stored loose, so it can be damaged on disk
            ref = stores.artifacts.put_bytes(data)
            part = PredictionLogPartition(id=new_id(), endpoint=endpoint, start_ms=len(parts), end_ms=len(parts) + 1,
                                          row_count=1, digest=ref.digest, size=len(data), created_at=1)  # fmt: skip
            stores.serving.add_prediction_partition(part, [f"r{len(parts)}"])
            parts.append((part, data))
        assert _check("--blobs", "--hashes").exit_code == 0
        stores.artifacts.delete(parts[1][0].digest)
        blob = stores.artifacts.local_blob_path(parts[2][0].digest)
    assert blob is not None and blob.is_file()
    blob.chmod(0o644)
    blob.write_bytes(b"X" + parts[2][1][1:])
    result = _check("--blobs")
    assert result.exit_code == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    gone = parts[1][0]
    missing = f"problem: missing blob {gone.digest}, referenced by prediction log of gone (partition {gone.id})"
    assert problems == [missing]
    result = _check("--blobs", "--hashes")
    damaged = parts[2][0]
    assert result.exit_code == 1 and (
        f"problem: corrupt blob {damaged.digest} (its bytes no longer hash to it), referenced by prediction log of api"
        f" (partition {damaged.id})" in result.stdout.splitlines()
    )


def test_hashes_needs_blobs(home: Path) -> None:
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    result = _check("--hashes")
    assert result.exit_code == 2 and "--blobs" in result.stderr
