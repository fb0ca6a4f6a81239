"""The ``OnlineReader`` protocol and its construction from a Feast ``RepoConfig``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from featurestore.services.online._redis import RedisOnlineReader
from featurestore.services.online._sqlite import SqliteOnlineReader
from featurestore.services.online.errors import UnsupportedOnlineStoreError

if TYPE_CHECKING:
    from feast.repo_config import RepoConfig

    from featurestore.services.online.model import ViewRequest, ViewResult

__all__ = [
    "OnlineReader",
    "RedisOnlineReader",
    "SqliteOnlineReader",
    "build_online_reader",
]


class OnlineReader(Protocol):
    """Reads materialised feature values from an online store on the hot path."""

    def read(
        self,
        project: str,
        views: Sequence[ViewRequest],
        entity_rows: Mapping[str, Sequence[object]],
        now: datetime,
    ) -> list[ViewResult]:
        """Read the requested features of every view for every entity row.

        Args:
            project: Feast project (tables and keys are scoped by it).
            views: What to read, one request per feature view.
            entity_rows: Column name to values, one value per entity row; must
                hold every join key of every view, all columns equally long.
            now: Reference time (UTC) for the TTL check.

        Returns:
            One result per view, in request order, each with one row per
            entity row.

        Raises:
            OnlineStoreUnavailableError: The store cannot be reached in time.
            OnlineTableNotFoundError: A view has no table (SQLite only).
            InvalidEntityRowsError: Join key columns missing or uneven.
            UnsupportedJoinKeyTypeError: A key Feast cannot serialise.
        """
        ...

    def ping(self) -> bool:
        """Return True when the store answers; never raises."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def build_online_reader(config: RepoConfig, timeout_s: float = 0.5) -> OnlineReader:
    """Build the reader for a Feast repo's online store.

    Args:
        config: The parsed Feast ``RepoConfig``; ``online_store.type`` must be
            ``sqlite`` or ``redis`` (plain Redis, not cluster or sentinel).
        timeout_s: Deadline of one read (Redis) / busy timeout (SQLite).

    Returns:
        A reader bound to the configured store.

    Raises:
        UnsupportedOnlineStoreError: Another store type or an unsupported option.
    """
    store = config.online_store
    store_type = str(getattr(store, "type", ""))
    registry = getattr(config, "registry", None)
    if getattr(registry, "enable_online_feature_view_versioning", False):
        raise UnsupportedOnlineStoreError(
            store_type, "enable_online_feature_view_versioning is not supported"
        )
    version = int(config.entity_key_serialization_version)
    if store_type == "sqlite" or store_type.endswith("SqliteOnlineStore"):
        path = Path(store.path)
        if config.repo_path and not path.is_absolute():
            path = Path(config.repo_path) / path
        return SqliteOnlineReader(path, version, timeout_s)
    if store_type == "redis":
        return _redis_reader(store, version, timeout_s)
    raise UnsupportedOnlineStoreError(store_type, "only sqlite and redis are read")


def _redis_reader(store: object, version: int, timeout_s: float) -> OnlineReader:
    from feast.infra.online_stores.redis import RedisOnlineStore

    redis_type = str(getattr(getattr(store, "redis_type", ""), "value", "redis"))
    if redis_type != "redis":
        raise UnsupportedOnlineStoreError("redis", f"redis_type {redis_type}")
    nodes, params = RedisOnlineStore._parse_connection_string(
        store.connection_string  # type: ignore[attr-defined]
    )
    return RedisOnlineReader.connect(
        nodes[0]["host"],
        int(nodes[0]["port"]),
        timeout_s=timeout_s,
        entity_key_version=version,
        **params,
    )
