"""Storage layer: one interface per aggregate, and ``open_stores``, which builds them all by URI."""

from modelyard.store.bundle import NotServed, Stores, open_stores, register_store_scheme
from modelyard.store.interfaces import MetadataStore, MetricStore, ProjectStore, RunStore, TrackingStore

__all__ = [
    "MetadataStore",
    "MetricStore",
    "NotServed",
    "ProjectStore",
    "RunStore",
    "Stores",
    "TrackingStore",
    "open_stores",
    "register_store_scheme",
]
