"""Streaming push: rows a stream consumer commits go straight into the online store.

``OnlinePush`` is a listener of the stream ingestor (``modelyard.data.streaming``): when a
micro-batch has been committed as a dataset version (and before its messages are acknowledged),
the rows of that version are read through each named view's definition (its transformation
included, with the batch's Parquet file as the view's source) and written to the online store,
where the newest row per entity wins. A crash after the commit and before the acknowledgement
(before, during or after the push) redelivers the messages; the ingestor then finds them in the
version it committed (``SealedBatch.replayed``) and the push writes that version again, which
changes nothing that was already written (the same rows, the same times; newer rows stay).
No materialisation run is recorded: the push is not a window of the view's offline source, so
incremental materialisation still starts where its last run ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelyard.core.errors import InvalidArgument
from modelyard.features.offline import source_sql
from modelyard.features.serving import write_window

if TYPE_CHECKING:
    from modelyard.data.streaming import SealedBatch
    from modelyard.features.service import FeatureStoreService

__all__ = ["OnlinePush"]

_ALL_TIME = (-(2**62), 2**62)


class OnlinePush:
    """Pushes each committed micro-batch into the online store for ``views`` (``name`` or
    ``name@vN`` each; resolved once, when the push is made)."""

    def __init__(self, service: FeatureStoreService, views: Sequence[str]) -> None:
        if service.datasets is None:
            raise InvalidArgument("a streaming push reads the committed versions: the service needs a dataset store")
        if not views:
            raise InvalidArgument("name at least one feature view to push to")
        self.service = service
        self.views = service.views_named(views)
        self.rows = 0

    def on_read(self, count: int, window: int) -> None:
        pass

    def on_committed(self, batch: SealedBatch) -> None:
        versions = [*batch.replayed, *([batch.version] if batch.version is not None else [])]
        if not versions or self.service.datasets is None:
            return
        online = self.service._online()
        for version in versions:
            path = str(self.service.datasets.materialise(version))
            for view in self.views:
                source = source_sql(view, path)
                self.rows += write_window(online, view, source, *_ALL_TIME, self.service.duck)

    def on_sealed(self, batch: SealedBatch) -> None:
        pass
