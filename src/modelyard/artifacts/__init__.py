"""Content-addressed artifact store over fsspec (local files by default, s3:// for production)."""

from modelyard.artifacts.interfaces import ArtifactStore, BlobRef, Manifest, ManifestEntry

__all__ = ["ArtifactStore", "BlobRef", "Manifest", "ManifestEntry", "open_artifact_store"]


def open_artifact_store(uri: str) -> ArtifactStore:
    from modelyard.artifacts.cas import ContentAddressedStore

    return ContentAddressedStore(uri)
