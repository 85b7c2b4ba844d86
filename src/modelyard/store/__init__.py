"""Storage layer: one interface per aggregate, and ``open_stores``, which builds them all by URI."""

from modelyard.store.bundle import Stores, open_stores, register_store_scheme
from modelyard.store.interfaces import MetricStore, ProjectStore, RunStore, TrackingStore

__all__ = [
    "MetricStore",
    "ProjectStore",
    "RunStore",
    "Stores",
    "TrackingStore",
    "open_stores",
    "register_store_scheme",
]
