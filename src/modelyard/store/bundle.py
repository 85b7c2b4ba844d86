"""``Stores``, the bundle of every store, and ``open_stores(settings)``, the one place stores are built.

The SDK, the CLI, the server and the tests all open their stores here. A URI names a backend: a
SQL database (``sqlite:``, ``postgresql:``) gives one ``SqlDatabase`` with one store per aggregate
over it; a server (``http:``, ``https:``) gives one connection pool with one HTTP store per
aggregate over it. Concrete classes are imported lazily, by the strings in the tables below, so
``import modelyard`` stays cheap and this package depends on no implementation.

Adding an aggregate: one field on ``Stores`` and one row in ``_AGGREGATES`` (its SQL class over
the database, its HTTP class over the connection, or None with the reason it is not served).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlparse

from modelyard.core.errors import InvalidArgument, NotServed

if TYPE_CHECKING:
    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.settings import Settings
    from modelyard.store.auth import AuthStore
    from modelyard.store.datasets import DatasetStore
    from modelyard.store.features import FeatureStore
    from modelyard.store.interfaces import TrackingStore
    from modelyard.store.models import ModelRegistryStore
    from modelyard.store.monitoring import MonitoringStore
    from modelyard.store.serving import ServingStore

__all__ = ["NotServed", "Stores", "open_stores", "register_store_scheme"]


@dataclass(frozen=True)
class Stores:
    """Every store of one deployment; ``close()`` (or ``with``) releases their connections."""

    tracking: TrackingStore
    registry: ModelRegistryStore
    datasets: DatasetStore
    auth: AuthStore
    serving: ServingStore
    features: FeatureStore
    monitoring: MonitoringStore
    artifacts: ArtifactStore
    #: Released by ``close()``: the shared database or connection pool (the stores hold no other).
    closers: tuple[Callable[[], None], ...] = field(default=(), repr=False, compare=False)
    #: The stores of a modelyard server (``http(s)://``): it runs the rules of what changes governed
    #: state (the registry's transitions and release checks) again itself.
    remote: bool = False

    def close(self) -> None:
        for close in self.closers:
            close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Unavailable:
    """Stands in for an aggregate a backend does not offer: any use raises ``NotServed``."""

    def __init__(self, name: str, reason: str) -> None:
        self._name = name
        self._reason = reason

    def __getattr__(self, attr: str) -> NoReturn:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise NotServed(self._reason)

    def __repr__(self) -> str:
        return f"<{self._name} store not served: {self._reason}>"


# scheme -> the SqlDatabase subclass that opens it ("module:attribute", imported on use).
_SQL_DATABASES: dict[str, str] = {
    "sqlite": "modelyard.store.sql.sqlite:SqliteDatabase",
    "postgresql": "modelyard.store.sql.postgres:PostgresDatabase",
    "postgres": "modelyard.store.sql.postgres:PostgresDatabase",
    "postgresql+psycopg": "modelyard.store.sql.postgres:PostgresDatabase",
}
_HTTP_SCHEMES = ("http", "https")
_AUTH_OVER_HTTP = (
    "auth administration needs a direct database URI (sqlite:// or postgresql://, the server's own "
    "database): over http(s) users, tokens and the audit log are managed on the server"
)

# Stores field -> (SQL class taking the SqlDatabase, HTTP class taking the ApiClient, or the
# reason the server does not serve it).
_AGGREGATES: dict[str, tuple[str, str | tuple[None, str]]] = {
    "tracking": ("modelyard.store.sql.tracking:SqlTrackingStore", "modelyard.client.store:HttpTrackingStore"),
    "registry": ("modelyard.store.sql.models:SqlRegistryStore", "modelyard.client.models:HttpRegistryStore"),
    "datasets": ("modelyard.store.sql.datasets:SqlDatasetStore", "modelyard.client.datasets:HttpDatasetStore"),
    "auth": ("modelyard.store.sql.auth:SqlAuthStore", (None, _AUTH_OVER_HTTP)),
    "serving": ("modelyard.store.sql.serving:SqlServingStore", "modelyard.client.serving:HttpServingStore"),
    "features": ("modelyard.store.sql.features:SqlFeatureStore", "modelyard.client.features:HttpFeatureStore"),
    "monitoring": (
        "modelyard.store.sql.monitoring:SqlMonitoringStore",
        "modelyard.client.monitoring:HttpMonitoringStore",
    ),
}


def register_store_scheme(scheme: str, database: str) -> None:
    """Open ``scheme://`` URIs with ``database`` ("module:SqlDatabaseSubclass")."""
    _SQL_DATABASES[scheme] = database


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def open_stores(settings: Settings | str, *, artifacts: ArtifactStore | None = None, create: bool = True) -> Stores:
    """Every store for ``settings.store_uri`` (a URI string: the environment's settings with that
    store), and the artifact store: ``artifacts`` if given, else ``settings.artifact_uri``, or,
    for a server URI with no artifact URI chosen explicitly, the server's own artifact store over
    the same connections. Fails at open, in one line, on a bad URI or an unreachable backend.

    ``create`` is the opening mode. What writes (the SDK, ``data add``, the server, ``db init``)
    opens with ``create=True``: the schema may be created in a database that has none (SQLite: a
    new file in an existing directory; missing directories only under ``settings.home``). What only
    reads opens with ``create=False``: a store that does not exist is ``NotFound`` naming the URI,
    and nothing is created. In neither mode does a file or database that is not a modelyard store
    become one (``InvalidArgument``)."""
    if isinstance(settings, str):
        settings = _settings_for(settings)
    uri = settings.store_uri
    scheme = urlparse(uri).scheme
    remote = scheme in _HTTP_SCHEMES
    backend: Any
    if remote:
        backend = _load("modelyard.client._transport:connect")(uri, token=settings.token)
    else:
        target = _SQL_DATABASES.get(scheme)
        if target is None:
            known = ", ".join(sorted([*_SQL_DATABASES, *_HTTP_SCHEMES]))
            raise InvalidArgument(f"unsupported store URI {uri!r}: scheme {scheme!r} is not one of {known}")
        backend = _load(target)(uri, create=create, home=settings.home)
    try:
        parts: dict[str, Any] = {}
        for name, (sql_class, http_class) in _AGGREGATES.items():
            impl = http_class if remote else sql_class
            parts[name] = _Unavailable(name, impl[1]) if isinstance(impl, tuple) else _load(impl)(backend)
        if artifacts is None:
            default_artifacts = str(settings.home / "artifacts")
            explicit = settings.artifact_uri_explicit or settings.artifact_uri != default_artifacts
            if remote and not explicit:
                artifacts = _load("modelyard.client.artifacts:HttpArtifactStore")(uri, api=backend)
            else:
                artifacts = _load("modelyard.artifacts:open_artifact_store")(
                    settings.artifact_uri, settings.s3_storage_options(), durable=settings.durable_writes
                )
    except BaseException:
        backend.close()
        raise
    return Stores(**parts, artifacts=artifacts, closers=(backend.close,), remote=remote)


def _settings_for(store_uri: str) -> Settings:
    from modelyard.settings import load_settings, normalize_store_uri

    return replace(load_settings(), store_uri=normalize_store_uri(store_uri))
