"""Initial schema: projects, runs, params, tags, metric history, latest metrics, inputs, artifacts.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _run_id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True)


def upgrade() -> None:
    no_rowid = {"sqlite_with_rowid": False}
    op.create_table(
        "projects",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("parent_run_id", sa.String(64), nullable=True),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text, nullable=True),
    )
    op.create_index("ix_runs_project_stage_start", "runs", ["project_id", "lifecycle_stage", "start_time"])
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"])
    for name in ("params", "tags"):
        op.create_table(
            name,
            _run_id(),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            **no_rowid,
        )
    op.create_table(
        "metrics",
        _run_id(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("timestamp", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("value", sa.Double(), primary_key=True),
        sa.Column("is_nan", sa.Boolean(create_constraint=False), primary_key=True),
        **no_rowid,
    )
    op.create_table(
        "latest_metrics",
        _run_id(),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("is_nan", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        **no_rowid,
    )
    op.create_table(
        "run_inputs",
        _run_id(),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("version", sa.String(256), primary_key=True),
        sa.Column("context", sa.String(256), primary_key=True),
        sa.Column("digest", sa.String(256), nullable=True),
        sa.Column("source", sa.Text, nullable=True),
        **no_rowid,
    )
    op.create_table(
        "run_artifacts",
        _run_id(),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("digest", sa.String(256), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        **no_rowid,
    )


def downgrade() -> None:
    for name in ("run_artifacts", "run_inputs", "latest_metrics", "metrics", "tags", "params", "runs", "projects"):
        op.drop_table(name)
