"""Online stores: the plug point of the feature store's serving side (see ``base.py``).

``open_online_store(uri)`` is the one place that knows the backends: ``sqlite:///path`` (or a bare
path; the default is ``<MODELYARD_HOME>/online.db``) and ``redis://host:port/db?prefix=...``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from modelyard.core.errors import InvalidArgument
from modelyard.core.features import FeatureViewVersion
from modelyard.features.online.base import Lookup, MultiLookup, OnlineRow, OnlineStore, encode_key

__all__ = ["LazyOnlineStore", "Lookup", "OnlineRow", "OnlineStore", "encode_key", "open_online_store"]


def open_online_store(uri: str | Path) -> OnlineStore:
    """The online store ``uri`` names (InvalidArgument for an unknown scheme)."""
    text = str(uri)
    if "://" not in text:
        from modelyard.features.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore(Path(text).expanduser())
    parts = urlsplit(text)
    if parts.scheme == "sqlite":
        from modelyard.features.online.sqlite import SqliteOnlineStore

        if not text.startswith("sqlite:///"):
            raise InvalidArgument(
                f"invalid online store URI {text!r}: sqlite:///relative/path or sqlite:////absolute/path"
            )
        return SqliteOnlineStore(Path(text[len("sqlite:///") :]))
    if parts.scheme in ("redis", "rediss", "unix"):
        from modelyard.core.extras import require_extra

        require_extra("redis", purpose="a Redis online store needs redis-py")
        from modelyard.features.online.redis import RedisOnlineStore

        query = parse_qs(parts.query)
        prefix = query.pop("prefix", ["modelyard:features:"])[-1]
        rest = "&".join(f"{k}={v[-1]}" for k, v in query.items())
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
        return RedisOnlineStore(url, prefix=prefix)
    raise InvalidArgument(f"unsupported online store URI {text!r}: use sqlite:///path or redis://host:port/db")


class LazyOnlineStore(OnlineStore):
    """The online store ``uri`` names, opened on first use (a command that only lists
    definitions never connects to Redis)."""

    def __init__(self, uri: str | Path) -> None:
        self.uri = str(uri)
        self.name = "redis" if self.uri.startswith(("redis://", "rediss://", "unix://")) else "sqlite"
        self._store: OnlineStore | None = None
        self._lock = threading.Lock()

    def opened(self) -> OnlineStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_online_store(self.uri)
        return self._store

    def write(self, view: FeatureViewVersion, rows: Iterable[OnlineRow]) -> int:
        return self.opened().write(view, rows)

    def reader(self, view: FeatureViewVersion, features: Sequence[str]) -> Lookup:
        return self.opened().reader(view, features)

    def readers(self, parts: Sequence[tuple[FeatureViewVersion, Sequence[str]]]) -> MultiLookup:
        return self.opened().readers(parts)

    def drop(self, view: FeatureViewVersion) -> None:
        self.opened().drop(view)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __repr__(self) -> str:
        parts = urlsplit(self.uri)
        if parts.password:  # never show a password in a repr or a log line
            host = parts.netloc.rpartition("@")[2]
            return f"LazyOnlineStore({urlunsplit((parts.scheme, '***@' + host, parts.path, '', ''))!r})"
        return f"LazyOnlineStore({self.uri!r})"
