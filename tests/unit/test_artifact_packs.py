"""Pack files in the local artifact store: many small blobs in one file (artifacts/packs.py).

What must hold: packed blobs read, stream, verify and list exactly like loose ones; nothing is
stored twice; a damaged pack is reported, never returned; deleting a packed blob rewrites its
pack and leaves the others readable, also for another store object (another process's view);
and a writer killed mid-pack leaves no visible blob without its bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelyard.artifacts.backends.local import PACK_MIN_FILES
from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.core.errors import IntegrityError, NotFound


def _files(root: Path, count: int, *, size: int = 2000, distinct: int | None = None) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        path = root / f"f{i:04d}.bin"
        seed = i if distinct is None else i % distinct
        path.write_bytes(hashlib.sha256(str(seed).encode()).digest() * (size // 32))
        out.append(path)
    return out


def _packs(store: ContentAddressedStore) -> list[str]:
    packs = Path(store.uri) / "packs"
    return sorted(p.name for p in packs.iterdir()) if packs.is_dir() else []


def _loose(store: ContentAddressedStore) -> list[Path]:
    return [p for p in (Path(store.uri) / "blobs").rglob("*") if p.is_file()]


@pytest.fixture
def store(tmp_path: Path) -> ContentAddressedStore:
    return ContentAddressedStore(str(tmp_path / "store"))


def test_a_batch_of_small_files_is_packed_and_reads_like_loose_blobs(
    store: ContentAddressedStore, tmp_path: Path
) -> None:
    files = _files(tmp_path / "src", 150, distinct=100)  # 50 duplicates
    refs = store.put_files(files)
    assert [r.digest for r in refs] == ["sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() for p in files]
    assert _loose(store) == []  # no blob file per small file
    assert any(name.endswith(".pack") for name in _packs(store))
    assert sum(1 for n in _packs(store) if n.endswith(".idx")) >= 1
    for path, ref in zip(files, refs, strict=True):
        assert store.exists(ref.digest)
        assert store.get_bytes(ref.digest) == path.read_bytes()
        with store.open(ref.digest) as stream:
            assert stream.read() == path.read_bytes()
        assert store.verify(ref.digest)
    assert sorted(store.iter_digests()) == sorted({r.digest for r in refs})
    out = store.get_file(refs[3].digest, tmp_path / "out.bin")
    assert out.read_bytes() == files[3].read_bytes()
    assert list((Path(store.uri) / "tmp").iterdir()) == []


def test_packed_bytes_are_stored_once(store: ContentAddressedStore, tmp_path: Path) -> None:
    files = _files(tmp_path / "src", 100, distinct=40)
    store.put_files(files)
    first = _packs(store)
    pack_bytes = sum((Path(store.uri) / "packs" / n).stat().st_size for n in first if n.endswith(".pack"))
    assert pack_bytes == sum(p.stat().st_size for p in files[:40])  # each distinct content once
    store.put_files(files)  # the same content again: nothing new is written
    assert _packs(store) == first
    assert _loose(store) == []


def test_few_files_stay_loose(store: ContentAddressedStore, tmp_path: Path) -> None:
    files = _files(tmp_path / "src", PACK_MIN_FILES - 1)
    store.put_files(files)
    assert _packs(store) == []
    assert len(_loose(store)) == len(files)


def test_a_damaged_pack_is_reported_not_returned(store: ContentAddressedStore, tmp_path: Path) -> None:
    files = _files(tmp_path / "src", 80)
    refs = store.put_files(files)
    damaged = refs[0].digest
    key_suffix = damaged.split(":")[1]
    for idx in (Path(store.uri) / "packs").glob("*.idx"):
        index = json.loads(idx.read_text())
        for key, offset, _size in index["entries"]:
            if key.endswith(key_suffix):
                pack = idx.with_suffix(".pack")
                os.chmod(pack, 0o644)
                with pack.open("r+b") as handle:  # flip one byte of the blob
                    handle.seek(offset)
                    first = handle.read(1)
                    handle.seek(offset)
                    handle.write(bytes([first[0] ^ 0xFF]))
    with pytest.raises(IntegrityError):
        store.get_bytes(damaged)
    with pytest.raises(IntegrityError), store.open(damaged) as stream:
        stream.read()
    assert not store.verify(damaged)
    assert store.get_bytes(refs[1].digest) == files[1].read_bytes()  # the rest of the pack is fine


def test_deleting_packed_blobs_rewrites_the_pack(store: ContentAddressedStore, tmp_path: Path) -> None:
    files = _files(tmp_path / "src", 70)
    refs = store.put_files(files)
    other = ContentAddressedStore(store.uri)  # another process's view, loaded before the delete
    assert other.get_bytes(refs[5].digest) == files[5].read_bytes()
    store.delete(refs[0].digest)
    store.delete(refs[0].digest)  # idempotent
    assert not store.exists(refs[0].digest)
    with pytest.raises(NotFound):
        store.get_bytes(refs[0].digest)
    assert refs[0].digest not in set(store.iter_digests())
    # The other view still points at the old pack: it must notice the rewrite and read the new one.
    assert other.get_bytes(refs[5].digest) == files[5].read_bytes()
    assert not other.exists(refs[0].digest)
    for ref in refs[1:]:
        store.delete(ref.digest)
    assert _packs(store) == []  # the last blob gone: no empty pack is kept
    assert list(store.iter_digests()) == []


def test_another_store_object_sees_new_packs(store: ContentAddressedStore, tmp_path: Path) -> None:
    reader = ContentAddressedStore(store.uri)
    assert list(reader.iter_digests()) == []
    files = _files(tmp_path / "src", 90)
    refs = store.put_files(files)
    assert reader.get_bytes(refs[-1].digest) == files[-1].read_bytes()
    assert reader.exists(refs[0].digest)


def test_an_unindexed_pack_is_invisible(store: ContentAddressedStore, tmp_path: Path) -> None:
    """A crash between renaming a pack into place and writing its index leaves a pack nobody
    sees (the index is the commit point); the blobs are simply written again."""
    files = _files(tmp_path / "src", 80)
    refs = store.put_files(files)
    for name in _packs(store):
        if name.endswith(".idx"):
            os.unlink(Path(store.uri) / "packs" / name)
    fresh = ContentAddressedStore(store.uri)
    assert not fresh.exists(refs[0].digest)
    with pytest.raises(NotFound):
        fresh.get_bytes(refs[0].digest)
    fresh.put_files(files)
    assert fresh.get_bytes(refs[0].digest) == files[0].read_bytes()


def test_durable_batches_pack_too(tmp_path: Path) -> None:
    store = ContentAddressedStore(str(tmp_path / "store"), durable=True)
    files = _files(tmp_path / "src", 70)
    refs = store.put_files(files)
    assert _loose(store) == [] and _packs(store)
    assert all(store.verify(r.digest) for r in refs)


_KILLED_WRITER = """
import sys
from modelyard.artifacts.cas import ContentAddressedStore
from modelyard.artifacts import packs
packs.PACK_TARGET_BYTES = 64 << 10  # many small packs, so the kill lands between commits
store = ContentAddressedStore(sys.argv[1])
paths = sys.argv[2:]
while True:
    store.put_files(paths)
    store = ContentAddressedStore(sys.argv[1])
    for ref in store.put_files(paths):
        store.delete(ref.digest)
"""


def test_kill_9_while_packing_leaves_only_whole_blobs(store: ContentAddressedStore, tmp_path: Path) -> None:
    files = _files(tmp_path / "src", 400, size=4000)
    expected = {"sha256:" + hashlib.sha256(p.read_bytes()).hexdigest(): p.read_bytes() for p in files}
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, store.uri, *map(str, files)])
    try:
        deadline = time.monotonic() + 60
        while len(_packs(store)) < 6:  # several packs committed (and some being rewritten)
            assert writer.poll() is None, "writer died on its own"
            assert time.monotonic() < deadline, "writer never committed packs"
            time.sleep(0.005)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == -signal.SIGKILL
    fresh = ContentAddressedStore(store.uri)  # opening removes the dead writer's temp files
    assert [name for name in os.listdir(Path(store.uri) / "tmp") if f"-{writer.pid}-" in name] == []
    for digest in fresh.iter_digests():  # every visible blob is whole and correct
        assert fresh.get_bytes(digest) == expected[digest]
    refs = fresh.put_files(files)  # and the store still works
    assert all(fresh.get_bytes(r.digest) == expected[r.digest] for r in refs)


def test_a_pack_committed_within_the_same_clock_tick_is_seen(store: ContentAddressedStore, tmp_path: Path) -> None:
    """Directory mtimes come from a coarse clock: a reader that refreshed between two commits in
    the same tick must still see the second one (the mtime alone would say nothing changed)."""
    reader = ContentAddressedStore(store.uri)
    first = store.put_files(_files(tmp_path / "a", 70))
    assert reader.exists(first[0].digest)
    packs_dir = Path(store.uri) / "packs"
    stamp = packs_dir.stat().st_mtime_ns
    second = store.put_files(_files(tmp_path / "b", 70, size=3000))
    os.utime(packs_dir, ns=(stamp, stamp))  # as if both commits had happened in one tick
    assert reader.get_bytes(second[0].digest) == (tmp_path / "b" / "f0000.bin").read_bytes()


def test_a_big_file_that_shrinks_while_copied_leaves_no_preallocated_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big blobs are preallocated to the source's size before the copy; if fewer bytes arrive
    (the file was truncated meanwhile) the blob is cut to what was hashed, never zero-padded."""
    import modelyard.artifacts.backends.local as local

    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(local.PARALLEL_COPY_MIN + 4096))
    real = local._hash_copy_parallel

    def shrinking(src: object, algorithm: str, sink_fd: int) -> tuple[str, int]:
        half = source.read_bytes()[: local.PARALLEL_COPY_MIN // 2]
        os.write(sink_fd, half)  # as if the file had been cut in half before the rest was read
        return hashlib.new(algorithm, half).hexdigest(), len(half)

    monkeypatch.setattr(local, "_hash_copy_parallel", shrinking)
    store = ContentAddressedStore(str(tmp_path / "store"))
    ref = store.put_file(source)
    blob = store.local_blob_path(ref.digest)
    assert blob is not None and blob.stat().st_size == ref.size == local.PARALLEL_COPY_MIN // 2
    assert store.verify(ref.digest)
    monkeypatch.setattr(local, "_hash_copy_parallel", real)
    whole = store.put_file(source)
    assert whole.size == source.stat().st_size and store.verify(whole.digest)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_opening_a_store_removes_what_dead_writers_left_and_keeps_live_writers_files(tmp_path: Path) -> None:
    """``data add`` killed mid-way leaves temp files (and maybe a pack renamed but not yet
    indexed); the next open removes them, but never a file a live writer may still rename."""
    from modelyard.artifacts.backends.tempnames import STALE_AFTER, temp_prefix

    root = tmp_path / "store"
    ContentAddressedStore(str(root))
    tmp, packs_dir = root / "tmp", root / "packs"
    packs_dir.mkdir()
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    long_ago = time.time() - STALE_AFTER - 60
    try:
        left = {
            "dead pack": tmp / f"{temp_prefix('pack', dead)}0a1b.tmp",
            "dead index": tmp / f"{temp_prefix('idx', dead)}0a1b.tmp",
            "dead blob": tmp / f"{temp_prefix('put', dead)}x7",
            "old unnamed": tmp / "put-abc123",  # no pid in the name (an older version): by age
            "old unindexed pack": packs_dir / "d00d.pack",
        }
        kept = {
            "live pack": tmp / f"{temp_prefix('pack', live.pid)}0a1b.tmp",
            "my own blob": tmp / f"{temp_prefix('put')}x8",
            "fresh unnamed": tmp / "put-def456",
            "fresh unindexed pack": packs_dir / "beef.pack",  # a writer about to write its index
            "indexed old pack": packs_dir / "cafe.pack",
            "its index": packs_dir / "cafe.idx",
            "someone else's file": tmp / "notes.txt",
        }
        for path in [*left.values(), *kept.values()]:
            path.write_bytes(b"partial")
        for path in (left["old unnamed"], left["old unindexed pack"], kept["indexed old pack"], kept["its index"]):
            os.utime(path, (long_ago, long_ago))
        os.utime(kept["someone else's file"], (long_ago, long_ago))
        ContentAddressedStore(str(root))
        assert {name for name, path in left.items() if path.exists()} == set()
        assert {name for name, path in kept.items() if not path.exists()} == set()
    finally:
        live.kill()
        live.wait()
