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
    PUBLISH_LOOKBACK,
    SAME_DATA_OPERATIONS,
    PublishSearch,
    VersionRecord,
    default_data_root,
    is_publish,
    last_publish,
    newest_publish,
    resolve_table,
    table_history,
)

__all__ = [
    "PUBLISH_LOOKBACK",
    "SAME_DATA_OPERATIONS",
    "DataRootNotFoundError",
    "LineageError",
    "LineageErrorReason",
    "PublishSearch",
    "StorageUnavailableError",
    "TableNotFoundError",
    "TableUnreadableError",
    "VersionRecord",
    "default_data_root",
    "is_publish",
    "last_publish",
    "newest_publish",
    "resolve_table",
    "table_history",
]
