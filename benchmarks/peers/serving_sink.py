"""A prediction sink that keeps nothing: ``modelyard serve --sink benchmarks.peers.serving_sink:null_sink``
measures what handing every prediction to a sink costs the server (the records are built and offered)."""

from __future__ import annotations

from typing import Any


class NullSink:
    def __init__(self) -> None:
        self.offered = 0

    def offer(self, record: Any) -> None:
        self.offered += 1


def null_sink(stores: Any) -> NullSink:
    return NullSink()
