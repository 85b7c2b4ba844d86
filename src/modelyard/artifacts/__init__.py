"""Content-addressed artifact store over fsspec (local files by default, s3:// for production)."""

from __future__ import annotations

from typing import Any

from modelyard.artifacts.interfaces import ArtifactStore, BlobRef, Manifest, ManifestEntry

__all__ = ["ArtifactStore", "BlobRef", "Manifest", "ManifestEntry", "open_artifact_store"]


def open_artifact_store(
    uri: str, storage_options: dict[str, Any] | None = None, *, durable: bool = False
) -> ArtifactStore:
    """Open the store at ``uri`` (a path, ``file://...`` or ``s3://bucket/prefix``).

    ``storage_options`` are fsspec options for remote stores; the edges pass
    ``Settings.s3_storage_options()`` so that only settings.py reads the environment.
    ``durable`` makes local writes reach the disk (fsync) before they return
    (``MODELYARD_DURABLE_WRITES``); every write is atomic either way.
    """
    from modelyard.artifacts.cas import ContentAddressedStore

    return ContentAddressedStore(uri, storage_options, durable=durable)
