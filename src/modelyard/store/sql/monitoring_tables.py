"""Tables of the monitoring aggregate, on the shared ``schema.metadata``.

Migration ``o0001_monitoring.py`` creates them (written out by hand: a migration is a frozen
snapshot); the schema-upgrade test compares the migrated database with these definitions.

* ``monitors``: one row per monitor, its spec (JSON, rules included).
* ``monitor_windows``: the claims, primary key (monitor, window_start): the unique key that makes
  several evaluators never evaluate the same window twice.
* ``monitor_results``: one row per evaluated window, the signal values as JSON.
* ``monitor_alerts``: the current state of each alert, keyed by fingerprint.
* ``monitor_alert_events``: the append-only history of alerts (autoincrement ``seq``).
* ``monitor_silences``: silences with their matchers (JSON).
* ``reference_profiles``: one row per (model, version, role): the blob and its summary.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from modelyard.store.sql.leases import lease_columns
from modelyard.store.sql.schema import ID_LENGTH, metadata

NAME_LENGTH = 256
FINGERPRINT_LENGTH = 64

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("deployment", String(NAME_LENGTH), nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(NAME_LENGTH), nullable=False),
    Index("ix_monitors_deployment", "deployment"),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("monitor", String(NAME_LENGTH), primary_key=True),
    Column("window_start", BigInteger, primary_key=True, autoincrement=False),
    Column("window_end", BigInteger, nullable=False),
    *lease_columns(NAME_LENGTH),
    Column("done", Boolean, nullable=False),
)

monitor_results = Table(
    "monitor_results",
    metadata,
    Column("monitor", String(NAME_LENGTH), primary_key=True),
    Column("window_start", BigInteger, primary_key=True, autoincrement=False),
    Column("window_end", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("first_ms", BigInteger, nullable=True),
    Column("last_ms", BigInteger, nullable=True),
    Column("values", Text, nullable=False),
    Column("notes", Text, nullable=False),
    Column("evaluated_at", BigInteger, nullable=False),
    Column("evaluated_by", String(NAME_LENGTH), nullable=False),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("fingerprint", String(FINGERPRINT_LENGTH), primary_key=True),
    Column("monitor", String(NAME_LENGTH), nullable=False),
    Column("rule", String(NAME_LENGTH), nullable=False),
    Column("signal", String(512), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("resolved_at", BigInteger, nullable=True),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("silenced", Boolean, nullable=False),
    Index("ix_monitor_alerts_monitor", "monitor"),
)

monitor_alert_events = Table(
    "monitor_alert_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(FINGERPRINT_LENGTH), nullable=False),
    Column("monitor", String(NAME_LENGTH), nullable=False),
    Column("rule", String(NAME_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Column("detail", Text, nullable=False),
    Index("ix_monitor_alert_events_fingerprint", "fingerprint"),
    Index("ix_monitor_alert_events_monitor", "monitor"),
)

monitor_silences = Table(
    "monitor_silences",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("comment", Text, nullable=True),
)

reference_profiles = Table(
    "reference_profiles",
    metadata,
    Column("model", String(NAME_LENGTH), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("role", String(16), primary_key=True),
    Column("format", String(16), nullable=False),
    Column("digest", String(NAME_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("summary", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(NAME_LENGTH), nullable=False),
)
