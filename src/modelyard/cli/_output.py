"""Output helpers: rich tables for people, ``--json`` for programs, one-line errors."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelyard.core.errors import InvalidArgument, ModelyardError

# Piped output (CI logs, `| less`) is not squeezed into 80 columns: tables stay one row per line.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 400)
T = TypeVar("T")


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, squeezed onto one line."""
    first_line = " ".join(str(message).split())
    # The message is data, not markup: "pip install 'modelyard[s3]'" or "x[0]" keep their brackets.
    err_console.print(f"[bold red]error:[/] {escape(first_line)}", markup=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: the CLI's only way to report an error."""
    print_error(message)
    raise typer.Exit(code)


class PhaseProgress:
    """A service's ``Progress`` protocol (``phase``/``advance``) drawn as rich bars: each phase
    gets its own bar and hides the previous one."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._task: Any = None

    def phase(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


@contextmanager
def errors_as_exit() -> Iterator[None]:
    try:
        yield
    except ModelyardError as exc:
        fail(str(exc), 2 if isinstance(exc, InvalidArgument) else 1)


def verdict_counts(failed: int, total: int) -> str:
    """``passed: 5 of 5 expectations`` or ``failed: 2 of 5 expectations``: the count after the verdict
    is the number with that verdict (a "failed" line never counts the ones that passed)."""
    if failed:
        return f"[bold red]failed[/]: {failed:,} of {total:,} expectations"
    return f"[green]passed[/]: {total:,} of {total:,} expectations"


def print_json(value: Any) -> None:
    sys.stdout.write(
        orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=_json_default).decode()
        + "\n"
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def fmt_time(millis: int | None) -> str:
    if millis is None:
        return ""
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    justify: Callable[[str], str] | None = None,
) -> None:
    tbl = Table(title=title, header_style="bold cyan", show_lines=False)
    for col in columns:
        tbl.add_column(col, justify="right" if justify and justify(col) == "right" else "left", no_wrap=True)
    for row in rows:
        tbl.add_row(*[fmt_value(v) for v in row])
    console.print(tbl)
