"""Registered models, versions, aliases, lifecycle transitions, approvals (issue: Models).

The interface of this aggregate's metadata store. store/sql/models.py implements it as a
mixin of SqlStore; services receive it typed as this ABC.
"""

from __future__ import annotations

from abc import ABC


class ModelRegistryStore(ABC):  # noqa: B024 - filled by its issue
    """Registered models, versions, aliases, lifecycle transitions, approvals (issue: Models)."""
