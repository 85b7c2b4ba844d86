"""The local executor: tasks run on this machine.

``max_workers=1`` (the default) runs each task inline when it is submitted: no thread, no
pickling, nothing between the caller and the task, which is what keeps a tuning trial's overhead
in microseconds. More workers use a thread pool (tasks that release the GIL: numpy, scikit-learn,
I/O), or with ``processes=True`` a process pool (pure-Python work; tasks must be picklable).
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from modelyard.compute.executor import Executor
from modelyard.core.errors import InvalidArgument

__all__ = ["LocalExecutor"]

R = TypeVar("R")


class LocalExecutor(Executor):
    name = "local"
    in_process = True  # unless processes=True

    def __init__(self, max_workers: int = 1, *, processes: bool = False) -> None:
        if not isinstance(max_workers, int) or max_workers < 1:
            raise InvalidArgument(f"max_workers must be an integer of at least 1, not {max_workers!r}")
        self._max_workers = max_workers
        self.in_process = not processes
        self._pool: cf.Executor | None = None
        if max_workers > 1 or processes:
            pool_type = cf.ProcessPoolExecutor if processes else cf.ThreadPoolExecutor
            self._pool = pool_type(max_workers=max_workers)

    @property
    def capacity(self) -> int:
        return self._max_workers

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        if self._pool is not None:
            return self._pool.submit(fn, *args, **kwargs)
        future: Future[R] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the task's error travels on its future, as in a pool
            future.set_exception(exc)
        return future

    def shutdown(self, *, wait: bool = True, cancel_pending: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_pending)
