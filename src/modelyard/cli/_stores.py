"""The stores and services of a CLI command, built by ``open_stores`` from the settings
(``--store`` overriding the store URI) — never by reconfiguring the SDK's session.

One ``Stores`` is kept per process for the last settings asked for, so the commands of one
process (or one test session driving the CLI in-process) share its connections; asking for other
settings closes it first.

Commands open their store in one of two modes (``open_stores(create=...)``): by default a store
must already exist (what only reads, and what changes things a store must already hold, never
creates one: a typo in ``--store`` is a one-line error naming the URI); the few commands that can
start a store from nothing (``data add``, ``ingest``, ``users create``, ``db init``, ``server``)
pass ``create=True``.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelyard.data.service import DatasetService
    from modelyard.features import FeatureStoreService
    from modelyard.settings import Settings
    from modelyard.store.bundle import Stores

_lock = threading.Lock()
_opened: tuple[Settings, Stores] | None = None


def cli_settings(store: str | None = None) -> Settings:
    """The environment's settings, with ``store`` (a path or URI) as the store when given."""
    from modelyard.settings import load_settings, normalize_store_uri

    settings = load_settings()
    return replace(settings, store_uri=normalize_store_uri(store)) if store else settings


def cli_stores(store: str | None = None, *, create: bool = False) -> Stores:
    """Every store for ``cli_settings(store)``; ``create``: the store may be created if missing."""
    global _opened
    from modelyard.store.bundle import open_stores

    settings = cli_settings(store)
    with _lock:
        if _opened is not None and _opened[0] == settings:
            return _opened[1]
        if _opened is not None:
            _opened[1].close()
            _opened = None
        stores = open_stores(settings, create=create)
        _opened = (settings, stores)
        return stores


def dataset_service(store: str | None = None, *, create: bool = False) -> DatasetService:
    """The dataset service over ``cli_stores(store, create=create)`` (its stat cache under the home)."""
    from modelyard.data.service import DatasetService

    stores = cli_stores(store, create=create)
    return DatasetService(stores.datasets, stores.artifacts, cli_settings(store).home / "cache")


def feature_service(store: str | None = None, online: str | None = None) -> FeatureStoreService:
    """The feature store service over ``cli_stores(store)`` (with the dataset service, for
    dataset-sourced views and saved training sets; DuckDB spills under the home), and the online
    store ``online`` names (default: the settings'), opened on first use."""
    from modelyard.features import DuckConfig, FeatureStoreService
    from modelyard.features.online import LazyOnlineStore

    settings = cli_settings(store)
    stores = cli_stores(store)
    return FeatureStoreService(
        stores.features,
        dataset_service(store),
        duck=DuckConfig(temp_directory=settings.home / "tmp" / "duckdb"),
        online=LazyOnlineStore(online or settings.online_uri),
    )
