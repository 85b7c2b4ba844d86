"""Crash safety: SIGKILL a process in the middle of logging; every committed batch survives intact.

The child prints ``committed <i>`` only after ``log_batch`` returned, so every batch it reported
was committed; the one in flight when the signal lands may or may not be there, but never half.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.stores import joined_store

BATCH = 2000
KILL_AFTER = 15

CHILD = textwrap.dedent(
    f"""
    import sys
    from modelyard.core.tracking import Metric
    from modelyard.store import open_stores

    store = open_stores(sys.argv[1]).tracking
    run = store.create_run(store.get_or_create_project("crash").id, run_id="crashrun")
    print("run", run.id, flush=True)
    i = 0
    while True:
        points = [Metric("m" + str(j % 5), float(i * {BATCH} + j), i * {BATCH} + j, 1000 + i) for j in range({BATCH})]
        store.log_batch(run.id, metrics=points, params={{"p" + str(i): str(i)}}, tags={{"last": str(i)}})
        print("committed", i, flush=True)
        i += 1
    """
)


@pytest.fixture(params=["sqlite", "postgres"])
def crash_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crash.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.mark.slow
def test_sigkill_mid_logging_keeps_committed_batches(crash_uri: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, crash_uri],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    committed = -1
    try:
        for line in child.stdout:
            if line.startswith("committed"):
                committed = int(line.split()[1])
                if committed >= KILL_AFTER:
                    break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert committed >= KILL_AFTER

    store = joined_store(crash_uri)
    try:
        assert store.check() == []
        run = store.get_run("crashrun")
        stored_batches = len(run.params)  # batches are atomic: params, tags and points together
        assert stored_batches in (committed + 1, committed + 2)
        assert run.params == {f"p{i}": str(i) for i in range(stored_batches)}
        assert run.tags == {"last": str(stored_batches - 1)}
        assert store.count_metric_points("crashrun") == stored_batches * BATCH
        steps = [p.step for key in ("m0", "m1", "m2", "m3", "m4") for p in store.get_metric_history("crashrun", key)]
        assert sorted(steps) == list(range(stored_batches * BATCH))
    finally:
        store.close()
