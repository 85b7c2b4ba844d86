"""Serving: deployments and their revisions, the prediction-log index, feedback.

Revision ID: s0001
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = "0001"
branch_labels = ("serving",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "deployment_revisions",
        sa.Column("deployment", sa.String(256), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("restored_from", sa.Integer, nullable=True),
        sa.Column("spec", sa.Text, nullable=True),
    )
    op.create_table(
        "prediction_partitions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(256), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_prediction_partitions_endpoint_start", "prediction_partitions", ["endpoint", "start_ms"])
    op.create_table(
        "prediction_requests",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("partition_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_prediction_requests_partition", "prediction_requests", ["partition_id"])
    op.create_table(
        "prediction_feedback",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prediction_feedback")
    op.drop_index("ix_prediction_requests_partition", table_name="prediction_requests")
    op.drop_table("prediction_requests")
    op.drop_index("ix_prediction_partitions_endpoint_start", table_name="prediction_partitions")
    op.drop_table("prediction_partitions")
    op.drop_table("deployment_revisions")
    op.drop_table("deployments")
