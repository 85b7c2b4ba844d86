"""The HTTP client: the store interfaces of modelyard, implemented over a modelyard server.

``open_store("http://host:port")`` returns an ``HttpStore``; its ``artifact_store()`` is the
server's artifact store over the same kept-alive connections.
"""

from __future__ import annotations

from modelyard.client.artifacts import HttpArtifactStore
from modelyard.client.store import HttpStore

__all__ = ["HttpArtifactStore", "HttpStore"]
