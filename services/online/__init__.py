"""Online store access on the serving hot path: Feast-compatible reads and writes."""

from __future__ import annotations

from featurestore.services.online.errors import (
    InvalidEntityRowsError,
    OnlineStoreError,
    OnlineStoreUnavailableError,
    OnlineTableNotFoundError,
    Reason,
    UnsupportedJoinKeyTypeError,
    UnsupportedOnlineStoreError,
    ViewsNotMaterializedError,
)
from featurestore.services.online.model import (
    FeatureStatus,
    JoinKeyType,
    PackedDoubles,
    ViewRequest,
    ViewResult,
    client_key_fields,
)
from featurestore.services.online.reader import (
    OnlineReader,
    RedisOnlineReader,
    SqliteOnlineReader,
    build_online_reader,
)

__all__ = [
    "FeatureStatus",
    "InvalidEntityRowsError",
    "JoinKeyType",
    "OnlineReader",
    "OnlineStoreError",
    "OnlineStoreUnavailableError",
    "OnlineTableNotFoundError",
    "PackedDoubles",
    "Reason",
    "RedisOnlineReader",
    "SqliteOnlineReader",
    "UnsupportedJoinKeyTypeError",
    "UnsupportedOnlineStoreError",
    "ViewRequest",
    "ViewResult",
    "ViewsNotMaterializedError",
    "build_online_reader",
    "client_key_fields",
]
