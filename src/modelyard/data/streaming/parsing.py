"""From raw stream messages to Arrow tables: the rows table of a batch and its dead letters.

Two message shapes are understood:

- a **flat field map** (the default): every field of the entry is a column, every value a string
  (Redis stores bytes; both must be UTF-8);
- **JSON in one field** (``json_field="data"``): that field holds a JSON object whose keys are the
  columns, with JSON's types (numbers, booleans, nested objects and lists); other fields are ignored.

A message that does not fit (bad UTF-8, bad JSON, not an object, a reserved column name, a value
Arrow cannot store, types that clash with the rest of the batch) becomes a dead letter with the
reason: it is kept, never dropped. Every row carries the id of its message in ``_message_id``,
which is what deduplication and audits key on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from modelyard.data.streaming.source import StreamMessage

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MESSAGE_ID_COLUMN", "DeadLetter", "MessageError", "MessageParser", "dead_letter_table"]

MESSAGE_ID_COLUMN = "_message_id"


class MessageError(ValueError):
    """Why one message cannot become a row."""


@dataclass(frozen=True)
class DeadLetter:
    message: StreamMessage
    error: str


class MessageParser:
    """Turns messages into rows (``json_field``: the field holding a JSON object, else flat)."""

    def __init__(self, json_field: str | None = None) -> None:
        self.json_field = json_field
        self._json_key = json_field.encode() if json_field else None

    def parse(self, message: StreamMessage) -> dict[str, Any]:
        """One row (without ``_message_id``); raises ``MessageError``."""
        if message.deleted:
            raise MessageError("the entry was deleted from the stream before it was ingested")
        if self._json_key is not None:
            raw = message.fields.get(self._json_key)
            if raw is None:
                raise MessageError(f"no field {self.json_field!r} in the message")
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise MessageError(f"field {self.json_field!r} is not valid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise MessageError(f"field {self.json_field!r} holds a JSON {type(row).__name__}, not an object")
        else:
            try:
                row = {key.decode(): value.decode() for key, value in message.fields.items()}
            except UnicodeDecodeError as exc:
                raise MessageError(f"a field name or value is not UTF-8: {exc}") from None
        if MESSAGE_ID_COLUMN in row:
            raise MessageError(f"{MESSAGE_ID_COLUMN!r} is a reserved column name")
        return row

    def to_table(self, messages: Sequence[StreamMessage]) -> tuple[pa.Table | None, list[DeadLetter]]:
        """The rows table of ``messages`` (None if no row) and the messages that failed."""
        dead: list[DeadLetter] = []
        rows: list[tuple[StreamMessage, dict[str, Any]]] = []
        for message in messages:
            try:
                row = self.parse(message)
            except MessageError as exc:
                dead.append(DeadLetter(message, str(exc)))
                continue
            rows.append((message, {MESSAGE_ID_COLUMN: message.id, **row}))
        if not rows:
            return None, dead
        table = _whole_table([row for _, row in rows])
        if table is None:  # some rows clash: keep rows one by one while their schemas unify
            table, clashing = _row_by_row(rows)
            dead.extend(clashing)
            order = {m.id: i for i, m in enumerate(messages)}
            dead.sort(key=lambda d: order[d.message.id])
        return table, dead


def _arrow_errors() -> tuple[type[Exception], ...]:
    import pyarrow as pa

    return (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError)


def _storable(table: pa.Table) -> bool:
    """Whether Parquet can hold the table (it cannot hold, for example, an empty struct)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(table, pa.BufferOutputStream())
    except _arrow_errors():
        return False
    return True


def _whole_table(rows: list[dict[str, Any]]) -> pa.Table | None:
    import pyarrow as pa

    columns: dict[str, None] = {}  # every key of every row, in order of first appearance
    for row in rows:
        columns.update(dict.fromkeys(row))
    try:  # by column, not from_pylist: that takes its columns from the first row only
        table = pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in columns})
    except _arrow_errors():
        return None
    return table if _storable(table) else None


def _row_by_row(rows: list[tuple[StreamMessage, dict[str, Any]]]) -> tuple[pa.Table | None, list[DeadLetter]]:
    import pyarrow as pa

    kept: list[pa.Table] = []
    dead: list[DeadLetter] = []
    schema: pa.Schema | None = None
    for message, row in rows:
        try:
            one = pa.Table.from_pylist([row])
        except _arrow_errors() as exc:
            dead.append(DeadLetter(message, f"cannot be stored as a row: {exc}"))
            continue
        if not _storable(one):
            dead.append(DeadLetter(message, "cannot be stored as a Parquet row (an empty object or list type?)"))
            continue
        try:
            merged = (
                one.schema if schema is None else pa.unify_schemas([schema, one.schema], promote_options="permissive")
            )
        except _arrow_errors() as exc:
            dead.append(DeadLetter(message, f"its column types clash with earlier rows of the batch: {exc}"))
            continue
        schema = merged
        kept.append(one)
    if not kept:
        return None, dead
    return pa.concat_tables(kept, promote_options="permissive"), dead


def dead_letter_table(dead: Sequence[DeadLetter]) -> pa.Table:
    """Dead letters as a table: the message id, the reason, and the raw fields (bytes, lossless)."""
    import pyarrow as pa

    field_type = pa.list_(pa.struct([("name", pa.binary()), ("value", pa.binary())]))
    return pa.table(
        {
            MESSAGE_ID_COLUMN: pa.array([d.message.id for d in dead], pa.string()),
            "error": pa.array([d.error for d in dead], pa.string()),
            "fields": pa.array(
                [[{"name": k, "value": v} for k, v in d.message.fields.items()] for d in dead], field_type
            ),
        }
    )
