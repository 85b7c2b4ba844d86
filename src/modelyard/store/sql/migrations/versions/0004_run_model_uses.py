"""Tracking: the model versions a run used (``run_model_uses``), for "which runs used NAME@N?".

Batch scoring records the model version it predicted with; the lineage graph's downstream walk
(model version -> the runs that used it) looks it up by ``ix_run_model_uses_model`` instead of
searching every run's tags. Runs scored before this revision carry only the
``modelyard.model_version_used`` tag (``NAME@N``): those tags are copied in, context ``scoring``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TAG = "modelyard.model_version_used"  # tracking.sysinfo.TAG_MODEL_VERSION_USED, as of this revision
_MAX_VERSION = 2**31 - 1


def upgrade() -> None:
    table = op.create_table(
        "run_model_uses",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("model_name", sa.String(256), primary_key=True),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("context", sa.String(256), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_run_model_uses_model", "run_model_uses", ["model_name", "model_version"])
    tags = sa.table("tags", sa.column("run_id", sa.String), sa.column("key", sa.String), sa.column("value", sa.Text))
    rows = []
    for run_id, value in op.get_bind().execute(sa.select(tags.c.run_id, tags.c.value).where(tags.c.key == _TAG)):
        name, _, number = (value or "").rpartition("@")
        if name and len(name) <= 256 and number.isascii() and number.isdigit() and 1 <= int(number) <= _MAX_VERSION:
            rows.append({"run_id": run_id, "model_name": name, "model_version": int(number), "context": "scoring"})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_run_model_uses_model", table_name="run_model_uses")
    op.drop_table("run_model_uses")
