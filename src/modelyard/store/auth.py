"""Users, hashed API tokens, project roles and the hash-chained audit log (issue: Tracking server).

The interface of this aggregate's metadata store. store/sql/auth.py implements it as a
mixin of SqlStore; services receive it typed as this ABC.
"""

from __future__ import annotations

from abc import ABC


class AuthStore(ABC):  # noqa: B024 - filled by its issue
    """Users, hashed API tokens, project roles and the hash-chained audit log (issue: Tracking server)."""
