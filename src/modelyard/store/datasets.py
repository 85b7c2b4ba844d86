"""Dataset versions, their files' manifests, lineage and ingestion watermarks (issue: Data).

The interface of this aggregate's metadata store. store/sql/datasets.py implements it as a
mixin of SqlStore; services receive it typed as this ABC.
"""

from __future__ import annotations

from abc import ABC


class DatasetStore(ABC):  # noqa: B024 - filled by its issue
    """Dataset versions, their files' manifests, lineage and ingestion watermarks (issue: Data)."""
