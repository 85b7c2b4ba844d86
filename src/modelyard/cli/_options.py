"""The options most commands share, declared once: ``--json``, ``--store``, ``--user``, ``--reason``.

A command module imports the ones it takes (``json: JsonOpt = False``); an option whose help says
something the shared one does not (``--json`` of a report, ``--user`` of a card edit) stays in
its module.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["JsonOpt", "ReasonOpt", "StoreOpt", "UserOpt"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
StoreOpt = Annotated[
    str | None, typer.Option("--store", help="Store URI (default: MODELYARD_STORE_URI or ./.modelyard).")
]
UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="Who is acting (default: the OS user).")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", "-r", help="Why (recorded in the history).")]
