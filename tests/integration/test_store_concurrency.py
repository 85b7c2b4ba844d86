"""Many writers at once: 8 processes x 4 threads log into one store; nothing is lost or duplicated.

Each thread logs batches to its own run and to one run shared by everybody (contention on the
same latest_metrics row and the same tags), re-sends one batch as a client retry would, and logs
params and tags along the way. Afterwards every point is counted.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import traceback
from pathlib import Path

import pytest

from modelyard.core.tracking import Metric, RunQuery
from modelyard.store import TrackingStore
from tests.fixtures.stores import joined_store

PROCESSES = 8
THREADS = 4
BATCHES = 15
POINTS_PER_BATCH = 200  # spread over KEYS keys
KEYS = 4
SHARED_POINTS_PER_BATCH = 20


def _thread_work(
    uri: str, process_store: TrackingStore, shared_run_id: str, worker: int, thread: int, errors: list[str]
) -> None:
    store = joined_store(uri) if thread % 2 else None  # half the threads share the process's store
    try:
        own_store = store or process_store
        project = own_store.get_or_create_project("stress")
        run = own_store.create_run(project.id, name=f"w{worker}-t{thread}")
        base = (worker * THREADS + thread) * BATCHES * SHARED_POINTS_PER_BATCH
        for batch in range(BATCHES):
            points = [
                Metric(f"k{i % KEYS}", float(batch * POINTS_PER_BATCH + i), batch * POINTS_PER_BATCH + i, 1000 + batch)
                for i in range(POINTS_PER_BATCH)
            ]
            own_store.log_metrics(run.id, points)
            if batch == BATCHES // 2:
                own_store.log_metrics(run.id, points)  # a client retry: must add nothing
            own_store.log_params(run.id, {f"p{batch}": str(batch)})
            shared = [
                Metric(
                    "shared",
                    float(base + batch * SHARED_POINTS_PER_BATCH + i),
                    base + batch * SHARED_POINTS_PER_BATCH + i,
                    1,
                )
                for i in range(SHARED_POINTS_PER_BATCH)
            ]
            own_store.log_batch(shared_run_id, metrics=shared, tags={f"w{worker}t{thread}": str(batch)})
    except BaseException:
        errors.append(traceback.format_exc())
    finally:
        if store is not None:
            store.close()


def _process(uri: str, shared_run_id: str, worker: int, results: mp.Queue) -> None:
    errors: list[str] = []
    process_store = joined_store(uri)
    threads = [
        threading.Thread(target=_thread_work, args=(uri, process_store, shared_run_id, worker, t, errors))
        for t in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    process_store.close()
    results.put((worker, errors))


@pytest.fixture(params=["sqlite", "postgres"])
def concurrent_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'concurrent.db'}"
    return str(request.getfixturevalue("postgres_uri"))


@pytest.mark.slow
def test_many_processes_and_threads_lose_nothing(concurrent_uri: str) -> None:
    store = joined_store(concurrent_uri)
    project = store.get_or_create_project("stress")
    shared_run = store.create_run(project.id, name="shared")
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_process, args=(concurrent_uri, shared_run.id, w, results)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [e for _, errs in reports for e in errs]
    assert not errors, errors[0]

    writers = PROCESSES * THREADS
    own_runs = store.search_runs(RunQuery(project_ids=[project.id], filter="name != 'shared'", max_results=1000)).runs
    assert len(own_runs) == writers
    for run in own_runs:
        assert store.count_metric_points(run.id) == BATCHES * POINTS_PER_BATCH
        assert run.params == {f"p{b}": str(b) for b in range(BATCHES)}
        last = BATCHES * POINTS_PER_BATCH
        assert {k: m.step for k, m in run.metrics.items()} == {f"k{i}": last - KEYS + i for i in range(KEYS)}
        history = store.get_metric_history(run.id, "k0")
        assert [p.step for p in history] == list(range(0, last, KEYS))

    shared_total = writers * BATCHES * SHARED_POINTS_PER_BATCH
    assert store.count_metric_points(shared_run.id) == shared_total
    assert store.count_metric_points() == writers * BATCHES * POINTS_PER_BATCH + shared_total
    history = store.get_metric_history(shared_run.id, "shared")
    assert [p.step for p in history] == list(range(shared_total))  # every point once, none missing
    final = store.get_run(shared_run.id)
    assert final.metrics["shared"].step == shared_total - 1
    assert final.tags == {f"w{w}t{t}": str(BATCHES - 1) for w in range(PROCESSES) for t in range(THREADS)}
    assert store.check() == []
    store.close()
