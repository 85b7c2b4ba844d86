"""Compute: one ``Executor`` interface for heavy work, with a local backend (this process:
inline, threads or processes) and a Ray backend (DESIGN.md §7). ``open_executor`` is the only
place that knows which backends exist; everything else receives an ``Executor``.

Just above ``core`` in the layers: subsystems (tuning first) import it, it imports no subsystem.
"""

from __future__ import annotations

from modelyard.compute.executor import Executor
from modelyard.core.errors import InvalidArgument

__all__ = ["BACKENDS", "Executor", "executor_class", "open_executor"]

BACKENDS = ("local", "ray")


def open_executor(
    backend: str = "local",
    *,
    max_workers: int | None = None,
    address: str | None = None,
    processes: bool = False,
) -> Executor:
    """An executor by configuration: ``local`` (``max_workers`` threads, or processes with
    ``processes``; 1 runs tasks inline) or ``ray`` (``address``: ``ray://host:port``, ``"auto"``,
    or None for a local Ray instance; ``max_workers`` caps tasks in flight, default the cluster's
    CPUs)."""
    if backend == "local":
        from modelyard.compute.backends.local import LocalExecutor

        if address is not None:
            raise InvalidArgument("the local executor takes no address")
        return LocalExecutor(1 if max_workers is None else max_workers, processes=processes)
    if backend == "ray":
        from modelyard.compute.backends.ray import RayExecutor

        return RayExecutor(address, max_workers=max_workers)
    raise InvalidArgument(f"unknown executor backend {backend!r}: expected one of {', '.join(BACKENDS)}")


def executor_class(backend: str) -> type[Executor]:
    """The class ``open_executor(backend)`` would build, without building it (nothing started):
    what callers may ask of it before opening (``in_process``)."""
    if backend == "local":
        from modelyard.compute.backends.local import LocalExecutor

        return LocalExecutor
    if backend == "ray":
        from modelyard.compute.backends.ray import RayExecutor

        return RayExecutor
    raise InvalidArgument(f"unknown executor backend {backend!r}: expected one of {', '.join(BACKENDS)}")
