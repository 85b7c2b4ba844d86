"""The runs table of a project: its state lives entirely in the query string.

``filter`` (the ``search_runs`` language), ``order`` (one order-by item, e.g. ``metrics.acc DESC``),
``cols`` (chosen ``params.*``/``metrics.*``/``tags.*`` columns; ``cols_set=1`` says the choice was
made, so an empty choice is not mistaken for "defaults"), ``size`` (page size) and paging:
``page_token`` is the store's opaque token of the current page and ``back`` the tokens of the
pages before it (the first page's token is the empty string), so Previous needs no server state
and works with any store implementation. Every link and form is a plain GET: the table works
without JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from modelyard.core.tracking import Run
from modelyard.server.ui._common import SYSTEM_TAG_PREFIX, url_with

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
DEFAULT_ORDER = "start_time DESC"
DEFAULT_COLUMNS_PER_KIND = 6
#: Attribute columns that are always shown; their order-by identifier.
ATTRIBUTE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Run", "name"),
    ("Status", "status"),
    ("Started", "start_time"),
)
ColumnKind = Literal["params", "metrics", "tags"]
_KINDS: tuple[ColumnKind, ...] = ("params", "metrics", "tags")
KIND_ORDER: tuple[ColumnKind, ...] = ("metrics", "params", "tags")  # the order of column groups
_PLAIN_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:")


def quote_key(kind: str, key: str) -> str:
    """``metrics.acc`` or, for a key the bare syntax cannot hold (a space), ``metrics.`my key```."""
    if key and all(c in _PLAIN_KEY_CHARS for c in key):
        return f"{kind}.{key}"
    return f"{kind}.`{key}`"


@dataclass(frozen=True)
class Column:
    kind: ColumnKind
    key: str

    @property
    def id(self) -> str:
        """The column's name in ``cols`` (``metrics.acc``); split at the first dot when parsed."""
        return f"{self.kind}.{self.key}"

    @property
    def order_ident(self) -> str:
        return quote_key(self.kind, self.key)

    @classmethod
    def parse(cls, text: str) -> Column | None:
        kind, dot, key = text.partition(".")
        if not dot or not key or kind not in _KINDS:
            return None
        return cls(kind, key)  # type: ignore[arg-type]

    def cell(self, run: Run) -> str | float | None:
        if self.kind == "metrics":
            latest = run.metrics.get(self.key)
            return None if latest is None else latest.value
        source = run.params if self.kind == "params" else run.tags
        return source.get(self.key)


@dataclass
class TableState:
    """The parsed query string of the runs page."""

    filter: str = ""
    order: str = DEFAULT_ORDER
    columns: list[Column] | None = None  # None: default columns from the page's keys
    size: int = DEFAULT_PAGE_SIZE
    page_token: str = ""
    back: list[str] = field(default_factory=list)

    @classmethod
    def from_query(
        cls,
        *,
        filter: str | None,
        order: str | None,
        cols: Sequence[str],
        cols_set: bool,
        size: int | None,
        page_token: str | None,
        back: Sequence[str],
    ) -> TableState:
        columns: list[Column] | None = None
        if cols_set or cols:
            parsed = (Column.parse(c) for c in cols)
            columns = list(dict.fromkeys(c for c in parsed if c is not None))
        page_size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
        return cls(
            filter=(filter or "").strip(),
            order=(order or "").strip() or DEFAULT_ORDER,
            columns=columns,
            size=page_size,
            page_token=page_token or "",
            back=list(back),
        )

    @property
    def page_number(self) -> int:
        return len(self.back) + 1

    @property
    def first_row(self) -> int:
        return len(self.back) * self.size + 1

    # --- links -------------------------------------------------------------------------------
    def _params(
        self, *, order: str | None = None, page_token: str = "", back: Sequence[str] = (), size: int | None = None
    ) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if self.filter:
            items.append(("filter", self.filter))
        chosen_order = order if order is not None else self.order
        if chosen_order != DEFAULT_ORDER:
            items.append(("order", chosen_order))
        if self.columns is not None:
            items.append(("cols_set", "1"))
            items.extend(("cols", c.id) for c in self.columns)
        chosen_size = size if size is not None else self.size
        if chosen_size != DEFAULT_PAGE_SIZE:
            items.append(("size", str(chosen_size)))
        if page_token:
            items.append(("page_token", page_token))
            items.extend(("back", b) for b in back)
        return items

    def next_url(self, path: str, next_token: str) -> str:
        return url_with(path, self._params(page_token=next_token, back=[*self.back, self.page_token]))

    def prev_url(self, path: str) -> str | None:
        if not self.back:
            return None
        return url_with(path, self._params(page_token=self.back[-1], back=self.back[:-1]))

    def first_url(self, path: str) -> str:
        return url_with(path, self._params())

    def size_url(self, path: str, size: int) -> str:
        return url_with(path, self._params(size=size))

    def hidden_fields(self, *, keep_filter: bool = True, keep_columns: bool = True) -> list[tuple[str, str]]:
        """Hidden inputs that carry the rest of the state through the filter and column forms."""
        items = [(k, v) for k, v in self._params() if k not in ("page_token", "back")]
        if not keep_filter:
            items = [(k, v) for k, v in items if k != "filter"]
        if not keep_columns:
            items = [(k, v) for k, v in items if k not in ("cols", "cols_set")]
        return items

    def sort_state(self, ident: str) -> Literal["asc", "desc", None]:
        """Whether the table is sorted by ``ident`` and in which direction."""
        text = self.order.strip()
        upper = text.upper()
        for suffix, direction in ((" DESC", "desc"), (" ASC", "asc")):
            if upper.endswith(suffix) and text[: -len(suffix)].strip() == ident:
                return direction  # type: ignore[return-value]
        return "asc" if text == ident else None

    def sort_url(self, path: str, ident: str, *, descending_first: bool) -> str:
        """Click a header: sort by it; click again: reverse."""
        state = self.sort_state(ident)
        if state == "asc":
            order = f"{ident} DESC"
        elif state == "desc":
            order = f"{ident} ASC"
        else:
            order = f"{ident} DESC" if descending_first else f"{ident} ASC"
        return url_with(path, self._params(order=order))


def default_columns(runs: Sequence[Run]) -> list[Column]:
    """Without a choice in the URL: the first few metric and param keys seen on the page."""
    metrics = sorted({k for r in runs for k in r.metrics})[:DEFAULT_COLUMNS_PER_KIND]
    params = sorted({k for r in runs for k in r.params})[:DEFAULT_COLUMNS_PER_KIND]
    return [Column("metrics", k) for k in metrics] + [Column("params", k) for k in params]


def available_columns(runs: Sequence[Run], chosen: Sequence[Column]) -> dict[str, list[Column]]:
    """Keys offered by the column chooser: those of the runs on the page plus the chosen ones.

    Only the page is loaded (a project may hold 100,000s of runs), so keys that appear only on
    other pages are not listed; they can still be filtered or sorted on by name.
    """
    keys: dict[str, set[str]] = {"params": set(), "metrics": set(), "tags": set()}
    for run in runs:
        keys["params"].update(run.params)
        keys["metrics"].update(run.metrics)
        keys["tags"].update(k for k in run.tags if not k.startswith(SYSTEM_TAG_PREFIX))
    for column in chosen:
        keys[column.kind].add(column.key)
    return {kind: [Column(kind, k) for k in sorted(keys[kind])] for kind in ("metrics", "params", "tags")}
