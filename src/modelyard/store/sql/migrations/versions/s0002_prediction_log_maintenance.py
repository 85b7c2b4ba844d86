"""Prediction-log maintenance: the per-endpoint claim of a compactor or pruner, and the queue of
blobs to delete once their index rows are gone.

Revision ID: s0002
Revises: s0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_log_claims",
        sa.Column("endpoint", sa.String(256), primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("claimed_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "prediction_blob_deletions",
        sa.Column("digest", sa.String(256), primary_key=True),
        sa.Column("endpoint", sa.String(256), nullable=False),
        sa.Column("queued_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prediction_blob_deletions")
    op.drop_table("prediction_log_claims")
