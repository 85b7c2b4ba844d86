"""The in-memory engine of the point-in-time join: sorted (key, time) codes and ``np.searchsorted``.

The same rules as the DuckDB ASOF query (``features/offline.py``), for inputs that fit in memory:
each entity row takes, per view, the view's row with equal keys and the newest timestamp at or
before its own (a tie between rows with the same keys and timestamp: one of them, unspecified), and
a null past the TTL. A row whose key or timestamp is null matches nothing; every entity row is kept,
in its order.

How: the join keys of the entity rows and of a view are coded together into one integer per row
(an integer key by its offset from the smallest, anything else by a joint dictionary encoding; several
keys combine into one code). With the times as integers in one unit, ``code * span + (t - t_min)``
orders rows by key, then time (when that would overflow 64 bits, the times are replaced by their
dense ranks, which order the same). View rows whose key no entity row has are dropped first (a
presence table of the entity codes, when the codes are few enough for one). One sort of the view's
codes, one ``searchsorted`` of the entity rows' codes (sorted first: probes in order are
cache-friendly), then a key-equality and a TTL mask; the features are gathered with Arrow ``take``
(a null index gives a null), so the result is built as Arrow, without pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Rows", "asof_indices", "gather"]

_LIMIT = 2**62  # codes stay below this: products never overflow int64


@dataclass(frozen=True)
class Rows:
    """One side of the join: its key columns (in join-key order) and its timestamps (an Arrow
    timestamp or date column; time-zone aware ones are instants, compared as such)."""

    keys: Sequence[pa.Array | pa.ChunkedArray]
    times: pa.Array | pa.ChunkedArray


def _instants(column: pa.Array, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """Times as int64 counts of ``unit`` since the epoch (UTC for aware ones), valid mask."""
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("s")).cast(pa.timestamp(unit))
    elif column.type.unit != unit:  # finer to coarser truncates, as DuckDB's cast does
        column = column.cast(pa.timestamp(unit, column.type.tz), safe=False)
    return _ints(column.cast(pa.int64()))


def _single(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _ints(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(values as int64 with nulls as 0, valid mask)."""
    valid = np.ones(len(column), dtype=bool) if column.null_count == 0 else _mask(column)
    values = pc.fill_null(column, 0) if column.null_count else column
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64), valid


def _mask(column: pa.Array) -> np.ndarray:
    return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _common(a: pa.Array, b: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Both key columns in one Arrow type (numbers compare by value, text with text)."""
    if pa.types.is_dictionary(a.type):
        a = a.dictionary_decode()
    if pa.types.is_dictionary(b.type):
        b = b.dictionary_decode()
    if a.type == b.type:
        return a, b
    if pa.types.is_null(a.type):  # nulls only (an all-None column): they take the other's type
        return a.cast(b.type), b
    if pa.types.is_null(b.type):
        return a, b.cast(a.type)
    ta, tb = a.type, b.type
    if pa.types.is_integer(ta) and pa.types.is_integer(tb):
        target: pa.DataType = pa.int64()
    elif (pa.types.is_integer(ta) or pa.types.is_floating(ta)) and (
        pa.types.is_integer(tb) or pa.types.is_floating(tb)
    ):
        target = pa.float64()
    elif pa.types.is_string(ta) or pa.types.is_large_string(ta) or pa.types.is_string_view(ta):
        target = pa.large_string()
    else:
        target = ta
    return a.cast(target), b.cast(target)


def _key_codes(left: pa.Array, right: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Codes of one key column on both sides (equal values, equal codes), valid masks, and the
    number of codes."""
    left, right = _common(left, right)
    if pa.types.is_integer(left.type):
        lv, lm = _ints(left)
        rv, rm = _ints(right)
        if lm.any() and rm.any():
            ls, rs = (lv if left.null_count == 0 else lv[lm]), (rv if right.null_count == 0 else rv[rm])
            low, high = min(int(ls.min()), int(rs.min())), max(int(ls.max()), int(rs.max()))
            if high - low < 2**31:  # the offsets are the codes: no hashing
                return lv - low, rv - low, lm, rm, high - low + 1
    encoded = pc.dictionary_encode(pa.concat_arrays([left, right]))
    codes, valid = _ints(encoded.indices)
    n = len(left)
    return codes[:n], codes[n:], valid[:n], valid[n:], max(len(encoded.dictionary), 1)


def _codes(
    left: Sequence[pa.Array], right: Sequence[pa.Array]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """One code per row for all the join keys together (both sides, joint), valid masks, count."""
    if len(left) == 1:  # one key: its codes are the codes
        return _key_codes(left[0], right[0])
    lc = np.zeros(len(left[0]), np.int64)
    rc = np.zeros(len(right[0]), np.int64)
    lm = np.ones(len(lc), bool)
    rm = np.ones(len(rc), bool)
    count = 1
    for a, b in zip(left, right, strict=True):
        ac, bc, am, bm, m = _key_codes(a, b)
        if count * m >= _LIMIT:  # renumber the codes so far densely before combining
            _, inverse = np.unique(np.concatenate([lc, rc]), return_inverse=True)
            lc, rc = inverse[: len(lc)].astype(np.int64), inverse[len(lc) :].astype(np.int64)
            count = int(inverse.max()) + 1 if len(inverse) else 1
        lc, rc = lc * m + ac, rc * m + bc
        lm &= am
        rm &= bm
        count *= m
    return lc, rc, lm, rm, count


def asof_indices(entity: Rows, view: Rows, ttl: int | None, unit: str = "us") -> tuple[np.ndarray, np.ndarray]:
    """For every entity row, the index of the view row it takes and whether it takes one.

    The times compare in ``unit`` (``"us"``, ``"ns"``); ``ttl`` is in that unit too (a view row
    older than ``t - ttl`` is not taken)."""
    ecode, vcode, em, vm, count = _codes([_single(k) for k in entity.keys], [_single(k) for k in view.keys])
    ets, etm = _instants(_single(entity.times), unit)
    vts, vtm = _instants(_single(view.times), unit)
    em &= etm
    vm &= vtm
    if count <= 4 * (len(ecode) + len(vcode)):  # prune the view to the keys the entity rows have
        present = np.zeros(count, bool)
        present[ecode[em]] = True
        vm &= present[vcode]
    n = len(ecode)
    index = np.zeros(n, np.int64)
    taken = np.zeros(n, bool)
    if not em.any() or not vm.any():
        return index, taken
    every_e, every_v = bool(em.all()), bool(vm.all())  # no nulls: no copies of the usable rows
    rows = None if every_v else np.flatnonzero(vm)  # the view's usable rows (original positions)
    v_code = vcode if rows is None else vcode[rows]
    v_ts = vts if rows is None else vts[rows]
    e_ts = ets if every_e else ets[em]
    low = min(int(e_ts.min()), int(v_ts.min()))
    span = max(int(e_ts.max()), int(v_ts.max())) - low + 1
    if count * span < _LIMIT:
        e_off, v_off = ets - low, v_ts - low
    else:  # dense ranks of the times order the same and keep the codes in range
        _, inverse = np.unique(np.concatenate([e_ts, v_ts]), return_inverse=True)
        e_off = np.zeros(n, np.int64)
        e_off[em] = inverse[: len(e_ts)]
        v_off = inverse[len(e_ts) :].astype(np.int64)
        span = int(inverse.max()) + 1
    v_comp = v_code * span
    v_comp += v_off  # in place: one 8-byte-per-row array fewer
    order = np.argsort(v_comp)
    v_sorted = v_comp[order]
    e_comp = ecode * span + e_off
    if every_e:
        probes = np.argsort(e_comp)
    else:
        probes = np.flatnonzero(em)
        probes = probes[np.argsort(e_comp[probes])]
    pos = np.searchsorted(v_sorted, e_comp[probes], side="right") - 1
    hit = pos >= 0
    found = order[np.maximum(pos, 0)]
    if rows is not None:
        found = rows[found]
    hit &= vcode[found] == ecode[probes]
    if ttl is not None:
        hit &= vts[found] >= ets[probes] - ttl
    index[probes] = found
    taken[probes] = hit
    return index, taken


def gather(table: pa.Table, index: np.ndarray, taken: np.ndarray) -> pa.Table:
    """The rows ``index`` of ``table``, all-null where not ``taken``."""
    return table.take(pa.array(index, type=pa.int64(), mask=~taken))
