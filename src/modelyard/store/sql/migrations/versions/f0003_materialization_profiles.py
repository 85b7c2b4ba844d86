"""Features: the statistics profile (an artifact digest) of each materialisation run.

Revision ID: f0003
Revises: f0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f0003"
down_revision = "f0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feature_materializations") as batch:
        batch.add_column(sa.Column("profile_digest", sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feature_materializations") as batch:
        batch.drop_column("profile_digest")
