"""The filter and order-by language of ``search_runs``: AST types and the parser.

Grammar (case-insensitive keywords)::

    expr       := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | primary
    primary    := "(" expr ")" | comparison
    comparison := identifier op value
                | identifier ["NOT"] "IN" "(" value ("," value)* ")"
                | identifier ["NOT"] ("LIKE" | "ILIKE") string
                | identifier "IS" ["NOT"] "NULL"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    identifier := kind "." key | attribute
    kind       := metrics | metric | params | param | tags | tag | attributes | attribute | attr | run
    key        := name chars | `backquoted` | "double quoted"
    value      := 'single quoted' | "double quoted" | number

Attributes: run_id (id), name (run_name), status, start_time, end_time, parent_run_id, project_id,
lifecycle_stage. A bare attribute name needs no ``attributes.`` prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

IdentKind = Literal["metrics", "params", "tags", "attributes"]
ATTRIBUTES = (
    "run_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "project_id",
    "lifecycle_stage",
)
ATTRIBUTE_ALIASES = {"id": "run_id", "run_name": "name"}
COMPARISON_OPS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "LIKE",
    "NOT LIKE",
    "ILIKE",
    "NOT ILIKE",
    "IN",
    "NOT IN",
    "IS NULL",
    "IS NOT NULL",
)
Value = str | float | int | None | tuple[str | float | int, ...]


@dataclass(frozen=True)
class Identifier:
    kind: IdentKind
    key: str  # for attributes: one of ATTRIBUTES (aliases resolved)

    def __str__(self) -> str:
        return f"{self.kind}.{self.key}"


@dataclass(frozen=True)
class Comparison:
    ident: Identifier
    op: str  # one of COMPARISON_OPS, normalised ("==" -> "=", "<>" -> "!=")
    value: Value  # tuple for IN / NOT IN, None for IS [NOT] NULL


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderBy:
    ident: Identifier
    descending: bool = False


def parse_filter(text: str | None) -> Expr | None:
    """Parse a filter expression; None or blank text means no filter. Raises FilterSyntaxError."""
    from modelyard.core._filter_parser import parse_filter_text

    if text is None or not text.strip():
        return None
    return parse_filter_text(text)


def parse_order_by(items: Sequence[str] | str | None) -> list[OrderBy]:
    """``["metrics.acc DESC", "start_time"]`` -> OrderBy list. Raises FilterSyntaxError."""
    from modelyard.core._filter_parser import parse_order_by_item

    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    return [parse_order_by_item(item) for item in items]
