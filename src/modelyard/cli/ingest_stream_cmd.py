"""``modelyard ingest stream``: consume a Redis stream into dataset versions (issue: Data).

``register(app)`` adds this module's commands; heavy imports stay inside the commands.

The loop itself is ``modelyard.data.streaming.StreamIngestor``; this module builds the Redis
source and the dataset service, draws a status line, and turns Ctrl-C into a clean stop: the open
window is not sealed (its messages stay pending in the group and are read again on the next start),
and a seal already under way is either committed whole or not at all. With ``--online VIEW`` each
committed micro-batch is also pushed into the online store through the view
(``modelyard.features.streaming.OnlinePush``) before its messages are acknowledged.
"""

from __future__ import annotations

import signal
import socket
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli._output import console, errors_as_exit, fail

if TYPE_CHECKING:
    from modelyard.data.streaming import SealedBatch
    from modelyard.features.streaming import OnlinePush


def _seconds(text: str, option: str) -> float:
    """``90`` (seconds), ``30s``, ``1m``, ``2h``."""
    from modelyard.auth.timeparse import parse_duration_ms
    from modelyard.core.errors import InvalidArgument

    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        try:
            return parse_duration_ms(stripped) / 1000
        except InvalidArgument:
            fail(f"{option} {text!r}: expected a duration such as 30s, 1m or 2h", 2)
    if value <= 0:
        fail(f"{option} {text!r}: must be positive", 2)
    return value


class _StatusLine:
    """The ingestor's listener, drawn as one live line plus one printed line per sealed batch."""

    def __init__(self, stream: str, dataset: str, every: float | None, push: OnlinePush | None = None) -> None:
        from rich.live import Live

        self.stream, self.dataset, self.every, self.push = stream, dataset, every, push
        self.window = 0
        self.batches = self.rows = self.dead = self.duplicates = 0
        self.ingestor: Any = None
        self.live = Live(self._render(), console=console, transient=True, auto_refresh=False)

    def _render(self) -> str:
        left = self.ingestor.batcher.seconds_left() if self.ingestor is not None else None
        sealing = f" (seals in {left:.0f}s)" if left is not None else ""
        pushed = f" · {self.push.rows:,} rows pushed online" if self.push is not None else ""
        return (
            f"[cyan]{self.stream}[/] → [bold]{self.dataset}[/]: window {self.window:,} messages{sealing} · "
            f"{self.batches:,} versions · {self.rows:,} rows · {self.dead:,} dead letters · "
            f"{self.duplicates:,} duplicates skipped{pushed}"
        )

    def refresh(self) -> None:
        self.live.update(self._render(), refresh=True)

    def on_read(self, count: int, window: int) -> None:
        self.window = window
        self.refresh()

    def on_committed(self, batch: SealedBatch) -> None:
        if self.push is not None:  # before the acknowledgement: a crash here redelivers the batch
            self.push.on_committed(batch)

    def on_sealed(self, batch: SealedBatch) -> None:
        self.window = 0
        self.batches += 1
        self.rows += batch.rows
        self.dead += batch.dead
        self.duplicates += batch.duplicates
        parts = []
        if batch.version is not None:
            parts.append(f"[green]{batch.version.ref}[/] {batch.rows:,} rows")
        if batch.dead_letter is not None:
            parts.append(f"[yellow]{batch.dead_letter.ref}[/] {batch.dead:,} dead letters")
        if batch.duplicates:
            parts.append(f"{batch.duplicates:,} already ingested")
        ids = f"{batch.message_ids[0]} … {batch.message_ids[-1]}" if batch.message_ids else ""
        console.print(f"sealed {', '.join(parts) or 'nothing new'} ({len(batch.message_ids):,} messages {ids})")
        self.refresh()


def register(app: typer.Typer) -> None:
    @app.command("stream")
    def stream_cmd(
        redis_url: Annotated[str, typer.Option("--redis", help="Redis URL, e.g. redis://127.0.0.1:6379/0.")],
        stream: Annotated[str, typer.Option("--stream", help="The Redis stream (key) to consume.")],
        to: Annotated[str, typer.Option("--to", help="Dataset that receives one version per micro-batch.")],
        group: Annotated[str, typer.Option("--group", help="Consumer group (created if missing).")] = "modelyard",
        consumer: Annotated[
            str | None,
            typer.Option(
                "--consumer",
                help="Consumer name, stable across restarts so it re-reads its own pending messages "
                "(default: the host name).",
            ),
        ] = None,
        every: Annotated[str, typer.Option("--every", help="Seal a micro-batch at least this often (30s, 1m).")] = "1m",
        max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Seal when a batch has this many.")] = 10_000,
        max_batches: Annotated[
            int | None, typer.Option("--max-batches", min=1, help="Stop after sealing this many batches.")
        ] = None,
        once: Annotated[bool, typer.Option("--once", help="Ingest what the stream holds now, then stop.")] = False,
        json_field: Annotated[
            str | None,
            typer.Option("--json-field", help="Field holding a JSON object per message (default: the flat field map)."),
        ] = None,
        start: Annotated[
            str, typer.Option("--start", help="Where a new group starts: 0 (the beginning) or $ (new messages).")
        ] = "0",
        claim_idle: Annotated[
            str | None,
            typer.Option(
                "--claim-idle",
                help="Also take over messages other consumers of the group left unacknowledged this long "
                "(must exceed --every plus a seal).",
            ),
        ] = None,
        online: Annotated[
            list[str] | None,
            typer.Option(
                "--online",
                help="Also push each committed micro-batch into the online store through this feature view "
                "(VIEW or VIEW@vN, repeatable), before its messages are acknowledged.",
            ),
        ] = None,
        online_store: Annotated[
            str | None,
            typer.Option(
                "--online-store",
                help="The online store --online writes to (default: MODELYARD_ONLINE_STORE_URI or <home>/online.db).",
            ),
        ] = None,
        store: Annotated[
            str | None, typer.Option("--store", help="Store URI (default: MODELYARD_STORE_URI or ./.modelyard).")
        ] = None,
    ) -> None:
        """Consume a Redis stream in a consumer group; seal micro-batches into dataset versions.

        Unparseable messages go to the dataset TO.dead_letter, never dropped.

        Messages are acknowledged after their version is committed; redelivered ones are not stored twice.
        With --online VIEW, committed rows also reach the online store at once (a redelivery changes nothing)."""
        from modelyard.data.streaming import MessageParser, StreamIngestor
        from modelyard.data.streaming.redis_source import RedisStreamSource

        if once and max_batches is not None:
            fail("--once and --max-batches are exclusive", 2)
        if online_store is not None and not online:
            fail("--online-store needs --online VIEW", 2)
        window = _seconds(every, "--every")
        claim = _seconds(claim_idle, "--claim-idle") if claim_idle is not None else None
        from modelyard.cli._stores import dataset_service, feature_service

        with errors_as_exit():
            service = dataset_service(store, create=True)
            push = None
            if online:
                from modelyard.features.streaming import OnlinePush

                push = OnlinePush(feature_service(store, online_store), online)
            source = RedisStreamSource.from_url(
                redis_url, stream, group, consumer or socket.gethostname(), start_id=start
            )
        status = _StatusLine(stream, to, window, push)
        stop_requested = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stop_requested
            stop_requested = True

        def should_stop() -> bool:
            status.refresh()  # called at least once a second: keeps the countdown moving
            return stop_requested

        previous = signal.signal(signal.SIGTERM, request_stop)
        try:
            with errors_as_exit():
                ingestor = StreamIngestor(
                    service,
                    source,
                    to,
                    max_rows=max_rows,
                    every=window,
                    parser=MessageParser(json_field),
                    listener=status,
                    claim_idle=claim,
                )
                status.ingestor = ingestor
                with status.live:
                    sealed = ingestor.run(max_batches=max_batches, once=once, should_stop=should_stop)
        except KeyboardInterrupt:
            pending = len(status.ingestor.batcher) if status.ingestor is not None else 0
            console.print(
                f"interrupted: {pending:,} messages of the open window were not sealed; "
                "they stay pending and are read again on the next start"
            )
            raise typer.Exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
            source.close()
        pushed = f", {push.rows:,} rows pushed online to {', '.join(v.ref for v in push.views)}" if push else ""
        console.print(
            f"{len(sealed):,} batches sealed: {sum(b.rows for b in sealed):,} rows, "
            f"{sum(b.dead for b in sealed):,} dead letters, {sum(b.duplicates for b in sealed):,} duplicates skipped"
            f"{pushed}"
        )
