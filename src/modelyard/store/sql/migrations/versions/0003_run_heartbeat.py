"""Tracking: a run's heartbeat, so that a run whose process died is seen (and can be marked KILLED).

``runs.heartbeat_at`` (epoch ms, NULL for runs recorded before this revision) is refreshed by
the SDK while a run is active; RUNNING runs are found by it (``ix_runs_status_heartbeat``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("heartbeat_at", sa.BigInteger(), nullable=True))
    op.create_index("ix_runs_status_heartbeat", "runs", ["status", "heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_status_heartbeat", table_name="runs")
    with op.batch_alter_table("runs") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("heartbeat_at")
