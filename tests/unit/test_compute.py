"""modelyard.compute: the Executor interface on the local backend (inline, threads, processes)
and on Ray (a local instance), chosen by configuration."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from modelyard.compute import Executor, executor_class, open_executor
from modelyard.core.errors import InvalidArgument
from tests.conftest import IN_CI


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_inline_executor_runs_each_task_when_submitted() -> None:
    with open_executor("local") as executor:
        assert executor.in_process and executor.capacity == 1
        caller = threading.get_ident()
        future = executor.submit(threading.get_ident)
        assert future.done() and future.result() == caller  # no thread in between
        failed = executor.submit(fail_on_three, 3)
        with pytest.raises(ValueError, match="three"):
            failed.result()


@pytest.mark.parametrize("processes", [False, True])
def test_pools_map_every_item_once_with_its_index(processes: bool) -> None:
    with open_executor("local", max_workers=3, processes=processes) as executor:
        assert executor.capacity == 3 and executor.in_process is not processes
        results = dict(executor.map(square, range(20)))
    assert results == {i: i * i for i in range(20)}


def test_map_raises_a_tasks_error_and_cancels_the_rest() -> None:
    executor = open_executor("local")
    seen: list[int] = []
    with pytest.raises(ValueError, match="three"):
        for _, value in executor.map(fail_on_three, range(10)):
            seen.append(value)
    assert seen == [0, 1, 2]
    executor.shutdown()


def test_cancel_drops_a_queued_task() -> None:
    gate = threading.Event()
    executor = open_executor("local", max_workers=2)
    blockers = [executor.submit(gate.wait, 10) for _ in range(2)]
    queued: Future[int] = executor.submit(square, 4)
    assert executor.cancel(queued) and queued.cancelled()
    gate.set()
    assert all(b.result() for b in blockers)
    executor.shutdown()


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(InvalidArgument, match="unknown executor backend 'spark'"):
        open_executor("spark")
    with pytest.raises(InvalidArgument, match="unknown executor backend"):
        executor_class("spark")
    with pytest.raises(InvalidArgument, match="max_workers"):
        open_executor("local", max_workers=0)
    with pytest.raises(InvalidArgument, match="no address"):
        open_executor("local", address="ray://x:1")
    assert issubclass(executor_class("ray"), Executor) and not executor_class("ray").in_process


@pytest.mark.slow
def test_ray_executor_returns_results_as_futures() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("ray is not installed")
        pytest.skip("ray is not installed")
    with open_executor("ray", max_workers=2) as executor:
        assert not executor.in_process and executor.capacity == 2
        assert dict(executor.map(square, range(6))) == {i: i * i for i in range(6)}
        failed = executor.submit(fail_on_three, 3)
        with pytest.raises(ValueError, match="three"):
            failed.result(timeout=120)
