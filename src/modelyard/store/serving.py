"""The serving room's metadata: deployments and their revisions, the index of prediction logs,
and feedback. store/sql/serving.py implements it (``SqlServingStore``), client/serving.py over
HTTP (``HttpServingStore``); ``DeploymentService`` (serving/deployments.py) receives it typed as
this ABC and holds the rules (resolving model references, rollback targets, audit).

Deployments. A deployment is a name and its current revision; every change writes the next
revision with its full spec, its action, who, when and why, in one transaction with the change of
the current state. Changes are compare-and-set on the revision the caller read
(``expected_revision``): a change computed from a stale revision raises ``RevisionConflict`` and
changes nothing, so several servers and operators acting at once never lose a change. Deleting
keeps the history; creating the name again continues its revision numbers.

Prediction logs. The rows themselves are Parquet blobs in the artifact store; the store keeps one
index row per blob (endpoint, time range, row count, digest) and the request ids it holds, so that
feedback can be checked against the predictions it is about. Maintenance (compaction, retention)
of one endpoint's log is done under a claim (``claim_prediction_log``: a lease, insert-unique and
taken over once expired, as monitoring claims windows), so concurrent compactors and pruners do
not do the same work twice. Removing index rows (``compact_prediction_partitions``,
``delete_prediction_partitions``) queues their blobs for deletion in the same transaction; the
maintainer deletes the blobs and then forgets them (``list_blob_deletions``,
``forget_blob_deletions``), so no index row ever points at a deleted blob and a crash between the
two leaves a queued deletion, not a blob nobody knows about.

SLO across workers. Every serving worker publishes its cumulative counts per deployment
(``publish_slo_counts``: requests, 5xx and latency buckets per variant, one row per worker,
rewritten about once a second), and one worker judges each deployment's SLO over the sum of
everyone's (``read_slo_counts``), holding ``claim_slo_judge`` — the same insert-unique lease as
the log maintenance claim — so replicas never judge (and roll back) the same deployment twice.

Feedback. Ground truth by request id. Feedback for a request id that no indexed partition holds
is refused as a whole (``UnknownRequestIds``, nothing recorded): a typo must not silently create
labels that never join. Recording feedback for a request again replaces the earlier value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from modelyard.core.serving import (
    Deployment,
    DeploymentAction,
    DeploymentEvent,
    DeploymentSpec,
    Feedback,
    PredictionLogPartition,
)

__all__ = ["ServingStore"]


class ServingStore(ABC):
    """Deployments with their revision history, the prediction-log index, feedback."""

    # -- deployments ----------------------------------------------------------------------------

    @abstractmethod
    def create_deployment(
        self, name: str, spec: DeploymentSpec, *, actor: str, at: int, reason: str | None = None
    ) -> Deployment:
        """Create deployment ``name`` with ``spec`` as its first revision (or, for a name that was
        deleted, the revision after its last). AlreadyExists if a live deployment has the name.
        The spec is stored as given: resolving model references is the service's job."""

    @abstractmethod
    def update_deployment(
        self,
        name: str,
        spec: DeploymentSpec,
        *,
        expected_revision: int,
        actor: str,
        at: int,
        reason: str | None = None,
        action: DeploymentAction = "update",
        restored_from: int | None = None,
    ) -> Deployment:
        """Write revision ``expected_revision + 1`` with ``spec`` (``action`` "update", "rollback"
        or "refresh"; a rollback names the revision it restores in ``restored_from``).
        DeploymentNotFound if there is no live deployment ``name``; RevisionConflict, changing
        nothing, if its current revision is not ``expected_revision``."""

    @abstractmethod
    def delete_deployment(
        self, name: str, *, expected_revision: int | None, actor: str, at: int, reason: str | None = None
    ) -> DeploymentEvent:
        """Delete a live deployment (a "delete" revision; the history stays readable).
        ``expected_revision`` None deletes whatever the current revision is. DeploymentNotFound,
        RevisionConflict as for updates."""

    @abstractmethod
    def get_deployment(self, name: str) -> Deployment:
        """The live deployment; DeploymentNotFound if there is none of that name."""

    @abstractmethod
    def list_deployments(self) -> list[Deployment]:
        """Every live deployment, ordered by name."""

    @abstractmethod
    def list_deployment_events(self, name: str) -> list[DeploymentEvent]:
        """Every revision of ``name``, oldest first, each with the spec before and after it
        (deleted deployments included); DeploymentNotFound if the name never existed."""

    @abstractmethod
    def get_deployment_event(self, name: str, revision: int) -> DeploymentEvent:
        """The event that made revision ``revision`` of ``name``; NotFound if there is none."""

    # -- prediction logs ------------------------------------------------------------------------

    @abstractmethod
    def add_prediction_partition(
        self, partition: PredictionLogPartition, request_ids: Sequence[str]
    ) -> PredictionLogPartition:
        """Index one stored Parquet partition and the request ids of its rows. The blob is
        stored first, so an index row never points at a missing blob. Idempotent on
        ``partition.id`` (a retried call adds nothing); a request id already indexed for another
        partition is kept there (first writer wins)."""

    @abstractmethod
    def list_prediction_partitions(self, endpoint: str, start_ms: int, end_ms: int) -> list[PredictionLogPartition]:
        """The partitions of ``endpoint`` holding rows with a time in ``[start_ms, end_ms)``,
        ordered by start time then id. An endpoint with no logs has none (empty)."""

    @abstractmethod
    def list_prediction_log_endpoints(self) -> list[str]:
        """Every endpoint with logged partitions (deployments, deleted ones too, and endpoints
        served by model reference), ordered by name."""

    @abstractmethod
    def compact_prediction_partitions(
        self, endpoint: str, replaced: Sequence[str], partition: PredictionLogPartition
    ) -> PredictionLogPartition:
        """Replace the partitions ``replaced`` of ``endpoint`` by ``partition`` (their rows merged
        into one blob, stored first), in one transaction: the new row is indexed, the request ids
        move to it, the old rows go. A retry after success is a no-op (``partition.id`` already
        there, the old ones gone); Conflict, changing nothing, if some of ``replaced`` are not
        partitions of ``endpoint`` (another compaction took them). The old blobs (unless another
        partition still has the same digest) are queued for deletion in the same transaction."""

    @abstractmethod
    def delete_prediction_partitions(
        self, endpoint: str, ids: Sequence[str], *, at: int
    ) -> list[PredictionLogPartition]:
        """Remove the partitions ``ids`` of ``endpoint`` (retention), with their request ids and
        the feedback recorded for those, in one transaction; their blobs (unless another partition
        still has the same digest) are queued for deletion. Ids that are not (or no longer)
        partitions of ``endpoint`` are skipped. Returns the partitions removed."""

    @abstractmethod
    def claim_prediction_log(self, endpoint: str, *, owner: str, at: int, lease_ms: int) -> bool:
        """Take the maintenance claim of ``endpoint``'s log for ``owner`` until ``at + lease_ms``.
        False when another owner holds an unexpired claim; True when the claim is taken, taken
        over (expired) or renewed (``owner`` already holds it)."""

    @abstractmethod
    def release_prediction_log(self, endpoint: str, *, owner: str) -> None:
        """Give the claim back (nothing happens unless ``owner`` holds it)."""

    @abstractmethod
    def publish_slo_counts(self, deployment: str, worker: str, counts: dict[str, Any], *, at: int) -> None:
        """Store ``worker``'s cumulative counts for ``deployment`` (replacing its earlier ones):
        ``{variant: [requests, errors, [count per latency bucket]]}``."""

    @abstractmethod
    def read_slo_counts(self, deployment: str) -> dict[str, dict[str, Any]]:
        """Every worker's last published counts for ``deployment``, by worker."""

    @abstractmethod
    def claim_slo_judge(self, deployment: str, *, owner: str, at: int, lease_ms: int) -> bool:
        """Take (or renew) the claim to judge ``deployment``'s SLO until ``at + lease_ms``; False
        while another owner holds an unexpired claim (the log maintenance claim's semantics)."""

    @abstractmethod
    def list_blob_deletions(self, endpoint: str, *, limit: int = 1000) -> list[str]:
        """Digests queued for deletion by ``endpoint``'s maintenance that no partition references."""

    @abstractmethod
    def forget_blob_deletions(self, digests: Sequence[str]) -> None:
        """Remove deleted blobs from the queue."""

    # -- feedback -------------------------------------------------------------------------------

    @abstractmethod
    def record_feedback(self, items: Sequence[Feedback]) -> int:
        """Record ground truth for logged predictions; returns how many were recorded. Every
        request id must be indexed (``add_prediction_partition``), else UnknownRequestIds naming
        them and nothing is recorded. A request id given twice in one call keeps the last. The
        endpoint of each recorded item is the one its prediction was logged under."""

    @abstractmethod
    def get_feedback(self, request_ids: Sequence[str]) -> dict[str, Feedback]:
        """The feedback recorded for these request ids (ids without feedback are absent)."""
