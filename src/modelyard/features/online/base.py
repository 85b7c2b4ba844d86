"""``OnlineStore``: the latest feature values of each entity, per view version, for serving.

One small module per backend (``sqlite.py``, the default; ``redis.py``), opened by
``open_online_store(uri)`` in this package's ``__init__``, the one place that knows them. The
service materialises into a store (``write``) and reads from it (``reader``); it never asks which
backend it has.

The contract, which ``tests/contract/test_online_store_contract.py`` checks on every backend:

* ``write(view, rows)``: ``rows`` are ``(key, event_ms, values)``: ``key`` the entity key as
  ``encode_key`` makes it, ``values`` one value per feature of the view, in the view's order.
  Per key, the row with the newest event time wins, whatever the order rows arrive in, across
  calls too (a late, older row never replaces a newer one); an equal time replaces. Returns the
  number of rows given. Values are JSON scalars (None, bool, int, float, str).
* ``reader(view, features)``: a prepared lookup of those features (a subset of the view's, in
  any order): called with a list of keys, it returns, per key, ``(event_ms, values)`` or None
  when the store has no row for it. Lookups cost one round trip per call, whatever the number of
  keys; the lookup does no per-call planning.
* ``readers(parts)``: the prepared lookup of several views read together (an online read of a
  service's features touches each of its views): called with one key list per view, it returns
  one hit list per view. The default calls each view's ``reader`` in turn; a store that can
  answer them all in one round trip (Redis: one MGET) does so.
* A view version's rows are kept apart from every other version's (``view@v1`` and ``view@v2``
  never share a row), and ``drop(view)`` removes one version's rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from modelyard.core.features import FeatureViewVersion

__all__ = ["Lookup", "MultiLookup", "OnlineRow", "OnlineStore", "encode_key"]

#: One row to write: (encoded entity key, event time in ms, values in the view's feature order).
OnlineRow = tuple[str, int, Sequence[Any]]
#: A prepared lookup: keys -> per key (event_ms, values of the requested features) or None.
Lookup = Callable[[Sequence[str]], list[tuple[int, tuple[Any, ...]] | None]]
#: Prepared lookups of several views: one key list per view -> one hit list per view.
MultiLookup = Callable[[Sequence[Sequence[str]]], list[list[tuple[int, tuple[Any, ...]] | None]]]


def _part(value: Any) -> str:
    # Types are kept apart (1 and "1" are different keys); an integral float is its integer, so a
    # key read from JSON (1) and from a float column (1.0) is the same key.
    if isinstance(value, bool):
        return f"b{int(value)}"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, float):
        return f"i{int(value)}" if value.is_integer() else f"f{value!r}"
    if isinstance(value, str):
        return f"s{value}"
    if hasattr(value, "item"):  # a numpy scalar
        return _part(value.item())
    return f"s{value}"


def encode_key(values: Sequence[Any]) -> str:
    """An entity key (the values of its join keys, in order) as one string; None in any part
    means no key (the caller treats the row as not found)."""
    return "\x1f".join(_part(v) for v in values)


class OnlineStore(ABC):
    """The latest values per entity key and view version (see the module docstring)."""

    #: What materialisation runs record as their target (``sqlite``, ``redis``).
    name: str

    @abstractmethod
    def write(self, view: FeatureViewVersion, rows: Iterable[OnlineRow]) -> int: ...

    @abstractmethod
    def reader(self, view: FeatureViewVersion, features: Sequence[str]) -> Lookup: ...

    def readers(self, parts: Sequence[tuple[FeatureViewVersion, Sequence[str]]]) -> MultiLookup:
        """The lookup of ``features`` of each ``(view, features)`` of ``parts``, together."""
        lookups = [self.reader(view, features) for view, features in parts]

        def lookup(keys: Sequence[Sequence[str]]) -> list[list[tuple[int, tuple[Any, ...]] | None]]:
            return [one(k) if k else [] for one, k in zip(lookups, keys, strict=True)]

        return lookup

    @abstractmethod
    def drop(self, view: FeatureViewVersion) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
