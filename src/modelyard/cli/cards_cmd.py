"""modelyard models card / evaluate commands (issue: Models).

``register(app)`` adds this module's commands; heavy imports stay inside the commands.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Filled by its issue."""
