"""The one interface for heavy work: submit picklable tasks, get their results as they complete.

Tuning trials today; batch scoring, pipeline steps and drift over big windows as they arrive.
Whatever runs the tasks (threads or processes on this machine, a Ray cluster) is chosen by
configuration (``open_executor``); the code that submits work never knows which one runs.

Results are ``concurrent.futures.Future`` objects whichever backend runs the task, so callers use
the standard library's ``wait``/``as_completed`` (or ``Executor.as_completed``) on them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import as_completed as _as_completed
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["Executor"]

T = TypeVar("T")
R = TypeVar("R")


class Executor(ABC):
    """Runs tasks somewhere. ``in_process`` says whether tasks run in this process (then a task
    may close over objects that cannot be pickled: locks, open stores, an Optuna trial)."""

    #: The short name configuration uses for this backend ("local", "ray").
    name: str = ""
    in_process: bool = False

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many tasks run at once; submitting more queues them."""

    @abstractmethod
    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        """Start ``fn(*args, **kwargs)``; its result (or exception) arrives on the future."""

    def cancel(self, future: Future[Any]) -> bool:
        """Cancel a task not started yet (a backend that can may also stop a running one)."""
        return future.cancel()

    @abstractmethod
    def shutdown(self, *, wait: bool = True, cancel_pending: bool = False) -> None:
        """Release the workers; ``cancel_pending`` drops tasks that have not started."""

    def as_completed(self, futures: Iterable[Future[R]]) -> Iterator[Future[R]]:
        """The futures in the order they finish."""
        return _as_completed(futures)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        """``(index, fn(item))`` for every item, as they complete, with at most ``capacity``
        tasks submitted at a time (items are drawn from the iterable lazily). A task's exception
        is raised here; the tasks still queued are cancelled."""
        source = enumerate(items)
        pending: dict[Future[R], int] = {}
        try:
            for index, item in source:
                pending[self.submit(fn, item)] = index
                if len(pending) >= self.capacity:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    yield index, future.result()
                    refill = next(source, None)
                    if refill is not None:
                        pending[self.submit(fn, refill[1])] = refill[0]
        finally:
            for future in pending:
                self.cancel(future)

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown(wait=exc_type is None, cancel_pending=exc_type is not None)
