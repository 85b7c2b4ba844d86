"""The DVC side of the data benchmark (runs in DVC's own virtual environment). See ``_data_common.py``.

DVC versions files inside its repository, so the repository is made (``dvc init --no-scm``) in
the directory that holds the benchmark's files, and removed again afterwards; its cache, state
and site cache are fresh for every repetition. Timed in-process after ``import dvc`` and opening
the repo: ``Repo.add`` of the file or directory, then ``Repo.status()`` with nothing changed.
DVC's defaults are kept (cache type reflink,copy: a copy on ext4), as a user gets them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import _data_common as c


def _clean(root: Path, target: Path) -> None:
    shutil.rmtree(root / ".dvc", ignore_errors=True)
    for leftover in (root / ".dvcignore", target.with_name(target.name + ".dvc")):
        if leftover.exists():
            leftover.unlink()


def main() -> None:
    spec, tmp = c.parse_args()
    os.environ["DVC_NO_ANALYTICS"] = "1"
    os.environ["DVC_SITE_CACHE_DIR"] = str(Path(tmp) / "site-cache")
    target = Path(spec["path"])
    root = target.parent
    _clean(root, target)
    import dvc
    from dvc.repo import Repo

    os.chdir(root)  # DVC resolves stage paths against the working directory
    Repo.init(str(root), no_scm=True)
    try:
        repo = Repo(str(root))
        add_s, _ = c.timed(lambda: repo.add(target.name))
        result: dict[str, Any] = {"add_s": add_s}
        ok = True
        if spec.get("status_reps"):
            times = []
            for _ in range(spec["status_reps"]):
                repo = Repo(str(root))  # a fresh repo object each time, as a new `dvc status` would have
                took, status = c.timed(repo.status)
                ok = ok and not status
                times.append(took)
            result["status_s"] = times
        result["ok"] = ok
        result["version"] = dvc.__version__
    finally:
        _clean(root, target)
    c.emit(result)


if __name__ == "__main__":
    main()
