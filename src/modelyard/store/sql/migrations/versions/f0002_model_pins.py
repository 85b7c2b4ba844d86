"""Features: the feature service version each model version was trained on.

Revision ID: f0002
Revises: f0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f0002"
down_revision = "f0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_model_pins",
        sa.Column("model_name", sa.String(256), primary_key=True),
        sa.Column("model_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("service_version", sa.Integer, nullable=False),
        sa.Column("pinned_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_feature_model_pins_service", "feature_model_pins", ["service", "service_version"])


def downgrade() -> None:
    op.drop_index("ix_feature_model_pins_service", table_name="feature_model_pins")
    op.drop_table("feature_model_pins")
