"""Tables of the serving aggregate, on the shared ``schema.metadata``.

Migration ``s0001_serving.py`` creates them (written out by hand: a migration is a frozen
snapshot); the contract suite compares the migrated database with these definitions.

* ``deployments``: one row per name, the current revision and its spec (JSON). A deleted
  deployment keeps its row with ``deleted_at`` set, so its revision numbers continue if the name is
  created again. Every change is an UPDATE guarded by ``revision = expected`` (compare-and-set).
* ``deployment_revisions``: append-only, one row per revision with its action, who, when, why and
  the spec it set (NULL for a delete). Before/after of a change are two consecutive rows.
* ``prediction_partitions``: one row per Parquet blob of logged predictions, indexed by endpoint
  and time so a time-range read touches only the partitions it needs.
* ``prediction_requests``: the request ids each partition holds (what feedback is checked against).
* ``prediction_feedback``: ground truth by request id (JSON value), upserted.
* ``prediction_log_claims`` (``s0002``): one row per endpoint whose log is being maintained
  (compacted or pruned): the owner and when its lease expires. Insert-unique, taken over once
  expired, as monitoring claims windows.
* ``prediction_blob_deletions`` (``s0002``): blobs whose index rows are gone (compacted or pruned),
  queued in the transaction that removed the rows and forgotten once deleted, so a crash between
  the two leaves a queued deletion for the next maintenance run, never a blob behind.
* ``slo_counts`` (``s0003``): one row per (deployment, serving worker): the worker's cumulative
  request, 5xx and latency-bucket counts per variant (JSON), rewritten about once a second, so one
  judge sums every worker's and replica's traffic.
* ``slo_judge_claims`` (``s0003``): one row per deployment whose SLO is being judged: the judging
  worker and when its lease expires (the same insert-unique lease as ``prediction_log_claims``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from modelyard.store.sql.leases import lease_columns
from modelyard.store.sql.schema import ID_LENGTH, metadata

NAME_LENGTH = 256
REQUEST_ID_LENGTH = 128
DIGEST_LENGTH = 256

deployments = Table(
    "deployments",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(NAME_LENGTH), nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
)

deployment_revisions = Table(
    "deployment_revisions",
    metadata,
    Column("deployment", String(NAME_LENGTH), primary_key=True),
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("action", String(16), nullable=False),
    Column("actor", String(NAME_LENGTH), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    Column("restored_from", Integer, nullable=True),
    Column("spec", Text, nullable=True),
)

prediction_partitions = Table(
    "prediction_partitions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("endpoint", String(NAME_LENGTH), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("digest", String(DIGEST_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_prediction_partitions_endpoint_start", "endpoint", "start_ms"),
)

prediction_requests = Table(
    "prediction_requests",
    metadata,
    Column("request_id", String(REQUEST_ID_LENGTH), primary_key=True),
    Column("endpoint", String(NAME_LENGTH), nullable=False),
    Column("partition_id", String(ID_LENGTH), nullable=False),
    Index("ix_prediction_requests_partition", "partition_id"),
)

prediction_feedback = Table(
    "prediction_feedback",
    metadata,
    Column("request_id", String(REQUEST_ID_LENGTH), primary_key=True),
    Column("endpoint", String(NAME_LENGTH), nullable=False),
    Column("value", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
)


def lease_table(name: str, key: str) -> Table:
    """A claims table: one insert-unique, expiring lease per ``key`` (``leases.LeaseClaim``)."""
    return Table(name, metadata, Column(key, String(NAME_LENGTH), primary_key=True), *lease_columns(NAME_LENGTH))


prediction_log_claims = lease_table("prediction_log_claims", "endpoint")

prediction_blob_deletions = Table(
    "prediction_blob_deletions",
    metadata,
    Column("digest", String(DIGEST_LENGTH), primary_key=True),
    Column("endpoint", String(NAME_LENGTH), nullable=False),
    Column("queued_at", BigInteger, nullable=False),
)

slo_counts = Table(
    "slo_counts",
    metadata,
    Column("deployment", String(NAME_LENGTH), primary_key=True),
    Column("worker", String(NAME_LENGTH), primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("counts", Text, nullable=False),
)

slo_judge_claims = lease_table("slo_judge_claims", "deployment")
