"""SQL implementation of ``modelyard.store.auth.AuthStore``, mixed into ``SqlStore``.

Tables of this aggregate are defined here on ``schema.metadata``; its migration is a numbered
file in ``migrations/versions/``. Methods use ``self._read(fn)`` / ``self._write(fn)`` from
``SqlStore`` (one transaction each, transient errors retried).
"""

from __future__ import annotations


class SqlAuthStoreMixin:
    """Filled by its issue."""
