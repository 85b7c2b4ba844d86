"""Features: the profile (an artifact digest) of each view's features in a saved training set.

Revision ID: f0004
Revises: f0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f0004"
down_revision = "f0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feature_training_sets") as batch:
        batch.add_column(sa.Column("profile_digest", sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feature_training_sets") as batch:
        batch.drop_column("profile_digest")
