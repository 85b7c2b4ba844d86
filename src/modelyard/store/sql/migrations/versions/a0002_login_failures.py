"""Auth: failed-login counts for the login backoff.

Revision ID: a0002
Revises: a0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("failures", sa.BigInteger, nullable=False),
        sa.Column("last_failure_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_failures_last", "login_failures", ["last_failure_at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_last", table_name="login_failures")
    op.drop_table("login_failures")
