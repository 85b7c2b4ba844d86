"""What the report commands (``modelyard models report``, ``modelyard monitor report``) share: the
output options, their checks before any work is done, and writing the report: its JSON form
printed or written, or the HTML page written with the report's ``write_html`` (the shared
``plotly.min.js`` beside it, or, ``--self-contained``, plotly.js inlined).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from modelyard.cli._output import fail, print_json

OutputOpt = Annotated[
    str | None, typer.Option("--output", "-o", help="Write the report to this file (HTML, or JSON with --json).")
]
JsonFormOpt = Annotated[bool, typer.Option("--json", help="The JSON form instead of HTML.")]
SelfContainedOpt = Annotated[
    bool, typer.Option("--self-contained", help="Inline plotly.js (one ~5 MB file) instead of sharing it.")
]


class Report(Protocol):
    """A report with a JSON form and an HTML page."""

    def to_dict(self) -> dict[str, Any]: ...

    def write_html(self, path: str | Path, *, self_contained: bool = False) -> Path: ...


def report_target(
    output: str | None, json: bool, self_contained: bool, *, json_suffix: bool = False
) -> tuple[Path | None, bool]:
    """Check the output options (exit 2 with one line if they do not fit) and return the file to
    write (None: print the JSON form) and whether it is the JSON form (``--json``, or with
    ``json_suffix`` an output ending in ``.json``)."""
    if output is None and not json:
        fail("missing --output FILE (or --json to print the JSON form)", 2)
    as_json = json or (json_suffix and output is not None and output.lower().endswith(".json"))
    if self_contained and as_json:
        fail("--self-contained applies to the HTML report, not the JSON form", 2)
    target = None if output is None else Path(output)
    if target is not None and not target.parent.is_dir():
        fail(f"cannot write {output!r}: no such directory {str(target.parent)!r}", 2)
    return target, as_json


def emit_report(
    report: Report, target: Path | None, *, as_json: bool, to_json: Callable[[], str], self_contained: bool
) -> None:
    """Print the JSON form (no ``target``), or write to ``target`` atomically the JSON form
    (``to_json()``) or the HTML page; a write that fails exits 1 with one line."""
    if target is None:
        print_json(report.to_dict())
        return
    try:
        if as_json:
            from modelyard.core.html_assets import write_text_atomic

            write_text_atomic(target, to_json())
        else:
            report.write_html(target, self_contained=self_contained)
    except OSError as exc:
        fail(f"cannot write {str(target)!r}: {exc.strerror or exc}", 1)
