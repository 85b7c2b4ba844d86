"""The ``modelyard`` command line (Typer + rich)."""
