"""Checking out a dataset version: all or nothing.

A checkout first fetches every file it has to write into a staging directory inside the
destination (``.modelyard-checkout-*``: same filesystem, so the last step is renames), each one
verified against its digest and its size. Only when every file is staged does it touch the working
copy: it replaces what ``clean`` replaces, renames the staged files into place and, with
``clean``, deletes the files the version lacks. A missing or corrupt blob, a full disk or an
interrupted fetch therefore changes nothing (a destination directory the checkout created is
removed again) and the error says so. Should a rename itself fail (it should not: same
filesystem, checked paths), the error names exactly the files already written.

A staging directory left by a killed checkout is removed by the next checkout into the same place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.errors import CheckoutIncomplete, IntegrityError, InvalidArgument, ModelyardError
from modelyard.data.scan import FileStat

if TYPE_CHECKING:
    from modelyard.core.datasets import DatasetVersion

__all__ = [
    "STAGING_PREFIX",
    "CheckoutIncomplete",
    "fetch_verified",
    "kind_on_disk",
    "remove_path",
    "shape_conflicts",
    "write_files",
]

STAGING_PREFIX = ".modelyard-checkout-"
_NAMED = 5


class _Progress(Protocol):
    def advance(self, amount: int) -> None: ...


def fetch_verified(artifacts: ArtifactStore, digest: str, size: int, target: Path) -> None:
    """Write the blob to ``target`` atomically, verified against its digest and ``size``: a blob
    of the wrong size never replaces ``target``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        artifacts.get_file(digest, tmp)  # verified against the digest, atomically into tmp
        got = os.stat(tmp).st_size
        if got != size:
            raise IntegrityError(f"blob {digest} has {got} bytes, the manifest says {size}")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _with_note(exc: ModelyardError, note: str) -> ModelyardError:
    try:
        return type(exc)(f"{exc}; {note}")
    except TypeError:  # an error type with another constructor: keep it as it is
        return exc


def write_files(
    version: DatasetVersion,
    artifacts: ArtifactStore,
    dest: Path,
    todo: list[tuple[str, str, int]],
    *,
    created_dest: bool,
    replace_first: list[str],
    remove_after: list[str],
    keep: set[str],
    max_workers: int,
    progress: _Progress,
) -> None:
    """Stage every ``(name, digest, size)`` of ``todo`` under ``dest``, then (and only then) remove
    ``replace_first``, rename the staged files into place and remove ``remove_after``. ``keep``:
    the top-level names of the version (never taken for a killed checkout's leftovers)."""
    real_dest = dest.resolve()
    for leftover in real_dest.glob(f"{STAGING_PREFIX}*"):
        if leftover.name not in keep and leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
    targets = [real_dest.joinpath(*name.split("/")) for name, _, _ in todo]
    for (name, _, _), target in zip(todo, targets, strict=True):
        _check_inside(name, target, real_dest, dest)
    staging = Path(tempfile.mkdtemp(dir=real_dest, prefix=STAGING_PREFIX))
    try:
        try:
            _stage(artifacts, staging, todo, max_workers, progress)
        except ModelyardError as exc:
            raise _with_note(exc, f"nothing was written to {dest}") from exc
        except OSError as exc:
            raise InvalidArgument(
                f"cannot check out {version.ref} to {dest}: {exc.strerror or exc}; nothing was written"
            ) from exc
        _commit(version, dest, real_dest, staging, todo, targets, replace_first, remove_after)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_dest:
            with contextlib.suppress(OSError):
                real_dest.rmdir()  # only if still empty: what was there before stays
        raise
    shutil.rmtree(staging, ignore_errors=True)


def _check_inside(name: str, target: Path, real_dest: Path, dest: Path) -> None:
    if not target.parent.resolve().is_relative_to(real_dest):
        raise InvalidArgument(f"{name!r} would be written outside {dest} (through a symlink)")


def _stage(
    artifacts: ArtifactStore,
    staging: Path,
    todo: list[tuple[str, str, int]],
    max_workers: int,
    progress: _Progress,
) -> None:
    def fetch(item: tuple[int, tuple[str, str, int]]) -> None:
        index, (_name, digest, size) = item
        fetch_verified(artifacts, digest, size, staging / str(index))
        progress.advance(size)

    with ThreadPoolExecutor(max_workers, thread_name_prefix="modelyard-checkout") as pool:
        list(pool.map(fetch, enumerate(todo)))


def _commit(
    version: DatasetVersion,
    dest: Path,
    real_dest: Path,
    staging: Path,
    todo: list[tuple[str, str, int]],
    targets: list[Path],
    replace_first: list[str],
    remove_after: list[str],
) -> None:
    written: list[str] = []
    try:
        for name in replace_first:  # clean: the version's shape wins
            remove_path(real_dest.joinpath(*name.split("/")))
        for index, ((name, _, _), target) in enumerate(zip(todo, targets, strict=True)):
            target.parent.mkdir(parents=True, exist_ok=True)
            _check_inside(name, target, real_dest, dest)
            os.replace(staging / str(index), target)
            written.append(name)
        for name in remove_after:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(real_dest.joinpath(*name.split("/")))
    except (OSError, ModelyardError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        named = ", ".join(written[:_NAMED]) + (f" and {len(written) - _NAMED:,} more" if len(written) > _NAMED else "")
        raise CheckoutIncomplete(
            f"checkout of {version.ref} to {dest} stopped: {reason}; {len(written):,} of {len(todo):,} files were "
            f"written{': ' + named if written else ''}",
            written,
        ) from exc


def shape_conflicts(dest: Path, entries: Mapping[str, object], have: Mapping[str, FileStat]) -> list[str]:
    """Paths under ``dest`` whose kind differs from the version's: a file on disk where the
    version needs a directory (a prefix of one of its paths), or a directory on disk (files under
    it, or empty) where the version has a file. Sorted; nothing is touched."""
    conflicts: set[str] = set()
    on_disk_dirs = {name.rsplit("/", i)[0] for name in have for i in range(1, name.count("/") + 1)}
    for name in entries:
        parts = name.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in have and prefix not in entries:
                conflicts.add(prefix)
                break
        else:
            if name in on_disk_dirs or (name not in have and dest.joinpath(*parts).is_dir()):
                conflicts.add(name)
    return sorted(conflicts)


def kind_on_disk(path: Path) -> str:
    return "directory" if path.is_dir() else "file"


def remove_path(path: Path) -> None:
    """Delete a file, a symlink (not what it points to) or a directory tree."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)
