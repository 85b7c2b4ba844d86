"""The Ray executor: tasks run on a Ray cluster (or a local Ray instance).

``address`` is a ``ray://`` address or ``"auto"``; without one a local Ray instance is started,
and shut down again by ``shutdown`` when this executor started it. Tasks and their arguments are
pickled to the workers; a function submitted many times (a tuning objective) is put in Ray's
object store once. Each task's result arrives on a ``concurrent.futures.Future``
(``ObjectRef.future()``), so callers wait on it as on a local one.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from modelyard.compute.executor import Executor
from modelyard.core.errors import InvalidArgument
from modelyard.core.extras import require_extra

__all__ = ["RayExecutor"]

R = TypeVar("R")


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Runs on a Ray worker (``fn`` arrives resolved from its object reference)."""
    return fn(*args, **kwargs)


class RayExecutor(Executor):
    name = "ray"
    in_process = False

    def __init__(self, address: str | None = None, *, max_workers: int | None = None) -> None:
        ray = require_extra("ray", purpose="the ray executor needs Ray")
        if max_workers is not None and max_workers < 1:
            raise InvalidArgument(f"max_workers must be at least 1, not {max_workers}")
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                ignore_reinit_error=True,
                configure_logging=False,
            )
        self._capacity = max_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(_call)
        self._functions: dict[int, tuple[Callable[..., Any], Any]] = {}  # id -> (fn kept alive, its ref)
        self._refs: dict[Future[Any], Any] = {}

    @property
    def capacity(self) -> int:
        return self._capacity

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        entry = self._functions.get(id(fn))
        if entry is None:
            entry = self._functions[id(fn)] = (fn, self._ray.put(fn))
        ref = self._remote.remote(entry[1], args, kwargs)
        future: Future[R] = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda done: self._refs.pop(done, None))
        return future

    def cancel(self, future: Future[Any]) -> bool:
        ref = self._refs.pop(future, None)
        if ref is None:
            return future.cancel()
        self._ray.cancel(ref)
        return True

    def shutdown(self, *, wait: bool = True, cancel_pending: bool = False) -> None:
        if cancel_pending:
            for ref in list(self._refs.values()):
                self._ray.cancel(ref)
        self._refs.clear()
        self._functions.clear()
        if self._started_here:
            self._ray.shutdown()
            self._started_here = False
