"""Data: dataset versioning (immutable versions of files and directories, stat-cached status,
push/pull to a remote store, lineage). Ingestion and validation join this package later.

The service receives its stores in its constructor; the SDK face (``modelyard.datasets``) and
the CLI build them from settings.
"""

from __future__ import annotations

from modelyard.data.changes import DatasetDiff, FileChange
from modelyard.data.refs import DatasetRef, parse_ref, validate_dataset_name
from modelyard.data.service import AddResult, DatasetService, Progress
from modelyard.data.sync import SyncResult, pull, push

__all__ = [
    "AddResult",
    "DatasetDiff",
    "DatasetRef",
    "DatasetService",
    "FileChange",
    "Progress",
    "SyncResult",
    "parse_ref",
    "pull",
    "push",
    "validate_dataset_name",
]
