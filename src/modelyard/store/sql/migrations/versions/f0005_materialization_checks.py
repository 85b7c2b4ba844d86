"""Features: the expectations the rows of each materialisation run failed (a JSON list).

Revision ID: f0005
Revises: f0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f0005"
down_revision = "f0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feature_materializations") as batch:
        batch.add_column(sa.Column("failed_checks", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feature_materializations") as batch:
        batch.drop_column("failed_checks")
