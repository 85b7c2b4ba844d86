"""System information recorded with every run started through the SDK.

Cheap facts (Python, platform, host, entry point, git commit and a hash of uncommitted changes)
become ``modelyard.*`` tags; the list of installed packages is stored once per distinct
environment as a content-addressed blob, so a thousand runs in the same environment share it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

TAG_PREFIX = "modelyard."
TAG_PYTHON = "modelyard.python"
TAG_PLATFORM = "modelyard.platform"
TAG_HOST = "modelyard.host"
TAG_USER = "modelyard.user"
TAG_ENTRY_POINT = "modelyard.source.entry_point"
TAG_ARGS = "modelyard.source.args"  # JSON list: sys.argv[1:]
TAG_CWD = "modelyard.source.cwd"  # the working directory, relative to the repository when inside it
TAG_GIT_COMMIT = "modelyard.source.git.commit"
TAG_GIT_DIRTY_HASH = "modelyard.source.git.dirty_hash"
TAG_GIT_REPO = "modelyard.source.git.repo"
TAG_ENVIRONMENT = "modelyard.environment.digest"
TAG_PARENT = "modelyard.parent_run_id"
#: Set on runs started by ``modelyard reproduce``: the id of the run being reproduced.
TAG_REPRODUCTION_OF = "modelyard.reproduction_of"
#: Set on runs that predicted with a registered model version (batch scoring): ``NAME@N``.
#: Lineage draws it as the edge model version -> run (``used_by``).
TAG_MODEL_VERSION_USED = "modelyard.model_version_used"
_MAX_ARGS_LENGTH = 8000


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "replace").strip()


@functools.lru_cache(maxsize=8)
def git_info(cwd: str) -> dict[str, str]:
    """Commit of the working tree and a sha256 of its uncommitted changes (tracked and untracked)."""
    path = Path(cwd)
    commit = _git(["rev-parse", "HEAD"], path)
    if not commit:
        return {}
    info = {TAG_GIT_COMMIT: commit}
    top = _git(["rev-parse", "--show-toplevel"], path)
    if top:
        info[TAG_GIT_REPO] = top
    diff = _git(["diff", "HEAD", "--binary"], path) or ""
    untracked = _git(["ls-files", "--others", "--exclude-standard"], path) or ""
    if diff or untracked:
        digest = hashlib.sha256()
        digest.update(diff.encode())
        for name in sorted(untracked.splitlines()):
            digest.update(name.encode())
            try:
                digest.update((Path(top or cwd) / name).read_bytes())
            except OSError:
                continue
        info[TAG_GIT_DIRTY_HASH] = digest.hexdigest()
    return info


def system_tags(user: str | None = None) -> dict[str, str]:
    tags = {
        TAG_PYTHON: platform.python_version(),
        TAG_PLATFORM: platform.platform(),
        TAG_HOST: socket.gethostname(),
    }
    if user:
        tags[TAG_USER] = user
    entry = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if entry:
        tags[TAG_ENTRY_POINT] = entry
        args = json.dumps(sys.argv[1:])
        if len(args) <= _MAX_ARGS_LENGTH:  # longer command lines are not recorded (a tag's limit)
            tags[TAG_ARGS] = args
    cwd = os.getcwd()
    tags.update(git_info(cwd))
    top = tags.get(TAG_GIT_REPO)
    relative = os.path.relpath(cwd, top) if top else None
    tags[TAG_CWD] = relative if relative is not None and not relative.startswith("..") else cwd
    return tags


@functools.lru_cache(maxsize=1)
def environment_document() -> bytes:
    """The installed distributions as canonical JSON bytes (the same environment, the same bytes)."""
    import json

    packages = sorted(
        {(dist.metadata["Name"] or "?").lower(): dist.version for dist in metadata.distributions()}.items()
    )
    doc = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": dict(packages),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
