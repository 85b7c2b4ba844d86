"""Model registry: registered models, versions and their files, aliases, approvals, events, policies.

Revision ID: m0001
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = "0001"
branch_labels = ("models",)
depends_on = None


def upgrade() -> None:
    no_rowid = {"sqlite_with_rowid": False}
    op.create_table(
        "registered_models",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
    )
    op.create_index("ix_registered_models_project", "registered_models", ["project_id"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("model_id", sa.String(64), sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("manifest_digest", sa.String(256), nullable=False),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("decommissioned_at", sa.BigInteger, nullable=True),
        sa.Column("purge_after", sa.BigInteger, nullable=True),
        sa.Column("purged_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    )
    op.create_index("ix_model_versions_model_state", "model_versions", ["model_id", "state"])
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_version_files",
        sa.Column("version_id", sa.String(64), sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("digest", sa.String(256), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        **no_rowid,
    )
    op.create_index("ix_model_version_files_digest", "model_version_files", ["digest"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.String(64), sa.ForeignKey("registered_models.id"), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        **no_rowid,
    )
    op.create_table(
        "model_approvals",
        sa.Column("version_id", sa.String(64), sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("approver", sa.String(256), primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        **no_rowid,
    )
    op.create_table(
        "model_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(64), sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("alias", sa.String(64), nullable=True),
        sa.Column("from_version", sa.Integer, nullable=True),
    )
    op.create_index("ix_model_events_model_version_at", "model_events", ["model_id", "version", "at"])
    op.create_table(
        "registry_policies",
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("required_approvals", sa.Integer, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    for name in (
        "registry_policies",
        "model_events",
        "model_approvals",
        "model_aliases",
        "model_version_files",
        "model_versions",
        "registered_models",
    ):
        op.drop_table(name)
