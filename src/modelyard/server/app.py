"""The app factory. Everything a request needs hangs off ``app.state`` (built here), so any
number of workers or replicas behave as one: state lives in the stores, never in the process."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from modelyard._version import __version__
from modelyard.server.errors import install_error_handlers
from modelyard.server.metrics import install_metrics

if TYPE_CHECKING:
    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.store.bundle import Stores


@dataclass
class ServerConfig:
    """How the server is set up. ``store_uri``/``artifact_uri`` default to the settings."""

    store_uri: str | None = None
    artifact_uri: str | None = None
    auth: bool = False
    max_upload_bytes: int = 5 * 1024**3
    #: Largest JSON or form body of any other route (see server/limits.py).
    max_json_bytes: int = 16 * 1024**2
    #: Login backoff: failed logins (per user name and per client address) before each further
    #: attempt must wait, and the longest wait (see auth/throttle.py).
    login_free_failures: int = 5
    login_max_backoff_seconds: int = 900
    #: Continuous monitoring: evaluate every monitor's due windows this often (seconds; claimed
    #: through the database, so any number of replicas share the work). None: off.
    monitor_interval_s: float | None = None
    #: Prediction-log retention: prune every deployment with ``log_retention_days`` this often
    #: (seconds; under each endpoint's maintenance lease). None: off (``app_from_settings`` turns
    #: it on, every five minutes unless MODELYARD_LOG_RETENTION_INTERVAL_SECONDS says otherwise).
    log_retention_interval_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Services:
    """What routers use. Built once per app; stores are safe to share across requests."""

    stores: Stores
    config: ServerConfig

    @property
    def artifacts(self) -> ArtifactStore:
        return self.stores.artifacts

    @property
    def tracking(self) -> Any:
        from modelyard.tracking.service import TrackingService

        return TrackingService(self.stores.tracking, self.stores.artifacts)


def build_services(config: ServerConfig, stores: Stores | None = None) -> Services:
    """The app's services over ``stores``, or over the stores ``open_stores`` builds from the
    settings with ``config``'s URIs."""
    if stores is None:
        from dataclasses import replace

        from modelyard.settings import load_settings, normalize_store_uri
        from modelyard.store.bundle import open_stores

        settings = load_settings()
        if config.store_uri:
            settings = replace(settings, store_uri=normalize_store_uri(config.store_uri))
        if config.artifact_uri:
            settings = replace(settings, artifact_uri=config.artifact_uri, artifact_uri_explicit=True)
        stores = open_stores(settings)
    return Services(stores=stores, config=config)


def create_app(config: ServerConfig | None = None, *, stores: Stores | None = None) -> FastAPI:
    config = config or ServerConfig()
    app = FastAPI(
        title="modelyard",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.services = build_services(config, stores)
    # Declared here, so readers use plain attributes: None means auth (or the audit trail) is off.
    app.state.authenticator = None
    app.state.auditor = None
    app.state.background = None  # the lifespan's BackgroundLoop, when it runs one
    install_error_handlers(app)
    from modelyard.server.limits import RequestLimits

    # Added before the auth guard, so the guard runs first: an anonymous caller is refused
    # before a byte of its body is read.
    app.add_middleware(RequestLimits, max_json_bytes=config.max_json_bytes, max_upload_bytes=config.max_upload_bytes)
    if config.auth:
        from modelyard.server.auth import install_auth

        install_auth(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for register in _router_modules():
        register(app)
    install_metrics(app)  # last, so its middleware is outermost and counts every response
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background work of the server (``server/background.py``): continuous monitoring and
    prediction-log retention, each when configured, in one loop."""
    from modelyard.server.background import BackgroundLoop, server_jobs

    services: Services = app.state.services
    config = services.config
    every = {"monitor_every_s": config.monitor_interval_s, "log_retention_every_s": config.log_retention_interval_s}
    jobs = server_jobs(services.stores, **every)
    loop = BackgroundLoop(jobs).start() if jobs else None
    app.state.background = loop
    try:
        yield
    finally:
        if loop is not None:
            loop.stop()


def app_from_settings() -> FastAPI:
    """The app as configured by the environment (MODELYARD_STORE_URI, MODELYARD_ARTIFACT_URI,
    MODELYARD_AUTH, MODELYARD_MAX_UPLOAD_BYTES, MODELYARD_MAX_JSON_BYTES, MODELYARD_LOGIN_*,
    MODELYARD_MONITOR_INTERVAL_SECONDS, MODELYARD_LOG_RETENTION_INTERVAL_SECONDS): the
    import string uvicorn workers start from
    (``modelyard.server.app:app_from_settings`` with ``factory=True``)."""
    from modelyard.settings import load_settings

    settings = load_settings()
    config = ServerConfig(store_uri=settings.store_uri, artifact_uri=settings.artifact_uri, auth=settings.auth)
    if settings.max_upload_bytes is not None:
        config.max_upload_bytes = settings.max_upload_bytes
    if settings.max_json_bytes is not None:
        config.max_json_bytes = settings.max_json_bytes
    if settings.login_free_failures is not None:
        config.login_free_failures = settings.login_free_failures
    if settings.login_max_backoff_seconds is not None:
        config.login_max_backoff_seconds = settings.login_max_backoff_seconds
    config.monitor_interval_s = settings.monitor_interval_seconds
    config.log_retention_interval_s = settings.log_retention_interval_seconds
    app = create_app(config)
    # What is loaded by now (some 200,000 objects: modules, the app) lives as long as the worker:
    # moved out of the collector's generations, a full collection no longer walks it (it took
    # ~0.1 s, a stall of every request in flight, the online feature read's tail included).
    gc.collect()
    gc.freeze()
    return app


def _router_modules() -> list[Any]:
    """Each router module exposes ``register(app)``; the list is the one place they are named."""
    from modelyard.server import routers

    return routers.all_registrars()
