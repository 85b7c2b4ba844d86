"""``HttpServingStore``: the ``ServingStore`` contract over the REST API v1.

It shares the ``ApiClient`` of the other HTTP stores, so ``DeploymentService``, the prediction
logger and ``modelyard.predictions`` work against a server unchanged (Parquet partitions go to the
server's artifact store as blobs, then this indexes them).

Retries: reads are retried after a dropped connection, and so are the writes the contract makes
idempotent (indexing a partition, keyed by its id; feedback, an upsert). Deployment changes are
compare-and-set on a revision, so a retried change that had reached the server would answer 409;
they are retried only when the request never reached the server.

Request bodies are the ``wire.serving`` models the server's routes decode, checked by ``request``
(see ``_transport``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import orjson

from modelyard.client._transport import HttpAggregateStore, request
from modelyard.core.errors import NotServed
from modelyard.core.serving import (
    Deployment,
    DeploymentAction,
    DeploymentEvent,
    DeploymentSpec,
    Feedback,
    PredictionLogPartition,
    feedback_json,
    validate_deployment_name,
)
from modelyard.store.serving import ServingStore
from modelyard.wire.serving import (
    DeploymentCreate,
    DeploymentUpdate,
    FeedbackCreate,
    FeedbackLookup,
    PredictionLogMaintenance,
    PredictionPartitionCompact,
    PredictionPartitionCreate,
)

if TYPE_CHECKING:
    from modelyard.serving.logmaint import MaintenanceResult

__all__ = ["HttpServingStore", "RemoteLogMaintainer"]

#: Request ids per lookup request (well under the server's body limit).
_LOOKUP_CHUNK = 5_000
_SLO_ACROSS = "the SLO is judged across serving workers through a database store, not through a server"
_MAINTENANCE = (
    "prediction-log compaction and retention run where the stores are (a database URI, or the server's "
    "own work: RemoteLogMaintainer asks it), not through the HTTP stores"
)


def _path(name: str) -> str:
    return "/deployments/" + quote(validate_deployment_name(name), safe="")


def _lookup_path(name: str) -> str:
    """Reads take any name: an invalid one simply does not exist (404 from the server)."""
    return "/deployments/" + quote(name, safe="")


class HttpServingStore(HttpAggregateStore, ServingStore):
    """Deployments, the prediction-log index and feedback on a modelyard server."""

    def _json(self, method: str, path: str, *, idempotent: bool, **kwargs: Any) -> Any:
        return orjson.loads(self.api.send(method, path, idempotent=idempotent, **kwargs).content)

    # -- deployments ----------------------------------------------------------------------------
    def create_deployment(
        self, name: str, spec: DeploymentSpec, *, actor: str, at: int, reason: str | None = None
    ) -> Deployment:
        body = request(DeploymentCreate, spec=spec, actor=actor, at=at, reason=reason)
        return Deployment.model_validate(self._json("POST", _path(name), idempotent=False, body=body))

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
        body = request(
            DeploymentUpdate,
            spec=spec,
            expected_revision=expected_revision,
            action=cast(Any, action),  # the wire's enum is the actions an update may record: request checks
            restored_from=restored_from,
            actor=actor,
            at=at,
            reason=reason,
        )
        return Deployment.model_validate(self._json("PUT", _lookup_path(name), idempotent=False, body=body))

    def delete_deployment(
        self, name: str, *, expected_revision: int | None, actor: str, at: int, reason: str | None = None
    ) -> DeploymentEvent:
        params: dict[str, Any] = {"actor": actor, "at": at}
        if expected_revision is not None:
            params["expected_revision"] = expected_revision
        if reason is not None:
            params["reason"] = reason
        return DeploymentEvent.model_validate(self._json("DELETE", _lookup_path(name), idempotent=False, params=params))

    def get_deployment(self, name: str) -> Deployment:
        return Deployment.model_validate(self._json("GET", _lookup_path(name), idempotent=True))

    def list_deployments(self) -> list[Deployment]:
        data = self._json("GET", "/deployments", idempotent=True)
        return [Deployment.model_validate(d) for d in data["deployments"]]

    def list_deployment_events(self, name: str) -> list[DeploymentEvent]:
        data = self._json("GET", _lookup_path(name) + "/history", idempotent=True)
        return [DeploymentEvent.model_validate(e) for e in data["events"]]

    def get_deployment_event(self, name: str, revision: int) -> DeploymentEvent:
        data = self._json("GET", f"{_lookup_path(name)}/revisions/{int(revision)}", idempotent=True)
        return DeploymentEvent.model_validate(data)

    # -- prediction logs ------------------------------------------------------------------------
    def add_prediction_partition(
        self, partition: PredictionLogPartition, request_ids: Sequence[str]
    ) -> PredictionLogPartition:
        fields = {"partition": partition.model_dump(), "request_ids": list(request_ids)}
        body = request(PredictionPartitionCreate.model_validate, fields)
        data = self._json("POST", "/prediction-partitions", idempotent=True, body=body)
        return PredictionLogPartition.model_validate(data)

    def list_prediction_partitions(self, endpoint: str, start_ms: int, end_ms: int) -> list[PredictionLogPartition]:
        params = {"endpoint": endpoint, "start_ms": max(0, int(start_ms)), "end_ms": max(0, int(end_ms))}
        data = self._json("GET", "/prediction-partitions", idempotent=True, params=params)
        return [PredictionLogPartition.model_validate(p) for p in data["partitions"]]

    def list_prediction_log_endpoints(self) -> list[str]:
        data = self._json("GET", "/prediction-partitions/endpoints", idempotent=True)
        return [str(name) for name in data["endpoints"]]

    def compact_prediction_partitions(
        self, endpoint: str, replaced: Sequence[str], partition: PredictionLogPartition
    ) -> PredictionLogPartition:
        fields = {"endpoint": endpoint, "replaced": list(replaced), "partition": partition.model_dump()}
        body = request(PredictionPartitionCompact.model_validate, fields)
        data = self._json("POST", "/prediction-partitions/compact", idempotent=True, body=body)
        return PredictionLogPartition.model_validate(data)

    # Maintenance deletes blobs, which only the server may do (the HTTP artifact store refuses
    # deletes): ``LogMaintainer`` refuses a server's stores before it gets here.
    def delete_prediction_partitions(
        self, endpoint: str, ids: Sequence[str], *, at: int
    ) -> list[PredictionLogPartition]:
        raise NotServed(_MAINTENANCE)

    def claim_prediction_log(self, endpoint: str, *, owner: str, at: int, lease_ms: int) -> bool:
        raise NotServed(_MAINTENANCE)

    def release_prediction_log(self, endpoint: str, *, owner: str) -> None:
        raise NotServed(_MAINTENANCE)

    def list_blob_deletions(self, endpoint: str, *, limit: int = 1000) -> list[str]:
        raise NotServed(_MAINTENANCE)

    # The SLO judged across workers needs the database: over a server each serving process judges
    # its own traffic (serving/hosting.py falls back on NotServed).
    def publish_slo_counts(self, deployment: str, worker: str, counts: dict[str, Any], *, at: int) -> None:
        raise NotServed(_SLO_ACROSS)

    def read_slo_counts(self, deployment: str) -> dict[str, dict[str, Any]]:
        raise NotServed(_SLO_ACROSS)

    def claim_slo_judge(self, deployment: str, *, owner: str, at: int, lease_ms: int) -> bool:
        raise NotServed(_SLO_ACROSS)

    def forget_blob_deletions(self, digests: Sequence[str]) -> None:
        raise NotServed(_MAINTENANCE)

    # -- feedback -------------------------------------------------------------------------------
    def record_feedback(self, items: Sequence[Feedback]) -> int:
        for f in items:
            feedback_json(f.value)  # NaN would travel as null: refuse it here, as the SQL stores do
        fields = {"items": [{"request_id": f.request_id, "value": f.value, "at": f.at} for f in items]}
        body = request(FeedbackCreate.model_validate, fields)
        return int(self._json("POST", "/feedback", idempotent=True, body=body)["recorded"])

    def get_feedback(self, request_ids: Sequence[str]) -> dict[str, Feedback]:
        ids = list(dict.fromkeys(request_ids))
        out: dict[str, Feedback] = {}
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            data = self._json(
                "POST", "/feedback/lookup", idempotent=True, body=request(FeedbackLookup, request_ids=chunk)
            )
            out.update({f["request_id"]: Feedback.model_validate(f) for f in data["feedback"]})
        return out


class RemoteLogMaintainer:
    """``LogMaintainer``'s ``compact`` and ``prune`` asked of the server (which deletes the blobs):
    ``modelyard predictions compact|prune`` against a server URL."""

    def __init__(self, store: HttpServingStore) -> None:
        self.store = store

    def _run(self, endpoint: str, **fields: Any) -> MaintenanceResult:
        from modelyard.serving.logmaint import MaintenanceResult

        path = "/prediction-logs/" + quote(validate_deployment_name(endpoint), safe="") + "/maintenance"
        data = self.store._json("POST", path, idempotent=False, body=request(PredictionLogMaintenance, **fields))
        return MaintenanceResult(**data)

    def compact(self, endpoint: str, *, before_ms: int, target_rows: int = 500_000) -> MaintenanceResult:
        return self._run(endpoint, action="compact", before_ms=max(0, before_ms), target_rows=target_rows)

    def prune(self, endpoint: str, *, before_ms: int) -> MaintenanceResult:
        return self._run(endpoint, action="prune", before_ms=max(0, before_ms))
