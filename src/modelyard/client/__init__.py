"""The HTTP client: the store interfaces of modelyard, implemented over a modelyard server.

``modelyard.store.open_stores`` builds them for an ``http(s)://`` store URI: ``HttpTrackingStore``,
``HttpRegistryStore``, ``HttpDatasetStore`` and ``HttpServingStore`` over one ``ApiClient`` (``connect``), and the
server's ``HttpArtifactStore`` over the same kept-alive connections.
"""

from __future__ import annotations

from modelyard.client._transport import ApiClient, connect
from modelyard.client.artifacts import HttpArtifactStore
from modelyard.client.datasets import HttpDatasetStore
from modelyard.client.models import HttpRegistryStore
from modelyard.client.serving import HttpServingStore
from modelyard.client.store import HttpTrackingStore

__all__ = [
    "ApiClient",
    "HttpArtifactStore",
    "HttpDatasetStore",
    "HttpRegistryStore",
    "HttpServingStore",
    "HttpTrackingStore",
    "connect",
]
