"""The content-addressed artifact store on a local directory.

``ArtifactStoreBehaviour`` is the backend-independent suite; tests/integration/test_artifacts_s3.py
runs it again against a real SeaweedFS S3 server. Local-only properties (file modes, processes,
kill -9 mid-write, symlinks) follow it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelyard.artifacts import ArtifactStore, Manifest, ManifestEntry, open_artifact_store
from modelyard.artifacts.backends.base import blob_key as _blob_key
from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.artifacts.manifest import manifest_from_bytes, manifest_to_bytes
from modelyard.artifacts.paths import parse_digest
from modelyard.core.errors import IntegrityError, InvalidArgument, NotFound


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_tree(root: Path) -> dict[str, bytes]:
    """A small directory with nesting, an empty file and a non-ASCII name."""
    files = {
        "model.json": b'{"kind": "linear"}',
        "weights/layer1.bin": os.urandom(70_000),
        "weights/layer2.bin": os.urandom(3),
        "weights/deep/er/empty.txt": b"",
        "données/é.txt": "é".encode(),
        "copy-of-model.json": b'{"kind": "linear"}',  # duplicate content, one blob
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class ArtifactStoreBehaviour:
    """What every ArtifactStore backend must do. Subclasses provide ``store``/``other_store``
    fixtures and ``tamper`` (overwrite a stored blob behind the store's back)."""

    def tamper(self, store: ArtifactStore, digest: str, data: bytes) -> None:
        raise NotImplementedError

    def store_options(self) -> dict[str, Any] | None:
        """Storage options for opening a second store on the same URI."""
        return None

    # -- round trips ----------------------------------------------------------------------------

    def test_bytes_round_trip(self, store: ArtifactStore) -> None:
        data = b'{"accuracy": 0.93}'
        ref = store.put_bytes(data)
        assert ref.digest == sha256_digest(data)
        assert ref.size == len(data)
        assert store.exists(ref.digest)
        assert store.get_bytes(ref.digest) == data
        with store.open(ref.digest) as stream:
            assert stream.read() == data

    def test_empty_blob(self, store: ArtifactStore) -> None:
        ref = store.put_bytes(b"")
        assert store.get_bytes(ref.digest) == b""
        assert store.verify(ref.digest)

    def test_file_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        source = tmp_path / "in.bin"
        data = os.urandom(3 * 1024 * 1024 + 17)  # spans several chunks
        source.write_bytes(data)
        ref = store.put_file(source)
        assert ref == store.put_bytes(data)  # a file and the same bytes share one address
        out = store.get_file(ref.digest, tmp_path / "out" / "copy.bin")
        assert out.read_bytes() == data
        assert not [p for p in out.parent.iterdir() if p.name != "copy.bin"]  # no temp files left

    def test_directory_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        files = make_tree(tmp_path / "src")
        manifest = store.put_directory(tmp_path / "src")
        assert manifest.digest is not None
        assert [e.path for e in manifest.entries] == sorted(files)
        assert manifest.total_size == sum(len(d) for d in files.values())
        assert store.get_manifest(manifest.digest) == manifest
        store.get_directory(manifest.digest, tmp_path / "dst")
        assert read_tree(tmp_path / "dst") == files

    def test_empty_directory(self, store: ArtifactStore, tmp_path: Path) -> None:
        (tmp_path / "empty").mkdir()
        manifest = store.put_directory(tmp_path / "empty")
        assert manifest.entries == ()
        assert manifest.digest is not None
        store.get_directory(manifest.digest, tmp_path / "out")
        assert list((tmp_path / "out").iterdir()) == []

    def test_manifest_digest_is_stable_across_stores(
        self, store: ArtifactStore, other_store: ArtifactStore, tmp_path: Path
    ) -> None:
        make_tree(tmp_path / "a")
        first = store.put_directory(tmp_path / "a")
        again = store.put_directory(tmp_path / "a")
        elsewhere = other_store.put_directory(tmp_path / "a")
        assert first.digest == again.digest == elsewhere.digest
        assert first == elsewhere

    # -- dedup and concurrency ------------------------------------------------------------------

    def test_same_content_is_stored_once(self, store: ArtifactStore) -> None:
        data = os.urandom(1000)
        first = store.put_bytes(data)
        second = store.put_bytes(data)
        assert first == second
        assert list(store.iter_digests()).count(first.digest) == 1

    def test_concurrent_writers_threads(self, store: ArtifactStore) -> None:
        same = os.urandom(200_000)
        different = [os.urandom(50_000) for _ in range(16)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            same_refs = list(pool.map(lambda _: store.put_bytes(same), range(16)))
            other_refs = list(pool.map(store.put_bytes, different))
        assert {r.digest for r in same_refs} == {sha256_digest(same)}
        for data, ref in zip(different, other_refs, strict=True):
            assert store.get_bytes(ref.digest) == data
        stored = list(store.iter_digests())
        assert stored.count(sha256_digest(same)) == 1
        assert {r.digest for r in other_refs} <= set(stored)

    def test_iter_digests_and_delete(self, store: ArtifactStore) -> None:
        refs = [store.put_bytes(f"blob {i}".encode()) for i in range(5)]
        assert {r.digest for r in refs} <= set(store.iter_digests())
        store.delete(refs[0].digest)
        assert not store.exists(refs[0].digest)
        assert refs[0].digest not in set(store.iter_digests())
        store.delete(refs[0].digest)  # idempotent: a retried GC pass does not fail
        with pytest.raises(NotFound):
            store.get_bytes(refs[0].digest)

    # -- integrity ------------------------------------------------------------------------------

    def test_tampered_blob_detected_by_every_read(self, store: ArtifactStore, tmp_path: Path) -> None:
        original = b"the real weights " * 1000
        ref = store.put_bytes(original)
        self.tamper(store, ref.digest, b"the fake weights " * 1000)
        with pytest.raises(IntegrityError, match=ref.digest):
            store.get_bytes(ref.digest)
        with pytest.raises(IntegrityError, match=ref.digest), store.open(ref.digest) as stream:
            stream.read()
        with pytest.raises(IntegrityError, match=ref.digest):
            store.get_file(ref.digest, tmp_path / "out.bin")
        assert not (tmp_path / "out.bin").exists()
        assert not list(tmp_path.glob(".out.bin*"))  # the temp file is gone too
        assert store.verify(ref.digest) is False

    def test_open_detects_tampering_when_read_in_chunks(self, store: ArtifactStore) -> None:
        ref = store.put_bytes(os.urandom(300_000))
        self.tamper(store, ref.digest, os.urandom(300_000))
        with store.open(ref.digest) as stream, pytest.raises(IntegrityError):
            while stream.read(4096):
                pass

    def test_tampered_directory_file_detected(self, store: ArtifactStore, tmp_path: Path) -> None:
        files = make_tree(tmp_path / "src")
        manifest = store.put_directory(tmp_path / "src")
        assert manifest.digest is not None
        victim = next(e for e in manifest.entries if e.path == "weights/layer1.bin")
        self.tamper(store, victim.digest, os.urandom(len(files[victim.path])))
        with pytest.raises(IntegrityError, match=victim.digest):
            store.get_directory(manifest.digest, tmp_path / "dst")
        assert not (tmp_path / "dst" / "weights" / "layer1.bin").exists()

    def test_tampered_manifest_detected(self, store: ArtifactStore, tmp_path: Path) -> None:
        make_tree(tmp_path / "src")
        manifest = store.put_directory(tmp_path / "src")
        assert manifest.digest is not None
        self.tamper(store, manifest.digest, b'{"format":"modelyard.manifest/v1","entries":[]}')
        with pytest.raises(IntegrityError, match=manifest.digest):
            store.get_manifest(manifest.digest)
        with pytest.raises(IntegrityError):
            store.get_directory(manifest.digest, tmp_path / "dst")

    def test_missing_blob_is_not_found(self, store: ArtifactStore, tmp_path: Path) -> None:
        digest = sha256_digest(b"never stored")
        assert not store.exists(digest)
        for read in (
            store.get_bytes,
            store.open,
            store.verify,
            store.get_manifest,
            lambda d: store.get_file(d, tmp_path / "x"),
            lambda d: store.get_directory(d, tmp_path / "d"),
        ):
            with pytest.raises(NotFound, match=digest):
                read(digest)
        assert not (tmp_path / "x").exists()
        with pytest.raises(NotFound):  # a missing blob creates nothing, not even the parent
            store.get_file(digest, tmp_path / "new-dir" / "x")
        assert not (tmp_path / "new-dir").exists()

    @pytest.mark.parametrize(
        "digest",
        [
            "",
            "sha256",
            "sha256:",
            "md5:" + "0" * 32,
            "sha256:" + "0" * 63,
            "sha256:" + "A" * 64,
            "sha256:../../../../etc/passwd",
            "sha256:" + "0" * 63 + "\n",
        ],
    )
    def test_malformed_digest_is_invalid_argument(self, store: ArtifactStore, digest: str) -> None:
        with pytest.raises(InvalidArgument):
            store.get_bytes(digest)
        with pytest.raises(InvalidArgument):
            store.exists(digest)

    def test_non_manifest_blob_is_rejected_as_manifest(self, store: ArtifactStore) -> None:
        ref = store.put_bytes(b'{"accuracy": 1}')
        with pytest.raises(InvalidArgument, match="not a manifest"):
            store.get_manifest(ref.digest)

    def test_blake2b_blobs_are_readable_by_a_sha256_store(self, store: ArtifactStore) -> None:
        writer = ContentAddressedStore(store.uri, self.store_options(), algorithm="blake2b")
        ref = writer.put_bytes(b"hello")
        assert ref.digest == "blake2b:" + hashlib.blake2b(b"hello").hexdigest()
        assert store.get_bytes(ref.digest) == b"hello"
        assert ref.digest in set(store.iter_digests())

    def test_large_file_is_streamed(self, store: ArtifactStore, tmp_path: Path) -> None:
        source = tmp_path / "big.bin"
        block = os.urandom(1 << 20)
        with open(source, "wb") as f:
            for i in range(50):
                f.write(block[i:] + block[:i])  # 50 MB, no two MBs alike
        expected = hashlib.sha256(source.read_bytes()).hexdigest()
        tracemalloc.start()
        try:
            ref = store.put_file(source)
            store.get_file(ref.digest, tmp_path / "big.out")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert ref.digest == f"sha256:{expected}"
        assert ref.size == 50 << 20
        assert hashlib.sha256((tmp_path / "big.out").read_bytes()).hexdigest() == expected
        assert peak < self.streaming_peak_limit, f"peak Python allocation {peak / 1e6:.1f} MB"

    streaming_peak_limit = 16 << 20


# ---------------------------------------------------------------------------------------------
# Local backend


def _blob_path(store: ArtifactStore, digest: str) -> Path:
    algorithm, hex_digest = parse_digest(digest)
    return Path(store.uri).joinpath(*_blob_key(algorithm, hex_digest).split("/"))


def put_in_subprocess(args: tuple[str, bytes]) -> str:
    """Worker for the multi-process test (module level so the spawn start method can import it)."""
    root, data = args
    return ContentAddressedStore(root).put_bytes(data).digest


class TestLocalStore(ArtifactStoreBehaviour):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ArtifactStore:
        return ContentAddressedStore(str(tmp_path / "store"))

    @pytest.fixture
    def other_store(self, tmp_path: Path) -> ArtifactStore:
        return open_artifact_store(f"file://{tmp_path / 'other-store'}")

    def tamper(self, store: ArtifactStore, digest: str, data: bytes) -> None:
        path = _blob_path(store, digest)
        os.chmod(path, 0o644)
        path.write_bytes(data)

    def test_layout_and_read_only_blobs(self, store: ArtifactStore) -> None:
        ref = store.put_bytes(b"x")
        hex_digest = ref.digest.split(":")[1]
        path = Path(store.uri) / "blobs" / "sha256" / hex_digest[:2] / hex_digest[2:4] / hex_digest
        assert path.read_bytes() == b"x"
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        assert list((Path(store.uri) / "tmp").iterdir()) == []

    def test_dedup_leaves_one_file(self, store: ArtifactStore, tmp_path: Path) -> None:
        source = tmp_path / "f.bin"
        source.write_bytes(os.urandom(10_000))
        store.put_file(source)
        store.put_file(source)
        store.put_bytes(source.read_bytes())
        blobs = [p for p in (Path(store.uri) / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 1
        assert list((Path(store.uri) / "tmp").iterdir()) == []

    def test_truncated_blob_is_repaired_by_the_next_put(self, store: ArtifactStore) -> None:
        data = os.urandom(5000)
        ref = store.put_bytes(data)
        self.tamper(store, ref.digest, data[:100])
        assert store.put_bytes(data) == ref
        assert store.verify(ref.digest)

    def test_concurrent_writers_processes(self, store: ArtifactStore) -> None:
        same = os.urandom(300_000)
        work = [(store.uri, same)] * 6 + [(store.uri, os.urandom(1000)) for _ in range(6)]
        with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
            digests = list(pool.map(put_in_subprocess, work))
        assert set(digests[:6]) == {sha256_digest(same)}
        for (_, data), digest in zip(work, digests, strict=True):
            assert store.get_bytes(digest) == data
        assert len(list(store.iter_digests())) == 7
        assert list((Path(store.uri) / "tmp").iterdir()) == []

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO to pause the writer")
    def test_kill_9_mid_write_leaves_no_blob(self, store: ArtifactStore, tmp_path: Path) -> None:
        """A writer killed half-way leaves a stray temp file and nothing at any blob address."""
        fifo = tmp_path / "source.fifo"
        os.mkfifo(fifo)
        script = (
            "import sys\nfrom modelyard.artifacts.cas import ContentAddressedStore\n"
            "ContentAddressedStore(sys.argv[1]).put_file(sys.argv[2])\n"
        )
        writer = subprocess.Popen([sys.executable, "-c", script, store.uri, str(fifo)])
        try:
            with open(fifo, "wb") as pipe:
                pipe.write(os.urandom(3 << 20))  # the writer has read some of it...
                pipe.flush()
                tmp_dir = Path(store.uri) / "tmp"
                deadline = time.monotonic() + 30
                while not any(p.stat().st_size for p in tmp_dir.iterdir()):
                    assert time.monotonic() < deadline, "writer never started writing"
                    time.sleep(0.01)
                writer.send_signal(signal.SIGKILL)  # ...and dies before the end of its input
                writer.wait(timeout=30)
        except BrokenPipeError:
            pass
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        assert writer.returncode == -signal.SIGKILL
        assert list(store.iter_digests()) == []
        assert not [p for p in (Path(store.uri) / "blobs").rglob("*") if p.is_file()]
        ref = store.put_bytes(b"still works")
        assert store.get_bytes(ref.digest) == b"still works"

    def test_symlinks_inside_the_tree_are_followed(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "src"
        (src / "real").mkdir(parents=True)
        (src / "real" / "w.bin").write_bytes(b"weights")
        (src / "latest").symlink_to("real", target_is_directory=True)
        (src / "alias.bin").symlink_to(src / "real" / "w.bin")
        manifest = store.put_directory(src)
        assert {e.path for e in manifest.entries} == {"alias.bin", "latest/w.bin", "real/w.bin"}
        assert len({e.digest for e in manifest.entries}) == 1

    @pytest.mark.parametrize("kind", ["outside-file", "outside-dir", "broken", "loop", "fifo"])
    def test_put_directory_refuses_what_it_cannot_store_faithfully(
        self, store: ArtifactStore, tmp_path: Path, kind: str
    ) -> None:
        src = tmp_path / "src"
        src.mkdir()
        (src / "ok.txt").write_bytes(b"ok")
        outside = tmp_path / "secret"
        outside.mkdir()
        (outside / "key").write_bytes(b"secret")
        if kind == "outside-file":
            (src / "link").symlink_to(outside / "key")
        elif kind == "outside-dir":
            (src / "link").symlink_to(outside, target_is_directory=True)
        elif kind == "broken":
            (src / "link").symlink_to(src / "nowhere")
        elif kind == "loop":
            (src / "sub").mkdir()
            (src / "sub" / "up").symlink_to(src, target_is_directory=True)
        else:
            os.mkfifo(src / "pipe")
        with pytest.raises(InvalidArgument):
            store.put_directory(src)

    @pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads anything")
    def test_unreadable_file_raises(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "src"
        src.mkdir()
        (src / "locked").write_bytes(b"x")
        os.chmod(src / "locked", 0)
        try:
            with pytest.raises(InvalidArgument, match="locked"):
                store.put_directory(src)
        finally:
            os.chmod(src / "locked", 0o644)

    def test_unreadable_file_raises_even_as_root(
        self, store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Permission bits do not stop root, so simulate the EACCES the kernel would give others."""
        import builtins

        src = tmp_path / "src"
        src.mkdir()
        (src / "fine").write_bytes(b"x")
        (src / "locked").write_bytes(b"y")
        real_open, real_os_open = builtins.open, os.open

        def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            if str(file).endswith("locked"):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        def guarded_os_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            if str(file).endswith("locked"):
                raise PermissionError(13, "Permission denied", str(file))
            return real_os_open(file, *args, **kwargs)

        # Whichever way the backend reads a caller's file (whole with os.open, or streamed).
        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(os, "open", guarded_os_open)
        with pytest.raises(InvalidArgument, match="locked"):
            store.put_directory(src)

    def test_put_directory_rejects_backslash_file_names(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "src"
        src.mkdir()
        (src / "a\\..\\b").write_bytes(b"x")  # one legal POSIX name, an escape on Windows
        with pytest.raises(InvalidArgument, match="backslash"):
            store.put_directory(src)

    def test_get_directory_does_not_follow_symlinks_out_of_dest(self, store: ArtifactStore, tmp_path: Path) -> None:
        (tmp_path / "src" / "sub").mkdir(parents=True)
        (tmp_path / "src" / "sub" / "f").write_bytes(b"payload")
        manifest = store.put_directory(tmp_path / "src")
        assert manifest.digest is not None
        dest = tmp_path / "dest"
        dest.mkdir()
        (tmp_path / "elsewhere").mkdir()
        (dest / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        with pytest.raises(InvalidArgument, match="outside"):
            store.get_directory(manifest.digest, dest)
        assert not (tmp_path / "elsewhere" / "f").exists()

    def test_crafted_manifest_with_escaping_path_is_rejected(self, store: ArtifactStore, tmp_path: Path) -> None:
        blob = store.put_bytes(b"evil")
        crafted = {
            "format": "modelyard.manifest/v1",
            "entries": [{"path": "../escaped", "digest": blob.digest, "size": 4}],
        }
        ref = store.put_bytes(json.dumps(crafted).encode())
        with pytest.raises(InvalidArgument, match=r"\.\."):
            store.get_directory(ref.digest, tmp_path / "dest")
        assert not (tmp_path / "escaped").exists()

    def test_missing_source_and_non_directory(self, store: ArtifactStore, tmp_path: Path) -> None:
        with pytest.raises(NotFound):
            store.put_file(tmp_path / "nope")
        with pytest.raises(NotFound):
            store.put_directory(tmp_path / "nope")
        (tmp_path / "file").write_bytes(b"x")
        with pytest.raises(InvalidArgument):
            store.put_directory(tmp_path / "file")

    def test_get_file_replaces_existing_destination_atomically(self, store: ArtifactStore, tmp_path: Path) -> None:
        ref = store.put_bytes(b"new")
        dest = tmp_path / "dest.txt"
        dest.write_bytes(b"old")
        store.get_file(ref.digest, dest)
        assert dest.read_bytes() == b"new"

    def test_open_stream_verifies_only_once_read(self, store: ArtifactStore) -> None:
        ref = store.put_bytes(b"abc" * 1000)
        with store.open(ref.digest) as stream:
            assert stream.read(3) == b"abc"
            assert not stream.seekable()
            assert len(stream.read()) == 2997
            assert stream.read() == b""

    def test_threads_reading_and_writing_together(self, store: ArtifactStore) -> None:
        payloads = [os.urandom(20_000) for _ in range(20)]
        errors: list[BaseException] = []

        def work(data: bytes) -> None:
            try:
                ref = store.put_bytes(data)
                assert store.get_bytes(ref.digest) == data
            except BaseException as exc:  # collected and re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(p,)) for p in payloads * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors


# ---------------------------------------------------------------------------------------------
# Manifests


def test_manifest_bytes_are_canonical() -> None:
    entries = (
        ManifestEntry("b.txt", sha256_digest(b"b"), 1),
        ManifestEntry("a/z.txt", sha256_digest(b"z"), 1),
    )
    forward = manifest_to_bytes(Manifest(entries=entries))
    backward = manifest_to_bytes(Manifest(entries=tuple(reversed(entries))))
    assert forward == backward
    assert b" " not in forward
    parsed = manifest_from_bytes(forward)
    assert [e.path for e in parsed.entries] == ["a/z.txt", "b.txt"]


@pytest.mark.parametrize(
    "entries, match",
    [
        ([{"path": "../x", "digest": sha256_digest(b""), "size": 0}], r"\.\."),
        ([{"path": "/etc/passwd", "digest": sha256_digest(b""), "size": 0}], "absolute"),
        ([{"path": "a//b", "digest": sha256_digest(b""), "size": 0}], "normal form"),
        ([{"path": "a", "digest": "sha256:zz", "size": 0}], "digest"),
        ([{"path": "a", "digest": sha256_digest(b""), "size": -1}], "size"),
        ([{"path": "a", "digest": sha256_digest(b""), "size": 0}] * 2, "twice"),
        (
            [
                {"path": "a", "digest": sha256_digest(b""), "size": 0},
                {"path": "a/b", "digest": sha256_digest(b""), "size": 0},
            ],
            "both as a file and as a directory",
        ),
        ([{"path": "a", "digest": sha256_digest(b""), "size": 0, "extra": 1}], "malformed"),
    ],
)
def test_invalid_manifests_are_rejected(entries: list[dict[str, Any]], match: str) -> None:
    data = json.dumps({"format": "modelyard.manifest/v1", "entries": entries}).encode()
    with pytest.raises(InvalidArgument, match=match):
        manifest_from_bytes(data)


@pytest.mark.parametrize("data", [b"\xff", b"[]", b"{}", b'{"format": "other"}', b"not json"])
def test_non_manifest_bytes(data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="not a manifest"):
        manifest_from_bytes(data)


def test_store_uri_forms(tmp_path: Path) -> None:
    plain = ContentAddressedStore(str(tmp_path / "s"))
    via_file_uri = open_artifact_store(f"file://{tmp_path / 's'}")
    ref = plain.put_bytes(b"shared")
    assert via_file_uri.get_bytes(ref.digest) == b"shared"
    with pytest.raises(InvalidArgument):
        ContentAddressedStore(str(tmp_path / "s"), algorithm="md5")
    with pytest.raises(InvalidArgument):
        ContentAddressedStore("file://otherhost/x")


def test_a_backend_failing_mid_read_is_store_unavailable_and_leaves_nothing(tmp_path: Path) -> None:
    """ContentAddressedStore works through BlobBackend alone: a backend whose stream breaks off
    (a reset connection) gives StoreUnavailable from open() and get_file, and no file."""
    from modelyard.artifacts.backends.base import RawStream
    from modelyard.artifacts.backends.local import LocalBackend
    from modelyard.core.errors import StoreUnavailable

    class BreaksOff:
        def __init__(self, raw: RawStream) -> None:
            self.raw, self.reads = raw, 0

        def readinto(self, buffer: Any) -> int | None:
            self.reads += 1
            if self.reads > 1:
                raise ConnectionResetError(104, "Connection reset by peer")
            return self.raw.readinto(memoryview(buffer)[:1000])

        def close(self) -> None:
            self.raw.close()

    class Flaky(LocalBackend):
        def open_read(self, key: str) -> RawStream:
            return BreaksOff(super().open_read(key))

    store = ContentAddressedStore("flaky://", backend=Flaky(tmp_path / "store"))
    ref = store.put_bytes(os.urandom(50_000))
    with pytest.raises(StoreUnavailable, match="reset"), store.open(ref.digest) as stream:
        stream.read()
    with pytest.raises(StoreUnavailable, match="reset"):
        store.get_file(ref.digest, tmp_path / "out" / "f")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(StoreUnavailable, match="reset"):  # not "corrupt": the bytes never arrived
        store.verify(ref.digest)
