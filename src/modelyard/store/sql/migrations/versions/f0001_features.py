"""Features: versioned definitions (entities, views, services), materialisation runs, training-set links.

Revision ID: f0001
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f0001"
down_revision = "0001"
branch_labels = ("features",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("view_name", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("target", sa.String(256), primary_key=True),
        sa.Column("start_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("end_ms", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "feature_training_sets",
        sa.Column("dataset", sa.String(256), primary_key=True),
        sa.Column("dataset_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("view_name", sa.String(256), primary_key=True),
        sa.Column("view_version", sa.Integer, primary_key=True, autoincrement=False),
    )
    op.create_index("ix_feature_training_sets_view", "feature_training_sets", ["view_name", "view_version"])


def downgrade() -> None:
    op.drop_index("ix_feature_training_sets_view", table_name="feature_training_sets")
    op.drop_table("feature_training_sets")
    op.drop_table("feature_materializations")
    op.drop_table("feature_definitions")
