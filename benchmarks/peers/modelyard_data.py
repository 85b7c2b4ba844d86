"""The modelyard side of the data benchmark (the project's python). See ``_data_common.py``.

Timed in-process, after ``import modelyard`` and after the stores are opened (as DVC's side is
timed after ``import dvc`` and opening its repo): ``datasets.add`` of the file or directory, then,
for the directory, ``datasets.status`` several times with nothing changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import _data_common as c


def main() -> None:
    spec, tmp = c.parse_args()
    os.environ["MODELYARD_HOME"] = str(Path(tmp) / "home")  # fresh store, artifacts and stat cache
    import modelyard
    from modelyard.sdk import datasets

    datasets.service()  # open the stores (and create the schema) outside the timing
    target = spec["path"]
    add_s, version = c.timed(lambda: datasets.add(target, name="bench"))
    result: dict[str, Any] = {"add_s": add_s, "files": version.file_count, "bytes": version.total_size}
    ok = version.file_count == spec["files"]
    if spec.get("status_reps"):
        times = []
        for _ in range(spec["status_reps"]):
            took, diff = c.timed(lambda: datasets.status("bench"))
            ok = ok and diff.is_clean
            times.append(took)
        result["status_s"] = times
    result["ok"] = ok
    result["version"] = modelyard.__version__
    c.emit(result)


if __name__ == "__main__":
    main()
