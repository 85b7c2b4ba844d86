"""The Redis online store: one key per entity and view version, the row as one JSON array.

Key ``<prefix><view>@v<N>:<encoded entity key>``, value ``[event_ms, v0, v1, ...]`` (orjson). A
lookup is one ``MGET`` of every key asked for, of every view read together (``readers``), on a
connection kept for reads (no pool checkout per read); a
write runs a small Lua script per row in a pipeline, which replaces the stored row only when the
new one is not older (compared on the server, so concurrent materialisations and stream pushes
cannot lose the newest row). The prefix
(``?prefix=`` in the URI, default ``modelyard:features:``) keeps deployments, and tests, apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis

from modelyard.core.errors import InvalidArgument, StoreUnavailable
from modelyard.core.features import FeatureViewVersion
from modelyard.features.online.base import Lookup, MultiLookup, OnlineRow, OnlineStore

__all__ = ["RedisOnlineStore"]

_BATCH = 5_000
# KEYS[1] the row's key; ARGV[1] its event time, ARGV[2] the encoded row. Newer or equal wins.
_NEWEST_WINS = """
local old = redis.call('GET', KEYS[1])
if old then
  local ts = tonumber(string.match(old, '^%[(%-?%d+)'))
  if ts and ts > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


class RedisOnlineStore(OnlineStore):
    name = "redis"

    def __init__(self, url: str, *, prefix: str = "modelyard:features:") -> None:
        self.url = url
        self.prefix = prefix
        try:
            self.client = redis.Redis.from_url(url)
            self.client.ping()
            # Online reads, the hot path, keep one connection of their own (behind the client's
            # lock): no pool checkout and liveness probe (three system calls) per read.
            self._reads = redis.Redis.from_url(url, single_connection_client=True)
        except (redis.RedisError, ValueError) as exc:
            where = url.rpartition("@")[2]  # never the password
            raise StoreUnavailable(f"cannot reach the Redis online store {where}: {exc}") from None
        self._script = self.client.register_script(_NEWEST_WINS)

    def _prefix(self, view: FeatureViewVersion) -> str:
        return f"{self.prefix}{view.name}@v{view.version}:"

    def write(self, view: FeatureViewVersion, rows: Iterable[OnlineRow]) -> int:
        n = len(view.definition.features)
        prefix = self._prefix(view)
        written = 0
        pipe = self.client.pipeline(transaction=False)
        pending = 0
        for key, event_ms, values in rows:
            if len(values) != n:
                raise InvalidArgument(f"{view.ref}: a row has {len(values)} values for {n} features")
            body = orjson.dumps([int(event_ms), *values], option=orjson.OPT_SERIALIZE_NUMPY)
            self._script(keys=[prefix + key], args=[int(event_ms), body], client=pipe)
            pending += 1
            if pending >= _BATCH:
                pipe.execute()
                written += pending
                pending = 0
        if pending:
            pipe.execute()
            written += pending
        return written

    def reader(self, view: FeatureViewVersion, features: Sequence[str]) -> Lookup:
        one = self.readers([(view, features)])
        return lambda keys: one([keys])[0]

    def readers(self, parts: Sequence[tuple[FeatureViewVersion, Sequence[str]]]) -> MultiLookup:
        prefixes = [self._prefix(view) for view, _ in parts]
        indexes = []
        for view, features in parts:
            names = [f.name for f in view.definition.features]
            indexes.append([names.index(f) + 1 for f in features])  # +1: the event time comes first
        mget = self._reads.mget
        loads = orjson.loads

        def lookup(keys: Sequence[Sequence[str]]) -> list[list[tuple[int, tuple[Any, ...]] | None]]:
            wanted = [prefix + k for prefix, ks in zip(prefixes, keys, strict=True) for k in ks]
            raws: list[bytes | None] = mget(wanted) if wanted else []  # type: ignore[assignment]
            out: list[list[tuple[int, tuple[Any, ...]] | None]] = []
            at = 0
            for index, ks in zip(indexes, keys, strict=True):
                hits: list[tuple[int, tuple[Any, ...]] | None] = []
                for raw in raws[at : at + len(ks)]:
                    if raw is None:
                        hits.append(None)
                        continue
                    row = loads(raw)
                    hits.append((row[0], tuple(row[i] for i in index)))
                out.append(hits)
                at += len(ks)
            return out

        return lookup

    def drop(self, view: FeatureViewVersion) -> None:
        keys = list(self.client.scan_iter(match=self._prefix(view).replace("*", "\\*") + "*", count=1000))
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])

    def close(self) -> None:
        self._reads.close()
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self.url.rpartition('@')[2]!r}, prefix={self.prefix!r})"
