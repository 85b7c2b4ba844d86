"""Batch ingestion: files (CSV, Parquet, JSON Lines) and SQL queries become dataset versions,
optionally validated on the way in, failing rows quarantined rather than dropped, and
incrementally with a watermark column.

    from modelyard.data.ingest import BatchIngestor, open_source
    result = BatchIngestor(service).ingest(open_source("events.csv"), "events", incremental_on="ts")
"""

from __future__ import annotations

from modelyard.data.ingest.batch import BatchIngestor, IngestResult, OnInvalid
from modelyard.data.ingest.checks import read_version, validate_frame, validate_version
from modelyard.data.ingest.connectors import FORMATS, MalformedRow, Source, WatermarkFilter, open_source
from modelyard.data.ingest.schema import SchemaDiff, schema_diff
from modelyard.data.ingest.watermark import Watermark

__all__ = [
    "FORMATS",
    "BatchIngestor",
    "IngestResult",
    "MalformedRow",
    "OnInvalid",
    "SchemaDiff",
    "Source",
    "Watermark",
    "WatermarkFilter",
    "open_source",
    "read_version",
    "schema_diff",
    "validate_frame",
    "validate_version",
]
