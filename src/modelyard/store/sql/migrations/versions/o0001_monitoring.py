"""Monitoring: monitors, window claims and results, alerts and their history, silences,
reference profiles of model versions.

Revision ID: o0001
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "o0001"
down_revision = "0001"
branch_labels = ("monitoring",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("deployment", sa.String(256), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_monitors_deployment", "monitors", ["deployment"])
    op.create_table(
        "monitor_windows",
        sa.Column("monitor", sa.String(256), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("claimed_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
    )
    op.create_table(
        "monitor_results",
        sa.Column("monitor", sa.String(256), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("first_ms", sa.BigInteger, nullable=True),
        sa.Column("last_ms", sa.BigInteger, nullable=True),
        sa.Column("values", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("evaluated_at", sa.BigInteger, nullable=False),
        sa.Column("evaluated_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("monitor", sa.String(256), nullable=False),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("signal", sa.String(512), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("silenced", sa.Boolean, nullable=False),
    )
    op.create_index("ix_monitor_alerts_monitor", "monitor_alerts", ["monitor"])
    op.create_table(
        "monitor_alert_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("monitor", sa.String(256), nullable=False),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_monitor_alert_events_fingerprint", "monitor_alert_events", ["fingerprint"])
    op.create_index("ix_monitor_alert_events_monitor", "monitor_alert_events", ["monitor"])
    op.create_table(
        "monitor_silences",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
    )
    op.create_table(
        "reference_profiles",
        sa.Column("model", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(256), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reference_profiles")
    op.drop_table("monitor_silences")
    op.drop_index("ix_monitor_alert_events_monitor", table_name="monitor_alert_events")
    op.drop_index("ix_monitor_alert_events_fingerprint", table_name="monitor_alert_events")
    op.drop_table("monitor_alert_events")
    op.drop_index("ix_monitor_alerts_monitor", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_results")
    op.drop_table("monitor_windows")
    op.drop_index("ix_monitors_deployment", table_name="monitors")
    op.drop_table("monitors")
