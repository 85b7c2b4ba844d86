"""Compile the filter AST and order-by items of ``core.filters`` into SQLAlchemy expressions.

Semantics, the same on every SQL backend:

* ``metrics.<k>`` is the run's *latest* value of the metric and always numeric, compared as IEEE
  754 floats (MLflow's semantics): ±inf compare as infinities; a NaN latest value (stored as
  ``value = 0.0, is_nan = true``) is unequal to everything, so it matches ``!=`` and ``NOT IN``
  and no other comparison. Comparing a metric with a string is InvalidArgument.
* ``params.<k>`` and ``tags.<k>`` are strings: ``= != LIKE ILIKE IN`` compare text (a numeric
  literal is compared as its text, ``params.lr = 0.1`` matches ``"0.1"``); ``< <= > >=`` with a
  numeric literal compare numerically, and values that are not numbers never match.
* A comparison on a param/metric/tag only matches runs that have the key; ``IS NULL`` matches the
  runs that do not have it, ``IS NOT NULL`` those that do.
* LIKE is case-sensitive everywhere (SQLite is switched to that with a pragma), ILIKE is not.
* Attributes compare with the ``runs`` columns; ``start_time``/``end_time`` are numbers.

Every key condition is a correlated ``EXISTS`` over the child table's primary key (run_id, key),
so a filter costs one index probe per candidate run and never multiplies rows.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, not_, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Double

from modelyard.core.errors import InvalidArgument
from modelyard.core.filters import And, Comparison, Expr, Identifier, Not, Or, OrderBy
from modelyard.store.sql.schema import latest_metrics, params_table, runs, tags_table

_NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
_ATTRIBUTE_COLUMNS = {
    "run_id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "parent_run_id": runs.c.parent_run_id,
    "project_id": runs.c.project_id,
    "lifecycle_stage": runs.c.lifecycle_stage,
}
_ORDERING_OPS = {"<", "<=", ">", ">="}
_STRING_ONLY_OPS = {"LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"}
#: Metric operators a NaN value satisfies (IEEE 754: NaN is unequal to everything, itself included).
_NAN_MATCHES = {"!=", "NOT IN"}
#: Name of the SQL function the SQLite engine registers for ``SafeFloat`` (see sqlite.py).
SQLITE_TO_FLOAT_FUNCTION = "modelyard_to_float"
_PG_NUMBER_RE = r"^\s*[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|inf|infinity)\s*$"


class SafeFloat(FunctionElement[float]):
    """``text -> float or NULL``: a CAST that yields NULL instead of 0 (SQLite) or an error
    (PostgreSQL) for text that is not a number, so ``params.x > 3`` skips non-numeric values."""

    type = Double()
    inherit_cache = True
    name = "safe_float"


@compiles(SafeFloat, "sqlite")
def _safe_float_sqlite(element: SafeFloat, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_TO_FLOAT_FUNCTION}({compiler.process(element.clauses, **kw)})"


@compiles(SafeFloat, "postgresql")
def _safe_float_postgresql(element: SafeFloat, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    pattern = _PG_NUMBER_RE.replace("%", "%%")
    return f"(CASE WHEN {arg} ~* '{pattern}' THEN CAST({arg} AS DOUBLE PRECISION) END)"


def compile_filter(expr: Expr | None) -> ColumnElement[bool]:
    """The WHERE condition over ``runs`` for a parsed filter (``true()`` for no filter)."""
    if expr is None:
        return true()
    return _compile(expr)


def _compile(expr: Expr) -> ColumnElement[bool]:
    if isinstance(expr, Comparison):
        return _comparison(expr)
    if isinstance(expr, And):
        return and_(*(_compile(item) for item in expr.items))
    if isinstance(expr, Or):
        return or_(*(_compile(item) for item in expr.items))
    if isinstance(expr, Not):
        return not_(_compile(expr.item))
    raise InvalidArgument(f"unsupported filter node {expr!r}")


def _comparison(cmp: Comparison) -> ColumnElement[bool]:
    kind = cmp.ident.kind
    if kind == "attributes":
        return _attribute_comparison(cmp)
    if kind == "metrics":
        return _metric_comparison(cmp)
    if kind in ("params", "tags"):
        return _text_key_comparison(cmp)
    raise InvalidArgument(f"unknown identifier kind {kind!r} in filter")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer literal beyond the float range
        return math.inf if value > 0 else -math.inf


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _apply(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """``column <op> value`` for every operator except IS [NOT] NULL."""
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "LIKE":
        return column.like(value)
    if op == "NOT LIKE":
        return column.not_like(value)
    if op == "ILIKE":
        return column.ilike(value)
    if op == "NOT ILIKE":
        return column.not_ilike(value)
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise InvalidArgument(f"unsupported operator {op!r}")


def _values(cmp: Comparison) -> list[Any]:
    if cmp.op in ("IN", "NOT IN"):
        if not isinstance(cmp.value, tuple) or not cmp.value:
            raise InvalidArgument(f"{cmp.ident} {cmp.op} needs a non-empty list of values")
        return list(cmp.value)
    return [cmp.value]


def _attribute_comparison(cmp: Comparison) -> ColumnElement[bool]:
    name = cmp.ident.key
    column = _ATTRIBUTE_COLUMNS.get(name)
    if column is None:
        known = ", ".join(_ATTRIBUTE_COLUMNS)
        raise InvalidArgument(f"unknown attribute {name!r}; known attributes: {known}")
    if cmp.op == "IS NULL":
        return column.is_(None)
    if cmp.op == "IS NOT NULL":
        return column.is_not(None)
    values = _values(cmp)
    if name in _NUMERIC_ATTRIBUTES:
        if cmp.op in _STRING_ONLY_OPS or not all(_is_number(v) for v in values):
            raise InvalidArgument(f"attribute {name!r} is a number: {cmp.op} {cmp.value!r} does not apply")
        return _apply(column, cmp.op, cmp.value)
    texts = [_as_text(v) for v in values]
    if name == "status":
        texts = [t.upper() for t in texts]
    elif name == "lifecycle_stage":
        texts = [t.lower() for t in texts]
    value: Any = tuple(texts) if cmp.op in ("IN", "NOT IN") else texts[0]
    return _apply(column, cmp.op, value)


def _metric_comparison(cmp: Comparison) -> ColumnElement[bool]:
    lm = latest_metrics.alias()
    has_key = and_(lm.c.run_id == runs.c.id, lm.c.key == cmp.ident.key)
    if cmp.op == "IS NULL":
        return ~exists(select(lm.c.run_id).where(has_key))
    if cmp.op == "IS NOT NULL":
        return exists(select(lm.c.run_id).where(has_key))
    values = _values(cmp)
    if cmp.op in _STRING_ONLY_OPS or not all(_is_number(v) for v in values):
        raise InvalidArgument(f"metric {cmp.ident.key!r} is a number: {cmp.op} {cmp.value!r} does not apply")
    # Floats, not ints: PostgreSQL types a list by its first item (IN (0, 1e999) would be INTEGER).
    floats = [_as_float(v) for v in values]
    compared = _apply(lm.c.value, cmp.op, tuple(floats) if cmp.op in ("IN", "NOT IN") else floats[0])
    if cmp.op in _NAN_MATCHES:  # NaN != x is true for every x: a NaN run matches
        condition = and_(has_key, or_(lm.c.is_nan == true(), compared))
    else:  # NaN = x, NaN < x, ... are false: the stored 0.0 must not take part
        condition = and_(has_key, lm.c.is_nan == false(), compared)
    return exists(select(lm.c.run_id).where(condition))


def _text_key_comparison(cmp: Comparison) -> ColumnElement[bool]:
    table = (params_table if cmp.ident.kind == "params" else tags_table).alias()
    has_key = and_(table.c.run_id == runs.c.id, table.c.key == cmp.ident.key)
    if cmp.op == "IS NULL":
        return ~exists(select(table.c.run_id).where(has_key))
    if cmp.op == "IS NOT NULL":
        return exists(select(table.c.run_id).where(has_key))
    values = _values(cmp)
    if cmp.op in _ORDERING_OPS and _is_number(cmp.value):
        condition = _apply(SafeFloat(table.c.value), cmp.op, cmp.value)
    else:
        texts = tuple(_as_text(v) for v in values)
        condition = _apply(table.c.value, cmp.op, texts if cmp.op in ("IN", "NOT IN") else texts[0])
    return exists(select(table.c.run_id).where(and_(has_key, condition)))


# --- order by ----------------------------------------------------------------------------------


class OrderPlan:
    """What ORDER BY needs: outer joins to add to ``FROM runs`` and the sort terms.

    Runs without the key sort last in both directions: every key gets a leading rank term, 0 for
    runs that have a value. For metrics (MLflow's order) the rank is 0 for numbers, ±inf
    included, 1 for NaN and 2 for a missing metric, and it stays ascending under DESC: ``ASC``
    gives ``-inf ... +inf, NaN, missing`` and ``DESC`` gives ``+inf ... -inf, NaN, missing``.
    """

    def __init__(self) -> None:
        self.joins: list[tuple[Any, ColumnElement[bool]]] = []
        self.terms: list[ColumnElement[Any]] = []

    def apply(self, stmt: Any) -> Any:
        """Add the joins to ``stmt`` (a select over ``runs``) and order it."""
        source: Any = runs
        for table, onclause in self.joins:
            source = source.outerjoin(table, onclause)
        if self.joins:
            stmt = stmt.select_from(source)
        return stmt.order_by(*self.terms)


def compile_order_by(items: Sequence[OrderBy]) -> OrderPlan:
    """Sort terms for the requested order; default ``start_time DESC``; ties broken by run id."""
    plan = OrderPlan()
    if not items:
        items = [OrderBy(Identifier("attributes", "start_time"), descending=True)]
    for item in items:
        column, missing = _order_column(item.ident, plan)
        if missing is not None:
            plan.terms.append(missing)
        plan.terms.append(column.desc() if item.descending else column.asc())
    plan.terms.append(runs.c.id.asc())
    return plan


def _order_column(ident: Identifier, plan: OrderPlan) -> tuple[ColumnElement[Any], ColumnElement[Any] | None]:
    if ident.kind == "attributes":
        column = _ATTRIBUTE_COLUMNS.get(ident.key)
        if column is None:
            raise InvalidArgument(f"unknown attribute {ident.key!r} in order_by")
        return column, (column.is_(None) if column.nullable else None)
    if ident.kind == "metrics":
        lm = latest_metrics.alias()
        plan.joins.append((lm, and_(lm.c.run_id == runs.c.id, lm.c.key == ident.key)))
        rank = case((lm.c.run_id.is_(None), 2), (lm.c.is_nan == true(), 1), else_=0)
        return lm.c.value, rank
    if ident.kind in ("params", "tags"):
        table = (params_table if ident.kind == "params" else tags_table).alias()
        plan.joins.append((table, and_(table.c.run_id == runs.c.id, table.c.key == ident.key)))
        return table.c.value, table.c.value.is_(None)
    raise InvalidArgument(f"unknown identifier kind {ident.kind!r} in order_by")


# --- paging ------------------------------------------------------------------------------------


#: A forged token cannot ask for an OFFSET the database cannot hold (far below 64 bits, so that
#: offset + page size never overflows either).
MAX_PAGE_OFFSET = 2**53


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        offset = int(number)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"invalid page_token {token[:80]!r}")
    if kind != "offset" or offset < 0 or offset > MAX_PAGE_OFFSET:
        raise InvalidArgument(f"invalid page_token {token[:80]!r}")
    return offset
