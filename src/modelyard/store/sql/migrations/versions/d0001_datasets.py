"""Datasets: datasets, immutable numbered versions (manifest digests), lineage edges.

Revision ID: d0001
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d0001"
down_revision = "0001"
branch_labels = ("datasets",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("manifest_digest", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("file_count", sa.BigInteger, nullable=False),
        sa.Column("total_size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("code", sa.Text, nullable=True),
        sa.Column("params", sa.Text, nullable=True),
        sa.Column("removed_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["manifest_digest"])
    op.create_table(
        "dataset_version_parents",
        sa.Column("dataset_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("parent_dataset_id", sa.String(64), primary_key=True),
        sa.Column("parent_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.ForeignKeyConstraint(["dataset_id", "version"], ["dataset_versions.dataset_id", "dataset_versions.version"]),
        sa.ForeignKeyConstraint(
            ["parent_dataset_id", "parent_version"], ["dataset_versions.dataset_id", "dataset_versions.version"]
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_dataset_version_parents_parent", "dataset_version_parents", ["parent_dataset_id", "parent_version"]
    )


def downgrade() -> None:
    op.drop_table("dataset_version_parents")
    op.drop_index("ix_dataset_versions_digest", table_name="dataset_versions")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
