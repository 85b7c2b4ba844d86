"""Where a ``ContentAddressedStore`` keeps blobs: one module per backend behind ``BlobBackend``.

``local`` (files and packs on a local filesystem) and ``fsspec`` (S3 and other fsspec
filesystems). ``open_backend`` picks one from a URI; the backends are imported lazily so that
opening a local store never imports fsspec's remote stack.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from modelyard.artifacts.backends.base import BlobBackend
from modelyard.core.errors import InvalidArgument

__all__ = ["BlobBackend", "local_root", "open_backend"]


def local_root(uri: str) -> Path | None:
    """The directory of a local URI (a path or ``file://``), or None for a remote one."""
    if uri.startswith("file://"):
        parsed = urllib.parse.urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgument(f"file URI with a remote host is not supported: {uri}")
        return Path(urllib.parse.unquote(parsed.path)).expanduser().absolute()
    if "://" in uri:
        return None
    if not uri:
        raise InvalidArgument("artifact store URI must not be empty")
    return Path(uri).expanduser().absolute()


def open_backend(uri: str, storage_options: dict[str, Any] | None = None) -> BlobBackend:
    """The backend for ``uri``: a path or ``file://`` is local, anything else goes to fsspec."""
    root = local_root(uri)
    if root is not None:
        from modelyard.artifacts.backends.local import LocalBackend

        return LocalBackend(root)
    from modelyard.artifacts.backends.fsspec import open_fsspec

    return open_fsspec(uri, storage_options or {})
