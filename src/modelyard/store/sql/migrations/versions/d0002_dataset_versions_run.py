"""Datasets: the run a version was added inside, as an indexed column (``run_id``).

``code`` is free text (``run:<id>`` inside a run, otherwise a script, a commit, a step name) and
may be long, so it is not indexed itself (a PostgreSQL B-tree refuses entries over ~2.7 kB).
The run id is parsed out of it into ``run_id`` instead, on insert, and backfilled here for the
versions recorded before, so "which dataset versions did this run produce?" is one index probe.

Revision ID: d0002
Revises: d0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d0002"
down_revision = "d0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dataset_versions", sa.Column("run_id", sa.String(64), nullable=True))
    # The same rule as store/sql/datasets.py's run_id_of_code, frozen here: 'run:' (case
    # sensitive, hence substr rather than LIKE, which ignores case on SQLite) and an id of 1 to
    # 64 characters (no run id is longer).
    op.execute(
        "UPDATE dataset_versions SET run_id = substr(code, 5) "
        "WHERE substr(code, 1, 4) = 'run:' AND length(code) BETWEEN 5 AND 68"
    )
    op.create_index("ix_dataset_versions_run", "dataset_versions", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_dataset_versions_run", table_name="dataset_versions")
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("run_id")
