"""Prediction-log maintenance: compaction and retention (``modelyard predictions compact|prune``,
and the serving process's periodic work for a deployment's ``log_retention_days``).

The logger writes one small Parquet partition per flush, so logs pile up as thousands of blobs.

* **Compaction** merges the partitions whose rows all precede a cutoff (a closed time range: the
  logger only adds partitions of recent rows) into partitions of about ``target_rows`` rows, in
  time order. Each merge writes the new blob first (its Parquet metadata names the new partition,
  so its digest is its own and never another compactor's), then swaps the index rows in one
  store transaction (the new row in, the request ids moved to it, the old rows out, their blobs
  queued for deletion), then deletes the old blobs and forgets them. A reader lists one snapshot
  of the index, so it sees either the old partitions or the merged one, never both; a reader whose
  listed blob was deleted meanwhile lists again (``predictions._read_partitions``), so it never
  sees a gap. Feedback is keyed by request id and the ids move with their rows, so it still joins.
* **Retention** removes whole partitions whose rows all precede the cutoff: their index rows,
  request ids and feedback in one transaction (blobs queued), then the blobs.

Both run under the endpoint's maintenance claim (``ServingStore.claim_prediction_log``: a lease,
as monitoring claims windows), so concurrent compactors and pruners — cron jobs, several serving
replicas — do not repeat each other's work; should a lease expire mid-run, the swap is still a
compare-and-set (``Conflict`` when another took the partitions), and the loser deletes only its
own new blob. A run renews its claim before each merge (and each batch of a prune) and stops
when another maintainer has taken it over. Every run first deletes the blobs a crashed run left
queued, so no blob stays behind and no index row points at a missing blob.

Blobs are deleted through the artifact store, so maintenance runs where the stores are (a
database URI, or the server's own periodic work), not through a server's HTTP client.
"""

from __future__ import annotations

import io
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelyard.core.errors import Conflict, InvalidArgument, NotFound
from modelyard.core.ids import new_id
from modelyard.core.serving import Deployment, PredictionLogPartition, validate_deployment_name
from modelyard.core.tracking import now_millis

if TYPE_CHECKING:
    from modelyard.store.bundle import Stores

__all__ = ["DAY_MS", "LogMaintainer", "MaintenanceResult"]

log = logging.getLogger("modelyard.serving.logmaint")

DAY_MS = 86_400_000
#: How long a maintenance claim holds before another maintainer may take it over.
DEFAULT_LEASE_MS = 10 * 60_000


@dataclass(frozen=True)
class MaintenanceResult:
    """What one run did to one endpoint's log."""

    endpoint: str
    replaced: int = 0
    written: int = 0
    pruned: int = 0
    pruned_rows: int = 0
    blobs_deleted: int = 0
    #: Another maintainer held the endpoint's claim: nothing was done.
    busy: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "replaced": self.replaced,
            "written": self.written,
            "pruned": self.pruned,
            "pruned_rows": self.pruned_rows,
            "blobs_deleted": self.blobs_deleted,
            "busy": self.busy,
        }


class LogMaintainer:
    """Compacts and prunes prediction logs of ``stores`` (module docstring)."""

    def __init__(
        self,
        stores: Stores,
        *,
        owner: str | None = None,
        lease_ms: int = DEFAULT_LEASE_MS,
        clock: Callable[[], int] = now_millis,
    ) -> None:
        if stores.remote:
            raise InvalidArgument(
                "prediction-log maintenance deletes blobs, which a server's HTTP client cannot: run it with "
                "--store pointing at the server's database (the server applies each deployment's log "
                "retention itself)"
            )
        self.stores = stores
        self.owner = owner or f"{socket.gethostname()[:100]}:{os.getpid()}:{new_id()}"
        self.lease_ms = lease_ms
        self.clock = clock

    @contextmanager
    def _claim(self, endpoint: str) -> Iterator[bool]:
        serving = self.stores.serving
        held = serving.claim_prediction_log(endpoint, owner=self.owner, at=self.clock(), lease_ms=self.lease_ms)
        try:
            yield held
        finally:
            if held:
                serving.release_prediction_log(endpoint, owner=self.owner)

    def _still_held(self, endpoint: str) -> bool:
        """Renew the claim between two pieces of work; False when another maintainer took it
        over (this one's lease expired): stop, and leave the rest to it."""
        held = self.stores.serving.claim_prediction_log(
            endpoint, owner=self.owner, at=self.clock(), lease_ms=self.lease_ms
        )
        if not held:
            log.warning("maintenance of %s stopped: another maintainer took over its claim", endpoint)
        return held

    def _delete_queued(self, endpoint: str) -> int:
        """Delete the blobs queued by removed index rows (this run's, or a crashed run's)."""
        deleted = 0
        while True:
            digests = self.stores.serving.list_blob_deletions(endpoint, limit=500)
            if not digests:
                return deleted
            for digest in digests:
                self.stores.artifacts.delete(digest)  # idempotent
            self.stores.serving.forget_blob_deletions(digests)
            deleted += len(digests)

    # -- compaction -----------------------------------------------------------------------------
    def compact(self, endpoint: str, *, before_ms: int, target_rows: int = 500_000) -> MaintenanceResult:
        """Merge the partitions of ``endpoint`` whose rows all precede ``before_ms`` into
        partitions of up to about ``target_rows`` rows. Rows, their order and their feedback are
        unchanged."""
        endpoint = validate_deployment_name(endpoint)
        if target_rows < 1:
            raise InvalidArgument("target_rows must be >= 1")
        with self._claim(endpoint) as held:
            if not held:
                return MaintenanceResult(endpoint, busy=True)
            deleted = self._delete_queued(endpoint)
            found = [
                p
                for p in self.stores.serving.list_prediction_partitions(endpoint, 0, before_ms)
                if p.end_ms < before_ms
            ]
            replaced = written = 0
            for group in _groups(found, target_rows):
                if len(group) < 2:
                    continue
                if not self._still_held(endpoint):
                    break
                if self._merge(endpoint, group):
                    replaced += len(group)
                    written += 1
                    deleted += self._delete_queued(endpoint)
            return MaintenanceResult(endpoint, replaced=replaced, written=written, blobs_deleted=deleted)

    def _merge(self, endpoint: str, group: Sequence[PredictionLogPartition]) -> bool:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            tables = [pq.read_table(io.BytesIO(self.stores.artifacts.get_bytes(p.digest))) for p in group]
        except NotFound:  # another maintainer compacted or pruned these meanwhile (an expired lease)
            log.warning("compaction of %s skipped a group whose blobs are gone", endpoint)
            return False
        table = pa.concat_tables(tables, promote_options="default")
        table = table.sort_by([("timestamp_ms", "ascending"), ("request_id", "ascending"), ("shadow", "ascending")])
        partition_id = new_id()
        meta = dict(table.schema.metadata or {})
        meta[b"modelyard.partition"] = partition_id.encode()  # this merge's own blob, never another's
        sink = io.BytesIO()
        pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd")
        blob = self.stores.artifacts.put_bytes(sink.getvalue())
        merged = PredictionLogPartition(
            id=partition_id, endpoint=endpoint, start_ms=min(p.start_ms for p in group),
            end_ms=max(p.end_ms for p in group), row_count=table.num_rows, digest=blob.digest, size=blob.size,
            created_at=self.clock(),
        )  # fmt: skip
        try:
            self.stores.serving.compact_prediction_partitions(endpoint, [p.id for p in group], merged)
        except Conflict as exc:  # another maintainer took these partitions (an expired lease)
            log.warning("compaction of %s skipped a group: %s", endpoint, exc)
            self.stores.artifacts.delete(blob.digest)
            return False
        except BaseException:
            self.stores.artifacts.delete(blob.digest)  # not indexed: nobody else knows this blob
            raise
        return True

    # -- retention ------------------------------------------------------------------------------
    def prune(self, endpoint: str, *, before_ms: int) -> MaintenanceResult:
        """Remove the partitions of ``endpoint`` whose rows all precede ``before_ms`` (a partition
        holding newer rows too is kept whole), with their feedback and blobs."""
        endpoint = validate_deployment_name(endpoint)
        with self._claim(endpoint) as held:
            if not held:
                return MaintenanceResult(endpoint, busy=True)
            deleted = self._delete_queued(endpoint)
            found = [
                p.id
                for p in self.stores.serving.list_prediction_partitions(endpoint, 0, before_ms)
                if p.end_ms < before_ms
            ]
            removed: list[PredictionLogPartition] = []
            for start in range(0, len(found), 1000):
                if not self._still_held(endpoint):
                    break
                removed += self.stores.serving.delete_prediction_partitions(
                    endpoint, found[start : start + 1000], at=self.clock()
                )
                deleted += self._delete_queued(endpoint)
            return MaintenanceResult(
                endpoint, pruned=len(removed), pruned_rows=sum(p.row_count for p in removed), blobs_deleted=deleted
            )

    def apply_retention(self, deployment: Deployment) -> MaintenanceResult | None:
        """Prune ``deployment``'s log to its ``log_retention_days`` (None when it has none)."""
        days = deployment.spec.log_retention_days
        if days is None:
            return None
        return self.prune(deployment.name, before_ms=self.clock() - days * DAY_MS)


def _groups(partitions: Sequence[PredictionLogPartition], target_rows: int) -> list[list[PredictionLogPartition]]:
    """Consecutive partitions (in time order) gathered into groups of at most ``target_rows``."""
    groups: list[list[PredictionLogPartition]] = []
    current: list[PredictionLogPartition] = []
    rows = 0
    for partition in partitions:
        if current and rows + partition.row_count > target_rows:
            groups.append(current)
            current, rows = [], 0
        current.append(partition)
        rows += partition.row_count
    if current:
        groups.append(current)
    return groups
