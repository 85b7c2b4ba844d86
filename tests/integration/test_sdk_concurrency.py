"""The fluent SDK from many threads and asyncio tasks at once (modelyard.sdk.session keeps the
active runs in a ContextVar), and across fork, on SQLite, PostgreSQL and a modelyard server."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard
from modelyard.core.errors import InvalidArgument
from modelyard.sdk.session import _session
from tests.fixtures.live_server import sqlite_server

WORKERS = 8
POINTS = 200


@pytest.fixture(params=["sqlite", "postgres", "http"])
def sdk(request: pytest.FixtureRequest, modelyard_home: Path, tmp_path: Path) -> Iterator[str]:
    """The SDK pointed at a fresh store of each kind; yields the backend's name."""
    if request.param == "http":
        with sqlite_server(tmp_path / "server") as (url, _app):
            modelyard.set_store_uri(url)
            yield from _configured(request.param)
        return
    if request.param == "sqlite":
        modelyard.set_store_uri(f"sqlite:///{tmp_path / 'sdk.db'}")
    else:
        modelyard.set_store_uri(str(request.getfixturevalue("postgres_uri")))
    modelyard.set_artifact_uri(str(tmp_path / "artifacts"))
    yield from _configured(request.param)


def _configured(backend: str) -> Iterator[str]:
    modelyard.set_project("concurrency")
    try:
        yield backend
    finally:
        modelyard.flush()
        modelyard.set_store_uri(None)
        modelyard.set_artifact_uri(None)
        _session.project = None


def _log_points(worker: int) -> None:
    """Params, a tag, auto-numbered and explicit-step metrics, to the caller's active run."""
    modelyard.log_params({"worker": worker})
    modelyard.set_tag("kind", "worker")
    for step in range(POINTS):
        modelyard.log_metric("auto", float(worker * POINTS + step))  # step numbered by the SDK
        modelyard.log_metrics({"explicit": float(step), "worker_id": float(worker)}, step=step)


def _assert_worker_run(run_id: str, worker: int, parent: str | None = None) -> None:
    run = modelyard.get_run(run_id)
    assert run.status == modelyard.RunStatus.FINISHED
    assert run.params == {"worker": str(worker)}
    assert run.tags["kind"] == "worker"
    assert run.parent_run_id == parent
    auto = modelyard.get_metric_history(run_id, "auto")
    assert [(p.step, p.value) for p in auto] == [(s, float(worker * POINTS + s)) for s in range(POINTS)]
    explicit = modelyard.get_metric_history(run_id, "explicit")
    assert [(p.step, p.value) for p in explicit] == [(s, float(s)) for s in range(POINTS)]
    assert {p.value for p in modelyard.get_metric_history(run_id, "worker_id")} == {float(worker)}


def _run_threads(target: object, n: int = WORKERS) -> None:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_threads_each_start_and_log_their_own_run(sdk: str) -> None:
    ids: dict[int, str] = {}
    inside = threading.Barrier(WORKERS)  # every thread holds its run open at the same time

    def work(i: int) -> None:
        with modelyard.start_run(name=f"thread-{i}") as run:
            inside.wait()
            assert modelyard.active_run() is run
            _log_points(i)
            ids[i] = run.id

    _run_threads(work)
    assert len(set(ids.values())) == WORKERS
    for i, run_id in ids.items():
        _assert_worker_run(run_id, i)
    assert modelyard.active_run() is None  # the main thread started nothing


def test_asyncio_tasks_each_start_and_log_their_own_run(sdk: str) -> None:
    async def work(i: int, inside: asyncio.Barrier) -> str:
        with modelyard.start_run(name=f"task-{i}") as run:
            await inside.wait()
            for step in range(POINTS):
                modelyard.log_metric("auto", float(i * POINTS + step))
                modelyard.log_metrics({"explicit": float(step), "worker_id": float(i)}, step=step)
                if step % 20 == 0:
                    await asyncio.sleep(0)  # let the other tasks log in between
            modelyard.log_params({"worker": i})
            modelyard.set_tag("kind", "worker")
            assert modelyard.active_run() is run
            return run.id

    async def main() -> list[str]:
        inside = asyncio.Barrier(WORKERS)
        return await asyncio.gather(*(work(i, inside) for i in range(WORKERS)))

    ids = asyncio.run(main())
    assert len(set(ids)) == WORKERS
    for i, run_id in enumerate(ids):
        _assert_worker_run(run_id, i)


def test_nested_runs_inside_threads(sdk: str) -> None:
    ids: dict[int, tuple[str, str]] = {}
    inside = threading.Barrier(WORKERS)

    def work(i: int) -> None:
        with modelyard.start_run(name=f"parent-{i}") as parent:
            with pytest.raises(InvalidArgument, match="already active"):
                modelyard.start_run(name="clash")
            with modelyard.start_run(name=f"child-{i}", nested=True) as child:
                inside.wait()
                _log_points(i)
            assert modelyard.active_run() is parent
            modelyard.log_metric("parent_only", float(i), step=0)
            ids[i] = (parent.id, child.id)

    _run_threads(work)
    for i, (parent_id, child_id) in ids.items():
        _assert_worker_run(child_id, i, parent=parent_id)
        parent = modelyard.get_run(parent_id)
        assert parent.status == modelyard.RunStatus.FINISHED and parent.parent_run_id is None
        assert [p.value for p in modelyard.get_metric_history(parent_id, "parent_only")] == [float(i)]


def test_threads_without_a_run_use_the_main_threads_run(sdk: str) -> None:
    with modelyard.start_run(name="main") as main:

        def work(i: int) -> None:
            assert modelyard.active_run() is main
            for step in range(POINTS):
                modelyard.log_metric(f"thread_{i}", float(step), step=step)
            modelyard.end_run()  # not its run: ends nothing
            with modelyard.start_run(name=f"fold-{i}") as fold:  # a child of the inherited run
                assert fold.parent_run_id == main.id
                modelyard.log_metric("fold", float(i), step=0)
            assert modelyard.active_run() is main

        _run_threads(work)
        assert modelyard.active_run() is main
    assert modelyard.get_run(main.id).status == modelyard.RunStatus.FINISHED
    for i in range(WORKERS):
        assert [p.step for p in modelyard.get_metric_history(main.id, f"thread_{i}")] == list(range(POINTS))
    folds = modelyard.search_runs(filter=f"attributes.parent_run_id = '{main.id}'")
    assert len(folds) == WORKERS


def test_tasks_inherit_their_creators_run_and_nest_under_it(sdk: str) -> None:
    async def child(i: int, parent_id: str) -> str:
        modelyard.log_metric("from_tasks", float(i), step=i)  # to the inherited run
        with modelyard.start_run(name=f"child-{i}") as run:  # no clash: a child of the inherited run
            assert run.parent_run_id == parent_id
            modelyard.log_metric("own", float(i), step=0)
            await asyncio.sleep(0)
            assert modelyard.active_run() is run
        run_id = run.id
        assert modelyard.active_run().id == parent_id  # type: ignore[union-attr]
        return run_id

    async def main() -> tuple[str, list[str]]:
        with modelyard.start_run(name="parent") as parent:
            children = await asyncio.gather(*(child(i, parent.id) for i in range(WORKERS)))
            assert modelyard.active_run() is parent
        return parent.id, children

    parent_id, children = asyncio.run(main())
    assert modelyard.get_run(parent_id).status == modelyard.RunStatus.FINISHED
    history = modelyard.get_metric_history(parent_id, "from_tasks")
    assert sorted((p.step, p.value) for p in history) == [(i, float(i)) for i in range(WORKERS)]
    for i, run_id in enumerate(children):
        run = modelyard.get_run(run_id)
        assert run.parent_run_id == parent_id and run.status == modelyard.RunStatus.FINISHED
        assert [p.value for p in modelyard.get_metric_history(run_id, "own")] == [float(i)]


def test_logging_to_a_run_by_id_works_from_any_thread(sdk: str) -> None:
    target = modelyard.start_run(name="target")
    modelyard.end_run()  # the id stays usable after the run left the stack

    def work(i: int) -> None:
        assert modelyard.active_run() is None
        for step in range(POINTS):
            modelyard.log_metric(f"k{i}", float(step), step=step, run_id=target.id)

    _run_threads(work)
    for i in range(WORKERS):
        assert [p.step for p in modelyard.get_metric_history(target.id, f"k{i}")] == list(range(POINTS))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_run_and_its_points_land(sdk: str) -> None:
    with modelyard.start_run(name="parent") as parent:
        modelyard.log_metric("before_fork", 1.0, step=0)  # maybe still buffered at fork time
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: exits with os._exit, never returns into pytest
            code = 1
            try:
                os.close(read_end)
                assert modelyard.active_run() is None  # the parent's runs are not the child's
                with modelyard.start_run(name="child") as child:
                    for step in range(POINTS):
                        modelyard.log_metric("child_loss", float(step), step=step)
                os.write(write_end, child.id.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            child_id = pipe.read().decode()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0 and child_id
        for step in range(1, POINTS):  # the parent's run and buffer carry on after the fork
            modelyard.log_metric("after_fork", float(step), step=step)
    assert [p.step for p in modelyard.get_metric_history(child_id, "child_loss")] == list(range(POINTS))
    assert modelyard.get_run(child_id).status == modelyard.RunStatus.FINISHED
    assert [p.step for p in modelyard.get_metric_history(parent.id, "after_fork")] == list(range(1, POINTS))
    assert [p.value for p in modelyard.get_metric_history(parent.id, "before_fork")] == [1.0]
    assert modelyard.get_run(parent.id).status == modelyard.RunStatus.FINISHED
