"""Running the serving app: one process, or several worker processes sharing a port.

``serve(config)`` loads every model before it listens, so a bad reference or an artifact that
fails verification stops the command with one clear error and nothing is served.

With ``workers > 1`` each worker is its own process (spawned, not forked: no half-initialised
threads or locks are inherited). Each loads the models itself, from hash-verified artifacts, and
listens on the same port with ``SO_REUSEPORT``, so the kernel spreads connections across them.
The parent waits until every worker has reported ready (or stops them all at the first error),
then supervises: when one worker dies, the others are stopped and the command fails. Workers
write their Prometheus metrics to a shared directory so ``/metrics`` reports the whole server.

Accepting connections. libuv (under uvloop) accepts one pending connection per turn of the event
loop; a worker whose turns are long — a model runs inline in the loop, and under load one turn
answers every request that was ready — then takes seconds to accept a burst of new connections,
and those requests wait in the kernel's accept queue, unseen (at 256 connections this was ~100
client timeouts per 10 s and a p99 near a second). Workers therefore run on ``_AcceptAllLoop``:
uvloop with a listening socket of its own that accepts every pending connection each time it
becomes readable, so a request waits for at most the turn in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from modelyard.core import errors as core_errors
from modelyard.core.errors import InvalidArgument, ModelyardError
from modelyard.serving.batching import BatchConfig

if TYPE_CHECKING:
    from modelyard.serving.app import ServingApp
    from modelyard.serving.hosting import DeploymentServer
    from modelyard.settings import Settings

__all__ = ["ServeConfig", "bind_socket", "build_app", "serve"]

_READY_SECONDS = 600.0


@dataclass(frozen=True)
class ServeConfig:
    """Everything a worker needs to build the same app (picklable: it crosses a process spawn).
    ``sink`` is ``"module:callable"``: called with the worker's stores, it returns the
    PredictionSink of that worker (None: no prediction logging)."""

    refs: tuple[str, ...]
    settings: Settings
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    batching: BatchConfig | None = None
    max_body_bytes: int = 32 * 1024**2
    onnx: bool = False
    log_level: str = "warning"
    sink: str | None = None
    #: Where the workers' Prometheus metrics are gathered (set by ``serve`` for several workers).
    metrics_dir: str | None = None
    #: Deployments to serve from the store (``--deployment``), kept current and rolled back by
    #: ``serving/hosting.py``; their predictions are logged unless ``log_predictions`` is off.
    deployments: tuple[str, ...] = ()
    log_predictions: bool = True

    @property
    def served(self) -> str:
        """What is served, for banners: ``churn@prod, deployment churn-api``."""
        return ", ".join([*self.refs, *(f"deployment {d}" for d in self.deployments)])


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _load_sink(spec: str | None, stores: Any) -> Any:
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    import importlib

    try:
        factory: Callable[[Any], Any] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgument(f"cannot load the prediction sink {spec!r}: {exc}") from None
    return factory(stores)


def build_app(config: ServeConfig) -> ServingApp | DeploymentServer:
    """Open the stores, load the models (hash-verified) and build the app, as every worker does."""
    from modelyard.serving.app import create_serving_app, load_endpoints
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.store.bundle import open_stores

    stores = open_stores(config.settings)
    if config.deployments:
        from modelyard.serving.hosting import build_deployment_app

        try:
            return build_deployment_app(
                stores,
                config.deployments,
                batching=config.batching,
                max_body_bytes=config.max_body_bytes,
                onnx=config.onnx,
                metrics=ServingMetrics(multiprocess_dir=config.metrics_dir if config.workers > 1 else None),
                log_predictions=config.log_predictions,
            )
        except BaseException:
            stores.close()
            raise
    try:
        endpoints = load_endpoints(config.refs, stores, onnx=config.onnx)
        sink = _load_sink(config.sink, stores)
    except BaseException:
        stores.close()
        raise
    metrics_dir = config.metrics_dir if config.workers > 1 else None
    return create_serving_app(
        endpoints,
        sink=sink,
        batching=config.batching,
        max_body_bytes=config.max_body_bytes,
        metrics=ServingMetrics(multiprocess_dir=metrics_dir),
    )


class _Listener:
    """What ``create_server`` returns for a socket the loop accepts on itself (``_AcceptAllLoop``):
    the part of ``asyncio.Server`` uvicorn uses (``close``, ``wait_closed``, ``sockets``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], Any], sock: socket.socket) -> None:
        self.loop = loop
        self.factory = factory
        self.sock = sock
        self.sockets = [sock]
        self._tasks: set[asyncio.Task[Any]] = set()
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(4096):  # every pending connection, bounded so one burst cannot hold the loop
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of file descriptors: try again on the next readiness
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self.loop.create_task(self.loop.connect_accepted_socket(self.factory, conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self.loop.remove_reader(self.sock.fileno())

    async def wait_closed(self) -> None:
        return None


def _accept_all_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's ``loop=`` hook (a custom one is the loop factory itself): a uvloop loop that accepts
    every pending connection per readiness (module docstring); uvloop's own servers otherwise."""
    import uvloop

    class _AcceptAllLoop(uvloop.Loop):  # type: ignore[misc,name-defined]
        async def create_server(self, protocol_factory: Any, *args: Any, sock: Any = None, **kwargs: Any) -> Any:
            if sock is None or args or kwargs.get("ssl") is not None:
                return await super().create_server(protocol_factory, *args, sock=sock, **kwargs)
            return _Listener(self, protocol_factory, sock)

    return _AcceptAllLoop()  # type: ignore[no-any-return]


def _uvicorn_config(app: Any, config: ServeConfig) -> Any:
    import importlib.util

    import uvicorn

    return uvicorn.Config(
        app,
        loop="modelyard.serving.workers:_accept_all_loop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="on",
        log_level=config.log_level,
        access_log=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=30,
    )


def _run(app: Any, config: ServeConfig, sock: socket.socket) -> None:
    import uvicorn

    sock.listen(2048)
    server = uvicorn.Server(_uvicorn_config(app, config))
    # What is loaded by now (modules, the models, the app) lives as long as the worker: moved out of
    # the collector's generations, a full collection (which the garbage of logged requests triggers
    # every few seconds) no longer walks it; it stalled every request in flight for tens of ms.
    gc.collect()
    gc.freeze()
    server.run(sockets=[sock])


def _worker(config: ServeConfig, port: int, ready: Any) -> None:
    """A worker process: build the app, report, serve until told to stop."""
    try:
        app = build_app(config)
        sock = bind_socket(config.host, port, reuse_port=True)
    except BaseException as exc:
        ready.put(("error", type(exc).__name__, str(exc)))
        return
    ready.put(("ready", "", str(os.getpid())))
    _run(app, config, sock)


_ERRORS: dict[str, type[ModelyardError]] = {
    cls.__name__: cls
    for cls in (
        core_errors.NotFound,
        core_errors.InvalidArgument,
        core_errors.IntegrityError,
        core_errors.PermissionDenied,
        core_errors.StoreUnavailable,
        core_errors.MissingExtra,
    )
}


def _error(kind: str, message: str) -> ModelyardError:
    """The worker's typed error again, in the parent (by name: exceptions cross the spawn as text)."""
    found = _ERRORS.get(kind)
    if found is not None and found is not core_errors.MissingExtra:
        return found(message)
    if kind in ("SignatureError", "IllegalTransition"):
        return core_errors.InvalidArgument(message)
    return core_errors.StoreUnavailable(f"a worker failed to start: {kind}: {message}")


def serve(config: ServeConfig, *, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted (see the module docstring). Load errors raise before listening."""
    if config.workers <= 1:
        app = build_app(config)
        sock = bind_socket(config.host, config.port, reuse_port=False)
        port = sock.getsockname()[1]
        announce(_banner(config, port))
        _run(app, config, sock)
        return
    _serve_many(config, announce)


def _banner(config: ServeConfig, port: int) -> str:
    shown = f"[{config.host}]" if ":" in config.host else config.host
    batching = (
        f"batching up to {config.batching.max_batch_rows} rows within {config.batching.max_latency_ms:g} ms"
        if config.batching
        else "no batching"
    )
    return (
        f"serving {config.served} on http://{shown}:{port} ({config.workers} worker"
        f"{'s' if config.workers > 1 else ''}, {batching}; /v1, /invocations, /v2, /metrics)"
    )


def _serve_many(config: ServeConfig, announce: Callable[[str], None]) -> None:
    placeholder = bind_socket(config.host, config.port, reuse_port=True)  # holds the port while workers start
    port = placeholder.getsockname()[1]
    from modelyard.settings import export_environment

    metrics_dir = tempfile.mkdtemp(prefix="modelyard-serve-metrics-")
    # prometheus-client reads this variable when a worker imports it: every worker's metrics go there
    export_environment({"PROMETHEUS_MULTIPROC_DIR": metrics_dir})
    config = replace(config, metrics_dir=metrics_dir)
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    processes = [
        context.Process(target=_worker, args=(config, port, ready), daemon=False) for _ in range(config.workers)
    ]
    try:
        for process in processes:
            process.start()
        for _ in processes:
            status, kind, message = ready.get(timeout=_READY_SECONDS)
            if status != "ready":
                raise _error(kind, message)
        placeholder.close()
        announce(_banner(config, port))
        _supervise(processes)
    finally:
        placeholder.close()
        _stop(processes)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise(processes: list[Any]) -> None:
    stop = {"asked": False}

    def _ask(signum: int, frame: Any) -> None:
        stop["asked"] = True

    old = {sig: signal.signal(sig, _ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop["asked"]:
            for process in processes:
                process.join(timeout=0.2)
                if process.exitcode is not None:
                    raise core_errors.StoreUnavailable(f"worker {process.pid} exited with code {process.exitcode}")
                if stop["asked"]:
                    break
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(timeout=15)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
