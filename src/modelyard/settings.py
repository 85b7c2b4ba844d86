"""Settings: the only module that reads environment variables.

MODELYARD_HOME          where the embedded default keeps its files (default ./.modelyard)
MODELYARD_STORE_URI     metadata store: a path, sqlite:///..., postgresql://..., http(s)://...
MODELYARD_ARTIFACT_URI  artifact store: a local path or file://..., s3://bucket/prefix
MODELYARD_PROJECT       default project name for new runs (default "Default")
MODELYARD_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  S3-compatible storage
MODELYARD_TOKEN         bearer API token sent to an http(s):// store (a modelyard server)
MODELYARD_AUTH          server: "true" turns authentication on (``modelyard server --auth``)
MODELYARD_MAX_UPLOAD_BYTES  server: largest accepted upload (default 5 GiB)
MODELYARD_MAX_JSON_BYTES    server: largest JSON/form body of every other route (default 16 MiB)
MODELYARD_LOGIN_FREE_FAILURES        server: failed logins before backoff starts (default 5)
MODELYARD_LOGIN_MAX_BACKOFF_SECONDS  server: longest login backoff (default 900)
MODELYARD_ONLINE_STORE_URI  feature store: the online store (sqlite:///path, redis://host:port/db?prefix=...;
                        default sqlite:///<home>/online.db)
MODELYARD_HEARTBEAT_SECONDS  SDK: seconds between two heartbeats of the active runs (default 30)
MODELYARD_MONITOR_INTERVAL_SECONDS        server: evaluate the monitors every this many seconds (default off)
MODELYARD_LOG_RETENTION_INTERVAL_SECONDS  server: prune prediction logs every this many seconds (default 300)
                        (both: 0 or "off" is off; seconds are 0.001 to 86400. A bad number in any
                        variable is an InvalidArgument naming it and the expected form: one CLI line)
MODELYARD_DEBUG         CLI: "1" prints the traceback of an unexpected error (like ``--debug``)
MODELYARD_REPRODUCE_OF  set by ``modelyard reproduce`` in the training it re-runs: the id of the
                        run being reproduced (runs started then are tagged modelyard.reproduction_of)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.core.errors import InvalidArgument

DEFAULT_PROJECT = "Default"


@dataclass(frozen=True)
class Settings:
    home: Path
    store_uri: str
    artifact_uri: str
    project: str = DEFAULT_PROJECT
    s3_endpoint_url: str | None = None
    s3_key: str | None = None
    s3_secret: str | None = None
    s3_region: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: Whether MODELYARD_ARTIFACT_URI was set (with an http store the SDK otherwise uses the
    #: server's own artifact store rather than a local directory).
    artifact_uri_explicit: bool = False
    token: str | None = None
    auth: bool = False
    max_upload_bytes: int | None = None
    max_json_bytes: int | None = None
    login_free_failures: int | None = None
    login_max_backoff_seconds: int | None = None
    debug: bool = False
    reproduce_of: str | None = None
    #: fsync local artifact writes before they return (power-loss durability); off by default,
    #: as in DVC and Git: writes are atomic either way, so a killed process never leaves half a blob.
    durable_writes: bool = False
    #: The feature store's online store (None: ``<home>/online.db``, see ``online_uri``).
    online_store_uri: str | None = None
    #: Seconds between two heartbeats of the SDK's active runs (``runs list`` shows a RUNNING run
    #: whose heartbeat is much older as stale; ``runs mark-dead`` marks such runs KILLED).
    heartbeat_seconds: float = 30.0
    #: The server's continuous monitoring: every this many seconds it evaluates the due windows
    #: of every monitor (claimed through the database, so replicas share the work). None: off.
    monitor_interval_seconds: float | None = None
    #: The server's prediction-log retention: every this many seconds it prunes every deployment
    #: with ``log_retention_days`` (under each endpoint's lease, so replicas share the work). None: off.
    log_retention_interval_seconds: float | None = 300.0

    @property
    def online_uri(self) -> str:
        """The online store's URI: the one configured, else a SQLite file under the home."""
        return self.online_store_uri or f"sqlite:///{self.home / 'online.db'}"

    def s3_storage_options(self) -> dict[str, object]:
        """fsspec storage options for s3:// artifact URIs."""
        options: dict[str, object] = {}
        if self.s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": self.s3_endpoint_url}
            if self.s3_region:
                options["client_kwargs"]["region_name"] = self.s3_region  # type: ignore[index]
        if self.s3_key:
            options["key"] = self.s3_key
        if self.s3_secret:
            options["secret"] = self.s3_secret
        return options


def normalize_store_uri(uri: str) -> str:
    """A bare path means a SQLite file; URIs pass through once they parse (``http://[::1`` does
    not: it is refused here with one clear line rather than deep inside a client library)."""
    if "://" in uri:
        from urllib.parse import urlsplit

        try:
            urlsplit(uri).port  # noqa: B018 - parsing the port is what validates the authority
        except ValueError as exc:
            raise InvalidArgument(f"invalid store URI {uri!r}: {exc}") from None
        return uri
    path = Path(uri).expanduser().resolve()
    if path.suffix not in (".db", ".sqlite", ".sqlite3"):
        path = path / "modelyard.db"
    return f"sqlite:///{path}"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ) if env is None else env
    home = Path(environ.get("MODELYARD_HOME") or ".modelyard").expanduser().resolve()
    store_uri = environ.get("MODELYARD_STORE_URI") or f"sqlite:///{home / 'modelyard.db'}"
    artifact_uri = environ.get("MODELYARD_ARTIFACT_URI") or str(home / "artifacts")
    return Settings(
        home=home,
        store_uri=normalize_store_uri(store_uri),
        artifact_uri=artifact_uri,
        project=environ.get("MODELYARD_PROJECT") or DEFAULT_PROJECT,
        s3_endpoint_url=environ.get("MODELYARD_S3_ENDPOINT_URL") or environ.get("AWS_ENDPOINT_URL"),
        s3_key=environ.get("AWS_ACCESS_KEY_ID"),
        s3_secret=environ.get("AWS_SECRET_ACCESS_KEY"),
        s3_region=environ.get("AWS_DEFAULT_REGION"),
        extra={k: v for k, v in environ.items() if k.startswith("MODELYARD_TEST_")},
        online_store_uri=environ.get("MODELYARD_ONLINE_STORE_URI") or None,
        artifact_uri_explicit=bool(environ.get("MODELYARD_ARTIFACT_URI")),
        token=environ.get("MODELYARD_TOKEN") or None,
        auth=_flag(environ.get("MODELYARD_AUTH")),
        max_upload_bytes=_optional_int(environ.get("MODELYARD_MAX_UPLOAD_BYTES"), "MODELYARD_MAX_UPLOAD_BYTES"),
        max_json_bytes=_optional_int(environ.get("MODELYARD_MAX_JSON_BYTES"), "MODELYARD_MAX_JSON_BYTES"),
        login_free_failures=_optional_int(
            environ.get("MODELYARD_LOGIN_FREE_FAILURES"), "MODELYARD_LOGIN_FREE_FAILURES", low=0
        ),
        login_max_backoff_seconds=_optional_int(
            environ.get("MODELYARD_LOGIN_MAX_BACKOFF_SECONDS"), "MODELYARD_LOGIN_MAX_BACKOFF_SECONDS", low=0
        ),
        debug=_flag(environ.get("MODELYARD_DEBUG")),
        reproduce_of=environ.get("MODELYARD_REPRODUCE_OF") or None,
        durable_writes=_flag(environ.get("MODELYARD_DURABLE_WRITES")),
        heartbeat_seconds=_seconds(environ.get("MODELYARD_HEARTBEAT_SECONDS"), "MODELYARD_HEARTBEAT_SECONDS", 30.0),
        monitor_interval_seconds=_seconds_or_off(
            environ.get("MODELYARD_MONITOR_INTERVAL_SECONDS"), "MODELYARD_MONITOR_INTERVAL_SECONDS", None
        ),
        log_retention_interval_seconds=_seconds_or_off(
            environ.get("MODELYARD_LOG_RETENTION_INTERVAL_SECONDS"), "MODELYARD_LOG_RETENTION_INTERVAL_SECONDS", 300.0
        ),
    )


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def _seconds(text: str | None, name: str, default: float, *, or_off: bool = False) -> float:
    """A number of seconds from the environment (``default`` when unset)."""
    if not text:
        return default
    form = "a number of seconds from 0.001 to 86400 (e.g. 30)" + (", or 0/off" if or_off else "")
    try:
        number = float(text.strip())
    except ValueError:
        raise InvalidArgument(f"{name} must be {form}, got {text[:40]!r}") from None
    if not 0.001 <= number <= 86_400:
        raise InvalidArgument(f"{name} must be {form}, got {text[:40]!r}")
    return number


def _seconds_or_off(text: str | None, name: str, default: float | None) -> float | None:
    """``_seconds``, where 0 or "off" turns the thing off (None); unset: ``default``."""
    if not text:
        return default
    if text.strip().lower() == "off":
        return None
    with contextlib.suppress(ValueError):
        if float(text.strip()) == 0:
            return None
    return _seconds(text, name, 0.0, or_off=True)


def _optional_int(text: str | None, name: str, *, low: int = 1, high: int = 2**62) -> int | None:
    if not text:
        return None
    try:
        number = int(text.strip())
    except ValueError:
        raise InvalidArgument(f"{name} must be a whole number from {low} to {high}, got {text[:40]!r}") from None
    if not low <= number <= high:
        raise InvalidArgument(f"{name} must be a whole number from {low} to {high}, got {text[:40]!r}")
    return number


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``overrides``: what a child process (``modelyard reproduce``
    re-running a training script) is started with."""
    return {**os.environ, **overrides}


def environment_variables() -> dict[str, str]:
    """This process's environment, for values a configuration names by reference rather than
    holds (a monitor's notifier secrets: ``env:NAME``, ``${NAME}``), read when they are used."""
    return dict(os.environ)


def export_environment(values: dict[str, str]) -> None:
    """Set variables for this process and its children: ``modelyard server`` hands its options to
    uvicorn's worker processes this way, since workers build the app from settings."""
    os.environ.update(values)
