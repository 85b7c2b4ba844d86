"""Tracking: index run inputs by dataset (name, version), for "which runs read NAME@vN?".

The primary key of ``run_inputs`` starts with ``run_id``, which answers "what did this run read"
but not the reverse question the lineage graph's downstream walk asks; without this index that
question scanned every input of every run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = ("tracking",)
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_inputs_name_version", "run_inputs", ["name", "version"])


def downgrade() -> None:
    op.drop_index("ix_run_inputs_name_version", table_name="run_inputs")
