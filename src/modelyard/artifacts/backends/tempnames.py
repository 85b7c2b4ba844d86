"""Names of a local store's temporary files, and the rule that removes those a dead writer left.

Every temporary file a local store writes (``tmp/put-*`` for loose blobs, ``tmp/pack-*.tmp`` and
``tmp/idx-*.tmp`` for packs) is named ``<kind>-<host>-<pid>-<unique>``: ``host`` is a short hash
of the machine's host name and ``pid`` the writing process. A process killed mid-write (``data add``
under ``kill -9``) leaves its temp files behind; they are never visible as blobs, only wasted space.
``remove_stale`` runs when a local store is opened and deletes a leftover only when no live writer
can still be using it:

* its name says it was written on **this** host by a process that no longer exists (a pid that is
  running, even if reused by another program, keeps the file for now), or
* it has not been modified for ``STALE_AFTER`` seconds (an hour). A live writer modifies its temp
  file continuously until it renames it, so this only catches leftovers from another machine or
  container sharing the directory, from a reused pid, or with names from older versions.

An unindexed pack (``packs/<id>.pack`` without its ``.idx``: a writer killed between the two
renames) follows the age rule only. A writer that is stopped (SIGSTOP) for over an hour may find
its temp file gone: its rename then fails with an error and nothing is stored, never a bad blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from pathlib import Path

__all__ = ["STALE_AFTER", "remove_stale", "temp_prefix"]

#: Seconds without modification after which any temp file counts as abandoned.
STALE_AFTER = 3600
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_KINDS = ("put-", "pack-", "idx-")


def temp_prefix(kind: str, pid: int | None = None) -> str:
    """``<kind>-<host>-<pid>-``: the start of a temp file's name (the caller adds a unique part);
    ``pid`` defaults to this process."""
    return f"{kind}-{_HOST}-{os.getpid() if pid is None else pid}-"


def _writer_gone(name: str) -> bool:
    """True only when ``name`` was written on this host by a process that has exited."""
    parts = name.split("-", 3)
    if len(parts) < 4 or parts[1] != _HOST or not parts[2].isdigit():
        return False
    pid = int(parts[2])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def remove_stale(tmp_dir: Path, packs_dir: Path, *, now: float | None = None) -> list[str]:
    """Delete abandoned temp files and unindexed packs (the rule is in the module docstring);
    returns the names removed. Errors are ignored: cleaning up must never stop a store opening."""
    now = time.time() if now is None else now
    removed: list[str] = []

    def age(entry: os.DirEntry[str]) -> float | None:
        try:
            return now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            return None

    with contextlib.suppress(OSError), os.scandir(tmp_dir) as entries:
        for entry in entries:
            if not entry.name.startswith(_KINDS):
                continue
            seconds = age(entry)
            if seconds is None or not (_writer_gone(entry.name) or seconds > STALE_AFTER):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    packs: dict[str, os.DirEntry[str]] = {}
    with contextlib.suppress(OSError), os.scandir(packs_dir) as entries:
        packs = {entry.name: entry for entry in entries}
    for name, entry in packs.items():
        if not name.endswith(".pack") or f"{name[:-5]}.idx" in packs:
            continue
        seconds = age(entry)
        if seconds is not None and seconds > STALE_AFTER:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(name)
    return removed
