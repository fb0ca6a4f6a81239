"""Lineage of feature tables: which job, run and contract made each Delta version."""

from __future__ import annotations

from featurestore.services.lineage.errors import (
    DataRootNotFoundError,
    LineageError,
    LineageErrorReason,
    StorageUnavailableError,
    TableNotFoundError,
    TableUnreadableError,
)
from featurestore.services.lineage.history import (
    VersionRecord,
    default_data_root,
    resolve_table,
    table_history,
)

__all__ = [
    "DataRootNotFoundError",
    "LineageError",
    "LineageErrorReason",
    "StorageUnavailableError",
    "TableNotFoundError",
    "TableUnreadableError",
    "VersionRecord",
    "default_data_root",
    "resolve_table",
    "table_history",
]
