"""Walking a dataset on disk and hashing its files in parallel.

The walk is ``os.scandir`` recursion: the directory entry already says whether a name is a file,
a directory or a link, so each regular file costs one ``stat`` call and nothing else. It follows
the artifact store's rules for what can be stored faithfully: a symlink is followed only while it
stays inside the tree, and broken links, links leading out, link loops, unreadable directories
and special files are errors, never silently skipped (a version must not lack a file its author
saw).

Hashing runs in a thread pool: hashlib releases the GIL on buffers above a few KB, so hashing
scales with cores, and many small files overlap their open/read latency.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter
from pathlib import Path
from typing import Literal, NamedTuple

from modelyard.artifacts.paths import safe_relpath
from modelyard.core.errors import InvalidArgument, NotFound

__all__ = ["FileStat", "hash_file", "hash_files", "scan", "stat_snapshot"]

_SMALL_FILE = 4 << 20  # read in one call below this; stream above it
_CHUNK = 1 << 20


class FileStat(NamedTuple):  # a tuple, not a frozen dataclass: 20,000 are built per scan
    name: str  # the file's name inside the dataset: relative, '/'-separated
    path: str  # where to read it
    size: int
    mtime_ns: int
    inode: int


def _file_stat(name: str, path: str, st: os.stat_result) -> FileStat:
    return FileStat(name, path, st.st_size, st.st_mtime_ns, st.st_ino)


def scan(
    root: str | os.PathLike[str], *, validate_names: bool = True
) -> tuple[Literal["file", "directory"], list[FileStat]]:
    """What ``root`` holds: ``("file", [one entry named after the file])`` or
    ``("directory", [every file under it, sorted by name])``."""
    root_path = Path(root).absolute()
    try:
        st = root_path.stat()
    except FileNotFoundError:
        raise NotFound(f"no such file or directory: {root}")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {root}: {exc.strerror or exc}")
    if stat.S_ISREG(st.st_mode):
        name = root_path.name
        if validate_names:
            name = safe_relpath(name)
        return "file", [_file_stat(name, os.fspath(root_path), st)]
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"{root} is neither a regular file nor a directory")
    real_root = root_path.resolve()
    found: list[FileStat] = []
    check = safe_relpath if validate_names else str
    S_ISREG = stat.S_ISREG

    def visit(directory: str, prefix: str, ancestors: frozenset[str]) -> None:
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            raise InvalidArgument(f"cannot list {directory}: {exc.strerror or exc}")
        for entry in entries:
            name = check(prefix + entry.name)
            if not entry.is_symlink() and not entry.is_dir(follow_symlinks=False):
                # The common case, kept lean: one stat call, one tuple.
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    raise InvalidArgument(f"{name} vanished while being read")
                except OSError as exc:
                    raise InvalidArgument(f"cannot stat {entry.path}: {exc.strerror or exc}")
                if not S_ISREG(st.st_mode):
                    raise InvalidArgument(f"{name} is not a regular file (socket, FIFO or device)")
                append(FileStat(name, entry.path, st.st_size, st.st_mtime_ns, st.st_ino))
                continue
            try:
                if entry.is_symlink():
                    target = Path(entry.path).resolve(strict=True)
                    if not target.is_relative_to(real_root):
                        raise InvalidArgument(f"{name} is a symlink that points outside {root}")
                    target_st = target.stat()
                    if stat.S_ISDIR(target_st.st_mode):
                        real = os.fspath(target)
                        if real in ancestors:
                            raise InvalidArgument(f"{name} is a symlink loop")
                        visit(real, name + "/", ancestors | {real})
                        continue
                    path, st = os.fspath(target), target_st
                elif entry.is_dir(follow_symlinks=False):
                    visit(entry.path, name + "/", ancestors | {entry.path})
                    continue
                else:
                    path, st = entry.path, entry.stat(follow_symlinks=False)
            except (FileNotFoundError, RuntimeError):
                raise InvalidArgument(f"{name} is a broken or looping symlink, or vanished while being read")
            except OSError as exc:
                raise InvalidArgument(f"cannot stat {entry.path}: {exc.strerror or exc}")
            if not stat.S_ISREG(st.st_mode):
                raise InvalidArgument(f"{name} is not a regular file (socket, FIFO or device)")
            found.append(_file_stat(name, path, st))

    append = found.append
    real = os.fspath(real_root)
    visit(real, "", frozenset({real}))
    found.sort(key=attrgetter("name"))
    return "directory", found


class _NotPlain(Exception):
    """The tree holds something the fast walk leaves to ``scan`` (a symlink, a special file)."""


def stat_snapshot(root: str) -> list[tuple[str, int, int, int]] | None:
    """``(name, size, mtime_ns, inode)`` of every file under directory ``root``, in the order
    the directories list them (not sorted: an unchanged tree lists in the same order, and a
    different order only costs the caller its slow path), or None if the tree holds anything
    but regular files and directories, or changes under the walk: then the caller uses
    ``scan``, which handles (and reports) those.

    The fast path of ``status``: nothing is validated, sorted or joined into paths, and
    directories are opened relative to their parent's descriptor, so each ``stat`` resolves one
    name instead of the whole path; the 20,000 stat calls are most of what is left."""
    out: list[tuple[str, int, int, int]] = []
    extend = out.extend
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW

    def visit(dir_fd: int, prefix: str) -> None:
        with os.scandir(dir_fd) as it:
            entries = list(it)
        regular = []
        subdirs = []
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                regular.append(entry)
            elif entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.name)
            else:
                raise _NotPlain
        extend(
            [
                (prefix + e.name, st.st_size, st.st_mtime_ns, st.st_ino)
                for e in regular
                for st in (e.stat(follow_symlinks=False),)
            ]
        )
        for name in subdirs:
            fd = os.open(name, flags, dir_fd=dir_fd)
            try:
                visit(fd, prefix + name + "/")
            finally:
                os.close(fd)

    try:
        fd = os.open(root, flags)
    except OSError:
        return None
    try:
        visit(fd, "")
    except (_NotPlain, OSError):
        return None
    finally:
        os.close(fd)
    return out


def hash_file(path: str, algorithm: str = "sha256") -> tuple[str, int]:
    """``("<algorithm>:<hex>", size)`` of a file's current bytes."""
    try:
        with open(path, "rb", buffering=0) as handle:
            size_hint = os.fstat(handle.fileno()).st_size
            if size_hint < _SMALL_FILE:
                data = handle.readall()
                if len(data) == size_hint:
                    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}", len(data)
                hasher = hashlib.new(algorithm, data)
                size = len(data)
            else:
                hasher = hashlib.new(algorithm)
                size = 0
            buffer = bytearray(_CHUNK)
            view = memoryview(buffer)
            while n := handle.readinto(view):
                hasher.update(view[:n])
                size += n
            return f"{algorithm}:{hasher.hexdigest()}", size
    except FileNotFoundError:
        raise NotFound(f"{path} vanished while being read")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}")


def hash_files(
    paths: Sequence[str],
    algorithm: str = "sha256",
    *,
    max_workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[tuple[str, int]]:
    """Hash files in parallel; results in the order of ``paths``. ``on_done(size)`` after each."""

    def one(path: str) -> tuple[str, int]:
        result = hash_file(path, algorithm)
        if on_done is not None:
            on_done(result[1])
        return result

    if len(paths) <= 1:
        return [one(p) for p in paths]
    workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelyard-hash") as pool:
        return list(pool.map(one, paths))
