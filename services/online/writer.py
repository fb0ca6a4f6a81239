"""Fast materialisation into Feast's SQLite / Redis online stores (same bytes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from featurestore.services.online._latest import latest_rows
from featurestore.services.online._redis_writer import write_redis
from featurestore.services.online._sqlite_writer import write_sqlite
from featurestore.services.online.errors import UnsupportedOnlineStoreError

if TYPE_CHECKING:
    import pyarrow as pa
    from feast import FeatureView
    from feast.repo_config import RepoConfig

__all__ = ["store_kind", "write_latest"]


def write_latest(config: RepoConfig, view: FeatureView, table: pa.Table) -> int:
    """Write the latest row per entity of ``table`` into the view's online table.

    Writes the bytes Feast's own ``online_write_batch`` writes for the same rows
    (entity keys, ``ValueProto`` values, timestamps; SQLite ``value_text``), so
    Feast and our readers read them back unchanged. Values are serialised a
    column at a time. SQLite rows are upserted in one transaction, so a rerun
    rewrites the same bytes; Redis keeps Feast's rule of never overwriting a
    newer event time (unless ``skip_dedup``), in pipelined chunks.

    Args:
        config: The Feast repo config (sqlite or plain redis online store).
        view: The feature view; its batch source names the timestamp columns.
        table: Rows with the join keys, features and event timestamp column.

    Returns:
        The number of entities written (after keeping the latest per entity;
        on Redis, without those skipped for a newer stored event time).

    Raises:
        InvalidEntityRowsError: A join key, feature or timestamp column is missing.
        UnsupportedOnlineStoreError: Another store type or option.
        OnlineStoreUnavailableError: The store cannot be reached.
    """
    write = write_sqlite if store_kind(config) == "sqlite" else write_redis
    rows = latest_rows(view, table, int(config.entity_key_serialization_version))
    written: int = write(config, view, rows)
    return written


def store_kind(config: RepoConfig) -> Literal["sqlite", "redis"]:
    """Which of the two online stores written here ``config`` names.

    Raises:
        UnsupportedOnlineStoreError: Another store type.
    """
    store_type = str(config.online_store.type)
    if store_type == "sqlite" or store_type.endswith("SqliteOnlineStore"):
        return "sqlite"
    if store_type == "redis":
        return "redis"
    raise UnsupportedOnlineStoreError(store_type, "only sqlite and redis are written")
