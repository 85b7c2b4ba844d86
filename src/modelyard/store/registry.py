"""URI scheme -> store factory. The edges (SDK face, CLI, server) open stores through here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from urllib.parse import urlparse

from modelyard.core.errors import InvalidArgument
from modelyard.store.interfaces import MetadataStore

StoreFactory = Callable[[str], MetadataStore]

# scheme -> "module:callable", imported lazily so that `import modelyard` stays cheap.
_SCHEMES: dict[str, str | StoreFactory] = {
    "sqlite": "modelyard.store.sql.sqlite:SqliteStore",
    "postgresql": "modelyard.store.sql.postgres:PostgresStore",
    "postgres": "modelyard.store.sql.postgres:PostgresStore",
    "postgresql+psycopg": "modelyard.store.sql.postgres:PostgresStore",
    "http": "modelyard.client.store:HttpStore",
    "https": "modelyard.client.store:HttpStore",
}


def register_store_scheme(scheme: str, factory: str | StoreFactory) -> None:
    _SCHEMES[scheme] = factory


def open_store(uri: str) -> MetadataStore:
    scheme = urlparse(uri).scheme
    target = _SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(sorted(_SCHEMES))
        raise InvalidArgument(f"unsupported store URI {uri!r}: scheme {scheme!r} is not one of {known}")
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
    return target(uri)  # type: ignore[operator]
