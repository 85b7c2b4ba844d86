"""Streaming ingestion: consume a stream in a consumer group and seal micro-batches into dataset
versions, exactly once in effect (at-least-once delivery, deduplicated on message id), with
unparseable messages kept in a ``<dataset>.dead_letter`` dataset.

``StreamSource`` is the broker interface (``RedisStreamSource`` now; Kafka and NATS adapters
implement the same protocol); ``StreamIngestor`` does the rest. The edges build the source (this
package never opens a connection by itself) and hand it in.
"""

from __future__ import annotations

from modelyard.data.streaming.batcher import MicroBatcher
from modelyard.data.streaming.ingestor import DEAD_LETTER_SUFFIX, IngestListener, SealedBatch, StreamIngestor
from modelyard.data.streaming.parsing import MESSAGE_ID_COLUMN, DeadLetter, MessageError, MessageParser
from modelyard.data.streaming.source import StreamMessage, StreamSource

__all__ = [
    "DEAD_LETTER_SUFFIX",
    "MESSAGE_ID_COLUMN",
    "DeadLetter",
    "IngestListener",
    "MessageError",
    "MessageParser",
    "MicroBatcher",
    "SealedBatch",
    "StreamIngestor",
    "StreamMessage",
    "StreamSource",
]
