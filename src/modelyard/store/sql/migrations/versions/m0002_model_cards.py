"""Model cards and evaluations: the edited fields of a version's card, and its recorded evaluations.

Revision ID: m0002
Revises: m0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_cards",
        sa.Column("version_id", sa.String(64), sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "model_evaluations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.String(64), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("digest", sa.String(256), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_model_evaluations_version_created", "model_evaluations", ["version_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_model_evaluations_version_created", table_name="model_evaluations")
    op.drop_table("model_evaluations")
    op.drop_table("model_cards")
