"""One kept-alive HTTP connection pool per client, retries, and typed errors from JSON bodies.

Request bodies are ``wire`` models (the schemas the server's routes decode with), built with
``request(Model, ...)``: it checks the body as the server will (an invalid one is the same
``InvalidArgument``, with the same message, as the server's 422, and nothing is sent) and
``ApiClient.send(body=...)`` writes it with the model's own serializer (non-finite floats as
strings). The one exception to the check is the metric hot path, see ``client/store.py``.

Every call names whether it is idempotent. Idempotent calls (reads, and the writes the stores
make idempotent: client-generated ids, upserts, metric points keyed so a retried batch adds
nothing, content-addressed blobs) are retried on any transport failure and on 502/503/504.
Other calls are retried only when the connection could not be made at all, because then the
server cannot have seen the request. A server that stays unreachable is ``StoreUnavailable``
with one line saying where and why, never an httpx traceback.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from modelyard._version import __version__
from modelyard.core.errors import InvalidArgument, ModelyardError, StoreUnavailable
from modelyard.wire import API_PREFIX, WireModel, error_from_body, validation_summary

__all__ = ["ApiClient", "as_entities", "as_entity", "decode", "request"]

E = TypeVar("E", bound=BaseModel)
B = TypeVar("B", bound=BaseModel)
P = ParamSpec("P")


def request(model: Callable[P, B], /, *args: P.args, **kwargs: P.kwargs) -> B:
    """A request body as its wire model, checked by the schema the server decodes it with: an
    invalid one raises the ``InvalidArgument`` the server's 422 would (same message), unsent."""
    try:
        return model(*args, **kwargs)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors(include_url=False)]
        raise InvalidArgument(validation_summary(errors)[0]) from None


def as_entity(body: WireModel, entity: type[E]) -> E:
    """A response body (its ``wire`` model, the schema the server's route declares) as the entity
    it mirrors field for field."""
    return entity.model_validate(body, from_attributes=True)


def as_entities(bodies: Iterable[WireModel], entity: type[E]) -> list[E]:
    return [entity.model_validate(body, from_attributes=True) for body in bodies]


def decode(content: bytes, body: type[WireModel], entity: type[E]) -> E:
    """Read a response with its wire schema and return the entity it stands for."""
    return as_entity(body.model_validate_json(content), entity)


_RETRY_STATUSES = frozenset({502, 503, 504})
#: Errors raised before the request could reach the server: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ApiClient:
    """A thin layer over ``httpx.Client``: base URL, bearer token, retries, error mapping.

    ``httpx.Client`` is thread-safe and keeps connections alive, so one instance serves the SDK's
    flusher thread and the caller's thread at once, each batch on a warm connection.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidArgument(f"not an HTTP URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.retries = max(0, retries)
        headers = {"User-Agent": f"modelyard/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return f"{API_PREFIX}{path}"

    # -- the one place requests are sent ---------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        body: BaseModel | None = None,
        content: bytes | Callable[[], Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        api: bool = True,
    ) -> httpx.Response:
        """Send and return a successful response; raise the typed error of a failed one.

        ``body`` is a JSON body (a ``wire`` model, see ``request``), written by its own serializer;
        ``content`` raw bytes, or a callable that returns a fresh body (a file stream) per attempt.
        """
        all_headers = dict(headers or {})
        if body is not None:
            content = body.__pydantic_serializer__.to_json(body)
            all_headers["Content-Type"] = "application/json"
        url = self.url(path) if api else path
        delay = 0.05
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            payload = content() if callable(content) else content
            try:
                response = self.http.request(method, url, content=payload, params=params, headers=all_headers)
            except _NOT_SENT as exc:
                if last:
                    raise self._unavailable(exc)
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise self._unavailable(exc)
            else:
                if response.status_code < 400:
                    return response
                if not (idempotent and response.status_code in _RETRY_STATUSES and not last):
                    raise self.error(response)
            finally:
                close = getattr(payload, "close", None)
                if close is not None:
                    close()
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    @contextmanager
    def stream(self, path: str, *, api: bool = True) -> Iterator[httpx.Response]:
        """A streamed GET (downloads), retried until the response starts; a failure while the
        caller reads the body is the caller's to map (it knows what it was reading)."""
        url = self.url(path) if api else path
        delay = 0.05
        attempt = 0
        while True:
            try:
                response = self.http.send(self.http.build_request("GET", url), stream=True)
            except httpx.TransportError as exc:
                if attempt >= self.retries:
                    raise self._unavailable(exc)
            else:
                if response.status_code < 400:
                    break
                response.read()
                response.close()
                if not (response.status_code in _RETRY_STATUSES and attempt < self.retries):
                    raise self.error(response)
            attempt += 1
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)
        try:
            yield response
        finally:
            response.close()

    # -- errors -----------------------------------------------------------------------------------

    def error(self, response: httpx.Response) -> ModelyardError:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        return error_from_body(response.status_code, body)

    def _unavailable(self, exc: httpx.TransportError) -> StoreUnavailable:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StoreUnavailable(f"modelyard server at {self.base_url} unavailable: {detail}")


def connect(
    uri: str, *, token: str | None = None, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
) -> ApiClient:
    """An ``ApiClient`` for the server at ``uri``, checked at once: a wrong URL or a server that
    is down fails here, in one line (as the SQL stores do for a bad path or a dead database)."""
    api = ApiClient(uri, token=token, timeout=timeout, transport=transport)
    try:
        api.send("GET", "/healthz", idempotent=True, api=False)
    except BaseException:
        api.close()
        raise
    return api


class HttpAggregateStore:
    """Base of the per-aggregate HTTP stores: they share one ``ApiClient`` (one pool of kept-alive
    connections), and closing any of them closes it."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.uri = api.base_url

    def check(self) -> list[str]:
        """The integrity check of the server's database."""
        return list(orjson.loads(self.api.send("GET", "/store/check", idempotent=True).content)["problems"])

    def close(self) -> None:
        self.api.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"
