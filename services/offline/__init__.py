"""Delta snapshot reads and point-in-time joins, served as a Feast offline store."""

from __future__ import annotations

from featurestore.services.offline.cancellation import Cancellation
from featurestore.services.offline.config import DeltaOfflineStoreConfig
from featurestore.services.offline.errors import (
    EntityColumnMissingError,
    FeatureColumnMissingError,
    FeatureColumnTypeError,
    FeatureNotFoundError,
    FeatureServiceNotFoundError,
    FeatureViewNotFoundError,
    InvalidRequestError,
    InvalidTimestampError,
    NaiveTimestampError,
    OfflineStoreError,
    Reason,
    RequestCancelledError,
    TableNotFoundError,
    UnsupportedSourceError,
    VersionNotFoundError,
)
from featurestore.services.offline.historical import (
    HistoricalRequest,
    HistoricalResult,
    Manifest,
    TableRead,
    get_historical_features,
    replay,
)
from featurestore.services.offline.join import (
    JoinedRows,
    ViewInput,
    point_in_time_join,
    point_in_time_rows,
)
from featurestore.services.offline.snapshot import (
    Snapshot,
    commit_metadata,
    read_snapshot,
)
from featurestore.services.offline.store import DeltaOfflineStore, DeltaRetrievalJob

__all__ = [
    "Cancellation",
    "DeltaOfflineStore",
    "DeltaOfflineStoreConfig",
    "DeltaRetrievalJob",
    "EntityColumnMissingError",
    "FeatureColumnMissingError",
    "FeatureColumnTypeError",
    "FeatureNotFoundError",
    "FeatureServiceNotFoundError",
    "FeatureViewNotFoundError",
    "HistoricalRequest",
    "HistoricalResult",
    "InvalidRequestError",
    "InvalidTimestampError",
    "JoinedRows",
    "Manifest",
    "NaiveTimestampError",
    "OfflineStoreError",
    "Reason",
    "RequestCancelledError",
    "Snapshot",
    "TableNotFoundError",
    "TableRead",
    "UnsupportedSourceError",
    "VersionNotFoundError",
    "ViewInput",
    "commit_metadata",
    "get_historical_features",
    "point_in_time_join",
    "point_in_time_rows",
    "read_snapshot",
    "replay",
]
