"""``modelyard ingest``: bring data in as dataset versions (batch connectors, streams).

The group lives here; ``ingest_batch_cmd`` and ``ingest_stream_cmd`` each add their commands to it.
"""

from __future__ import annotations

import typer

from modelyard.cli import ingest_batch_cmd, ingest_stream_cmd

ingest_app = typer.Typer(help="Ingest data as dataset versions: batch connectors and streams.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    ingest_batch_cmd.register(ingest_app)
    ingest_stream_cmd.register(ingest_app)
    if ingest_app.registered_commands:
        app.add_typer(ingest_app, name="ingest")
