"""modelyard data / ingest (issue: Data).

``register(app)`` adds this module's commands to the root Typer app; heavy imports stay inside
the commands so that ``modelyard --help`` stays fast.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Filled by its issue."""
