"""The model server: one ASGI app, three protocols over the same endpoints.

``create_serving_app(endpoints or refs, ...)`` returns a :class:`ServingApp`, a plain ASGI
callable (no framework: a request costs a path split and a dict lookup before the model runs):

- native: ``POST /v1/models/{name}/predict`` (JSON records, columns or rows; CSV; Parquet;
  ``?output=proba``), ``GET /v1/models``, ``GET /v1/models/{name}``, ``GET /v1/models/{name}/openapi.json``;
- MLflow's scoring protocol: ``POST /invocations``, ``GET /ping``, ``GET /health``, ``GET /version``;
- the Open Inference Protocol (KServe V2): ``/v2``, ``/v2/health/live``, ``/v2/health/ready``,
  ``/v2/models/{name}[/versions/{v}]``, ``.../ready``, ``.../infer``;
- ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus).

A prediction: the endpoint chooses a variant (weights, sticky key), the body is decoded for that
variant's model (``decode.py``), the model runs (inline, or through the variant's micro-batcher),
the answer is sent; then, off the response path, the shadows run and the sink gets its records.
Bodies are bounded while they are received (413 past ``max_body_bytes``); errors are JSON in each
protocol's own shape (``protocols/``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson

from modelyard.core.errors import InvalidArgument, ModelyardError, NotFound, Overloaded, PayloadTooLarge, SignatureError
from modelyard.serving.batching import BatchConfig, MicroBatcher
from modelyard.serving.decode import rows_of
from modelyard.serving.endpoint import (
    Endpoint,
    MatrixColumns,
    PredictionRecord,
    PredictionSink,
    ServedVariant,
    ServingState,
)
from modelyard.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from modelyard.serving.metrics import ServingMetrics

if TYPE_CHECKING:
    from modelyard.serving.host import InputSpec
    from modelyard.store.bundle import Stores

__all__ = ["DEFAULT_MAX_BODY_BYTES", "PayloadTooLarge", "Request", "Response", "ServingApp", "create_serving_app"]

log = logging.getLogger("modelyard.serving")

DEFAULT_MAX_BODY_BYTES = 32 * 1024**2
#: A caller's own X-Request-Id is kept when it is a plain token (it joins feedback to predictions);
#: anything else gets a fresh random id.
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


class _RequestIds:
    """Request ids, 24 hex characters: the time in milliseconds (12) then 6 random bytes (12).

    Time first, so ids sort by when they were made: the prediction log's request-id index grows at
    its end, like a log (random ids landed on random pages of the index: past a few million rows
    every logged batch rewrote thousands of them). The random half keeps ids unguessable. The
    randomness is read from the kernel 6 KiB at a time (a ``getrandom`` per request released the
    GIL on the request path, handing it to the logger's writer thread); a forked child refills."""

    _SIZE = 6
    _BLOCK = 1024

    def __init__(self) -> None:
        self._forked()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:  # also the fork hook: a child shares neither the pool nor a held lock
        self._lock = threading.Lock()
        self._refill()

    def _refill(self) -> None:
        self._pool = os.urandom(self._SIZE * self._BLOCK)
        self._next = 0

    def __call__(self) -> str:
        with self._lock:
            if self._next >= len(self._pool):
                self._refill()
            at = self._next
            self._next = at + self._SIZE
            return f"{time.time_ns() // 1_000_000:012x}{self._pool[at : at + self._SIZE].hex()}"


new_request_id = _RequestIds()
JSON = b"application/json"


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: bytes
    headers: dict[bytes, bytes]
    body: bytes

    @property
    def content_type(self) -> bytes:
        return self.headers.get(b"content-type", JSON).split(b";", 1)[0].strip().lower()

    def arg(self, name: str) -> str | None:
        if not self.query:
            return None
        values = parse_qs(self.query.decode("latin-1")).get(name)
        return values[-1] if values else None


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


def json_response(status: int, data: Any, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Response:
    return Response(status, orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), JSON, headers)


Decoder = Callable[["InputSpec"], Any]


@dataclass(slots=True)
class Prediction:
    """What a protocol gets back from ``ServingApp.predict``."""

    endpoint: Endpoint
    variant: ServedVariant
    outputs: Any
    request_id: str


class ServingApp:
    """See the module docstring. ``state`` is the hot-swap hook (``ServingState.set_endpoint``)."""

    def __init__(
        self,
        state: ServingState,
        *,
        sink: PredictionSink | None = None,
        batching: BatchConfig | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        metrics: ServingMetrics | None = None,
    ) -> None:
        from modelyard.serving.protocols import mlflow, native, v2

        self.state = state
        self.sink = sink
        self.batching = batching
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics or ServingMetrics()
        #: id(host) -> (host, {proba: batcher}); a host no endpoint serves any more is retired
        self._batchers: dict[int, tuple[Any, dict[bool, MicroBatcher]]] = {}
        self._batchers_lock = threading.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._routes: dict[str, Callable[[ServingApp, Request, list[str]], Awaitable[Response]]] = {
            "v1": native.route,
            "invocations": mlflow.route,
            "ping": mlflow.route,
            "health": mlflow.route,
            "version": mlflow.route,
            "v2": v2.route,
        }
        state.on_change(self._endpoint_changed)
        for endpoint in state.endpoints():
            self._endpoint_changed(endpoint.name)

    # -- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        try:
            body = await self._read_body(headers, receive)
            request = Request(scope["method"], scope["path"], scope["query_string"], headers, body)
            response = await self.dispatch(request)
        except PayloadTooLarge as exc:
            response = json_response(
                413, {"error": {"code": "TOO_LARGE", "message": str(exc)}}, ((b"connection", b"close"),)
            )
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", response.content_type),
                    (b"content-length", str(len(response.body)).encode()),
                    *response.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _read_body(self, headers: dict[bytes, bytes], receive: Any) -> bytes:
        limit = self.max_body_bytes
        announced = headers.get(b"content-length")
        if announced is not None and announced.isdigit() and int(announced) > limit:
            raise PayloadTooLarge(f"request body is larger than the server's limit of {limit} bytes")
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body"):
            if len(body) > limit:
                raise PayloadTooLarge(f"request body is larger than the server's limit of {limit} bytes")
            return body  # type: ignore[no-any-return]
        chunks, size = [body], len(body)
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is larger than the server's limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def dispatch(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        head = parts[0]
        if head == "healthz" and len(parts) == 1:
            return json_response(200, {"status": "ok"})
        if head == "readyz" and len(parts) == 1:
            names = self.state.names()
            return json_response(200 if names else 503, {"ready": bool(names), "endpoints": list(names)})
        if head == "metrics" and len(parts) == 1:
            return Response(200, self.metrics.render(), METRICS_CONTENT_TYPE.encode())
        route = self._routes.get(head)
        if route is None:
            return json_response(404, {"error": {"code": "NOT_FOUND", "message": f"no route {request.path}"}})
        return await route(self, request, parts)

    # -- predictions --------------------------------------------------------------------------
    def _endpoint_changed(self, name: str) -> None:
        """After a change of the served endpoints (maybe from another thread): the versions gauge,
        and the micro-batchers of models no endpoint serves any more finish their queue and stop."""
        try:
            endpoint = self.state.get(name)
        except NotFound:
            endpoint = None
        if endpoint is not None:
            for variant in endpoint.variants:
                self.metrics.set_version(endpoint.name, variant.name, variant.model_name, variant.model_version)
        live = {id(v.host) for e in self.state.endpoints() for v in e.variants}
        with self._batchers_lock:
            gone = [key for key in self._batchers if key not in live]
            retired = [self._batchers.pop(key)[1] for key in gone]
        for per_host in retired:
            for batcher in per_host.values():
                batcher.retire()

    def batcher(self, endpoint: Endpoint, variant: ServedVariant, proba: bool) -> MicroBatcher:
        assert self.batching is not None
        host = variant.host
        with self._batchers_lock:
            entry = self._batchers.get(id(host))
            if entry is None:
                entry = self._batchers[id(host)] = (host, {})
        per_host = entry[1]
        found = per_host.get(proba)
        if found is None:
            metrics, ep, name = self.metrics, endpoint.name, variant.name

            def predict(data: Any) -> Any:
                return host.predict(data, proba=proba)

            def on_batch(rows: int, seconds: float) -> None:
                metrics.batch(ep, name, rows, seconds)

            found = per_host[proba] = MicroBatcher(
                predict, self.batching, on_batch=on_batch, name=f"{host.model_name}@{host.model_version}"
            )
        return found

    async def _run(self, endpoint: Endpoint, variant: ServedVariant, data: Any, proba: bool) -> Any:
        if self.batching is not None:
            return await self.batcher(endpoint, variant, proba).submit(data, rows_of(data))
        start = time.perf_counter()
        try:
            return variant.host.predict(data, proba=proba)
        finally:
            self.metrics.batch(endpoint.name, variant.name, rows_of(data), time.perf_counter() - start)

    async def predict(
        self,
        request: Request,
        endpoint_name: str,
        decode: Decoder,
        *,
        proba: bool,
        protocol: str,
        version: int | None = None,
    ) -> Prediction:
        """Choose, decode, run; count it; hand the record to the sink and the copy to the shadows.
        Raises typed errors (the protocol maps them to its own error shape)."""
        start = time.perf_counter()
        endpoint = self.state.get(endpoint_name)
        key = None
        if endpoint.sticky_key is not None:
            raw = request.headers.get(endpoint.sticky_key.lower().encode("latin-1"))
            key = raw.decode("latin-1") if raw is not None else None
        if version is None:
            variant, shadows = endpoint.choose(key)
        else:
            pinned = [v for v in endpoint.live if v.model_version == version]
            if not pinned:
                raise NotFound(f"endpoint {endpoint.name!r} does not serve version {version}")
            variant, shadows = pinned[0], endpoint.shadows
        given = request.headers.get(b"x-request-id")
        request_id = given.decode("ascii") if given is not None and _REQUEST_ID.match(given) else new_request_id()
        kind = "input"
        data: Any = None
        try:
            data = decode(variant.host.input)
            kind = "model"
            try:
                outputs = await self._run(endpoint, variant, data, proba)
            except (ValueError, TypeError) as exc:
                raise InvalidArgument(f"the model could not score this input: {exc}".splitlines()[0]) from None
        except Overloaded:
            self.metrics.error(endpoint.name, variant.name, "overloaded")
            self.metrics.request(endpoint.name, variant.name, protocol, 503, None)
            raise
        except ModelyardError as exc:
            self.metrics.error(endpoint.name, variant.name, kind if isinstance(exc, InvalidArgument) else "internal")
            self.metrics.request(
                endpoint.name, variant.name, protocol, 400 if isinstance(exc, InvalidArgument) else 500, None
            )
            if self.sink is not None:
                self._offer_error(endpoint, variant, data, exc, request_id, start)
            raise
        except Exception as exc:
            self.metrics.error(endpoint.name, variant.name, "internal")
            self.metrics.request(endpoint.name, variant.name, protocol, 500, None)
            if self.sink is not None:
                self._offer_error(endpoint, variant, data, exc, request_id, start)
            raise
        seconds = time.perf_counter() - start
        self.metrics.request(endpoint.name, variant.name, protocol, 200, seconds)
        if self.sink is not None or shadows:
            self._after(request, endpoint, variant, shadows, decode, data, outputs, proba, request_id, seconds)
        return Prediction(endpoint, variant, outputs, request_id)

    def _after(
        self,
        request: Request,
        endpoint: Endpoint,
        variant: ServedVariant,
        shadows: Sequence[ServedVariant],
        decode: Decoder,
        data: Any,
        outputs: Any,
        proba: bool,
        request_id: str,
        seconds: float,
    ) -> None:
        now_ms = int(time.time() * 1000)
        if self.sink is not None:
            self._offer(endpoint, variant, data, outputs, request_id, seconds, now_ms, shadow=False, status="ok")
        for shadow in shadows:
            task = asyncio.get_running_loop().create_task(self._shadow(endpoint, shadow, decode, proba, request_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _shadow(
        self, endpoint: Endpoint, shadow: ServedVariant, decode: Decoder, proba: bool, request_id: str
    ) -> None:
        """A challenger's copy of a request: after the answer, never its outcome."""
        await asyncio.sleep(0)  # let the answer go out first
        start = time.perf_counter()
        data: Any = None
        try:
            data = decode(shadow.host.input)
            if self.batching is not None:
                outputs = await self.batcher(endpoint, shadow, proba).submit(data, rows_of(data))
            else:
                outputs = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: shadow.host.predict(data, proba=proba)
                )
            status, error = "ok", None
        except Exception as exc:
            outputs, status = None, "error"
            error = (str(exc).splitlines() or [type(exc).__name__])[0][:1000]
            log.debug("shadow %s of %s failed: %s", shadow.name, endpoint.name, exc)
        self.metrics.shadow.labels(endpoint.name, shadow.name, status).inc()
        if self.sink is not None:
            seconds = time.perf_counter() - start
            now_ms = int(time.time() * 1000)
            self._offer(
                endpoint, shadow, data, outputs, request_id, seconds, now_ms, shadow=True, status=status, error=error
            )

    def _offer_error(
        self, endpoint: Endpoint, variant: ServedVariant, data: Any, exc: BaseException, request_id: str, start: float
    ) -> None:
        """A failed live request's record (status "error", its message); only on failure paths."""
        message = (str(exc).splitlines() or [type(exc).__name__])[0][:1000]
        seconds = time.perf_counter() - start
        now_ms = int(time.time() * 1000)
        self._offer(
            endpoint, variant, data, None, request_id, seconds, now_ms, shadow=False, status="error", error=message
        )

    def _offer(
        self,
        endpoint: Endpoint,
        variant: ServedVariant,
        data: Any,
        outputs: Any,
        request_id: str,
        seconds: float,
        now_ms: int,
        *,
        shadow: bool,
        status: str,
        error: str | None = None,
    ) -> None:
        assert self.sink is not None
        try:
            record = PredictionRecord(
                request_id=request_id,
                endpoint=endpoint.name,
                variant=variant.name,
                model_name=variant.model_name,
                model_version=variant.model_version,
                inputs=columns_of(data, variant.host.input),
                outputs=outputs,
                latency_ms=seconds * 1000.0,
                timestamp_ms=now_ms,
                shadow=shadow,
                status=status,
                error=error,
            )
            self.sink.offer(record)
        except Exception:  # a sink must not break serving; it promised not to raise, but be sure
            log.exception("prediction sink failed")

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        with self._batchers_lock:
            entries, self._batchers = list(self._batchers.values()), {}
        for _, per_host in entries:
            for batcher in per_host.values():
                batcher.close()


def columns_of(data: Any, spec: InputSpec) -> Mapping[str, Any]:
    """A request's model input, column by column (what a PredictionRecord carries); a matrix is
    wrapped, not sliced (this runs on the request path)."""
    if data is None:
        return {}
    if spec.kind == "matrix":
        return MatrixColumns(data, spec.columns)
    if hasattr(data, "columns"):
        return {str(c): data[c].to_numpy() for c in data.columns}
    return {"input": data}


def error_parts(exc: BaseException) -> tuple[int, str, str, dict[str, Any] | None]:
    """(HTTP status, code, message, detail naming the field) of a typed error."""
    if isinstance(exc, Overloaded):
        return 503, "UNAVAILABLE", str(exc), None
    if isinstance(exc, PayloadTooLarge):
        return 413, "TOO_LARGE", str(exc), None
    if isinstance(exc, SignatureError):
        detail = {"field": exc.column, "expected": exc.expected}
        return 400, "INVALID_ARGUMENT", str(exc), detail
    if isinstance(exc, InvalidArgument):
        return 400, "INVALID_ARGUMENT", str(exc), None
    if isinstance(exc, NotFound):
        return 404, "NOT_FOUND", str(exc), None
    log.error("internal error while serving", exc_info=exc)
    return 500, "INTERNAL", f"internal error: {type(exc).__name__}", None


def retry_headers(exc: BaseException) -> tuple[tuple[bytes, bytes], ...]:
    if isinstance(exc, Overloaded):
        return ((b"retry-after", str(max(1, round(exc.retry_after + 0.5))).encode()),)
    return ()


def load_endpoints(refs: Iterable[str], stores: Stores, *, onnx: bool = False) -> list[Endpoint]:
    """One single-variant endpoint per reference, each model loaded from hash-verified artifacts."""
    from modelyard.registry.service import RegistryService
    from modelyard.serving.host import ModelHost

    registry = RegistryService(stores.registry, stores.tracking, stores.artifacts)
    endpoints: dict[str, Endpoint] = {}
    for ref in refs:
        host = ModelHost.from_registry(registry, ref, onnx=onnx)
        if host.model_name in endpoints:
            raise InvalidArgument(f"model {host.model_name!r} is named twice; serve one version of each model")
        endpoints[host.model_name] = Endpoint.single(host)
    return list(endpoints.values())


def create_serving_app(
    endpoints: Iterable[Endpoint] | Iterable[str] | ServingState,
    *,
    stores: Stores | None = None,
    sink: PredictionSink | None = None,
    batching: BatchConfig | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    onnx: bool = False,
    metrics: ServingMetrics | None = None,
) -> ServingApp:
    """The serving ASGI app over endpoints, a ``ServingState``, or model references
    (``"churn@production"``, loaded through ``stores``). ``batching=None``: no micro-batching."""
    if isinstance(endpoints, ServingState):
        state = endpoints
    else:
        items = list(endpoints)
        if items and all(isinstance(i, str) for i in items):
            if stores is None:
                raise InvalidArgument("model references need stores to load them from")
            state = ServingState(load_endpoints([str(i) for i in items], stores, onnx=onnx))
        else:
            state = ServingState([i for i in items if isinstance(i, Endpoint)])
    if not 1 <= max_body_bytes <= 2**34:
        raise InvalidArgument(f"max body bytes must be 1..{2**34}, got {max_body_bytes}")
    return ServingApp(state, sink=sink, batching=batching, max_body_bytes=max_body_bytes, metrics=metrics)
