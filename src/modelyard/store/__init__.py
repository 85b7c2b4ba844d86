"""Storage layer: metadata store interfaces and the URI-scheme registry of implementations."""

from modelyard.store.interfaces import MetadataStore, MetricStore, ProjectStore, RunStore
from modelyard.store.registry import open_store, register_store_scheme

__all__ = ["MetadataStore", "MetricStore", "ProjectStore", "RunStore", "open_store", "register_store_scheme"]
