"""SLO across workers: each serving worker's cumulative counts per deployment, and the claim of
the one worker that judges a deployment's SLO (a lease, as for prediction-log maintenance).

Revision ID: s0003
Revises: s0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slo_counts",
        sa.Column("deployment", sa.String(256), primary_key=True),
        sa.Column("worker", sa.String(256), primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
    )
    op.create_table(
        "slo_judge_claims",
        sa.Column("deployment", sa.String(256), primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("claimed_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slo_judge_claims")
    op.drop_table("slo_counts")
