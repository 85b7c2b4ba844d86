"""The SDK under stress: many processes x threads through the buffered flusher, and SIGKILL mid-logging."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import modelyard

PROCESSES = 8
THREADS = 4
POINTS_PER_THREAD = 500


def _worker(store_uri: str, artifact_uri: str, worker: int, queue: mp.Queue) -> None:
    import threading

    import modelyard as my

    my.set_store_uri(store_uri)
    my.set_artifact_uri(artifact_uri)
    my.set_project("stress")
    with my.start_run(name=f"worker-{worker}") as run:

        def log(tid: int) -> None:
            for step in range(POINTS_PER_THREAD):
                my.log_metric(f"thread_{tid}", float(step), step=step)

        threads = [threading.Thread(target=log, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        my.log_params({"worker": worker})
    queue.put(run.id)


@pytest.fixture(params=["sqlite", "postgres"])
def store_uri(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stress.db'}"
    return str(request.getfixturevalue("postgres_uri"))


def test_processes_times_threads_lose_nothing(store_uri: str, tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    artifact_uri = str(tmp_path / "artifacts")
    procs = [ctx.Process(target=_worker, args=(store_uri, artifact_uri, w, queue)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    run_ids = [queue.get(timeout=10) for _ in range(PROCESSES)]
    client = modelyard.TrackingClient(store_uri, artifact_uri)
    assert client.store.count_metric_points() == PROCESSES * THREADS * POINTS_PER_THREAD
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert run.status == modelyard.RunStatus.FINISHED
        for tid in range(THREADS):
            history = client.get_metric_history(run_id, f"thread_{tid}")
            assert [p.step for p in history] == list(range(POINTS_PER_THREAD))
    assert client.store.check() == []
    client.store.close()


CHILD = textwrap.dedent(
    """
    import sys, modelyard
    modelyard.set_store_uri(sys.argv[1]); modelyard.set_artifact_uri(sys.argv[2])
    with modelyard.start_run(name="victim") as run:
        print("RUN", run.id, flush=True)
        step = 0
        while True:
            for _ in range(200):
                modelyard.log_metric("loss", 1.0 / (step + 1), step=step)
                step += 1
            modelyard.flush()
            print("FLUSHED", step, flush=True)
    """
)


def test_sigkill_while_logging_leaves_a_consistent_store(store_uri: str, tmp_path: Path) -> None:
    artifact_uri = str(tmp_path / "artifacts")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_uri, artifact_uri], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert proc.stdout is not None
    run_id = None
    flushed = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("RUN"):
            run_id = line.split()[1]
        elif line.startswith("FLUSHED"):
            flushed = int(line.split()[1])
            if flushed >= 4000:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert run_id is not None and flushed >= 4000
    client = modelyard.TrackingClient(store_uri, artifact_uri)
    assert client.store.check() == []
    history = client.get_metric_history(run_id, "loss")
    steps = [p.step for p in history]
    assert steps[:flushed] == list(range(flushed))  # everything flushed before the kill is intact
    assert steps == sorted(set(steps))  # and nothing is duplicated
    assert client.get_run(run_id).status == modelyard.RunStatus.RUNNING
    client.store.close()
