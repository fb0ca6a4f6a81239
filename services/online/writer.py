"""Fast materialisation into Feast's SQLite / Redis online stores (same bytes)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.timestamp_pb2 import Timestamp

from services.online._keys import encode_entity_keys
from services.online._redis import feature_field
from services.online._values import encode_column, value_text
from services.online.errors import (
    InvalidEntityRowsError,
    OnlineStoreUnavailableError,
    UnsupportedOnlineStoreError,
)
from services.online.model import JoinKeyType

if TYPE_CHECKING:
    from feast import FeatureView
    from feast.repo_config import RepoConfig

__all__ = ["write_latest"]

_NAIVE_EPOCH = datetime(1970, 1, 1)
_REDIS_CHUNK = 2000


def write_latest(config: RepoConfig, view: FeatureView, table: pa.Table) -> int:
    """Write the latest row per entity of ``table`` into the view's online table.

    Writes the bytes Feast's own ``online_write_batch`` writes for the same rows
    (entity keys, ``ValueProto`` values, timestamps; SQLite ``value_text``), so
    Feast and our readers read them back unchanged. SQLite rows are upserted in
    one transaction; Redis keeps Feast's rule of never overwriting a newer
    event time (unless ``skip_dedup``), in pipelined chunks.

    Args:
        config: The Feast repo config (sqlite or plain redis online store).
        view: The feature view; its batch source names the timestamp columns.
        table: Rows with the join keys, features and event timestamp column.

    Returns:
        The number of entities written (after keeping the latest per entity).

    Raises:
        InvalidEntityRowsError: A join key, feature or timestamp column is missing.
        UnsupportedOnlineStoreError: Another store type or option.
        OnlineStoreUnavailableError: The store cannot be reached.
    """
    rows = _prepare(config, view, table)
    store_type = str(config.online_store.type)
    if store_type == "sqlite" or store_type.endswith("SqliteOnlineStore"):
        _write_sqlite(config, view, rows)
    elif store_type == "redis":
        _write_redis(config, view, rows)
    else:
        raise UnsupportedOnlineStoreError(
            store_type, "only sqlite and redis are written"
        )
    return len(rows.keys)


class _Rows:
    """Latest row per entity: keys, encoded values per feature, epoch micros."""

    def __init__(
        self,
        keys: list[bytes],
        features: dict[str, tuple[list[bytes], list[str | None]]],
        event_us: list[int],
        created_us: list[int] | None,
    ) -> None:
        self.keys = keys
        self.features = features
        self.event_us = event_us
        self.created_us = created_us


def _epoch_us(table: pa.Table, column: str) -> pa.ChunkedArray:
    col = table.column(column)
    return pc.cast(
        pc.cast(col, pa.timestamp("us", tz=col.type.tz), safe=False), pa.int64()
    )


def _prepare(config: RepoConfig, view: FeatureView, table: pa.Table) -> _Rows:
    source = view.batch_source
    if source is None:
        raise UnsupportedOnlineStoreError("view", f"{view.name} has no batch source")
    ts_col = source.timestamp_field
    created_col = source.created_timestamp_column or None
    needed = [c.name for c in view.entity_columns] + [f.name for f in view.features]
    for name in [*needed, ts_col, *([created_col] if created_col else [])]:
        if name not in table.column_names:
            raise InvalidEntityRowsError(f"table has no column {name!r}", column=name)
    sort_keys = [(ts_col, "ascending")] + (
        [(created_col, "ascending")] if created_col else []
    )
    table = table.take(pc.sort_indices(table, sort_keys=sort_keys))
    join_keys = tuple(c.name for c in view.entity_columns)
    types = tuple(
        JoinKeyType(c.dtype.to_value_type().value) for c in view.entity_columns
    )
    keys = encode_entity_keys(
        join_keys,
        types,
        {k: table.column(k).to_pylist() for k in join_keys},
        int(config.entity_key_serialization_version),
    )
    # Ascending event time: the last index stored per key is its latest row.
    latest = list(dict(zip(keys, range(len(keys)), strict=True)).values())
    if len(latest) != table.num_rows:
        table = table.take(pa.array(latest))
        keys = [keys[i] for i in latest]
    features = {
        f.name: (
            encode_column(table.column(f.name), f.dtype.to_value_type()),
            value_text(table.column(f.name), f.dtype.to_value_type()),
        )
        for f in view.features
    }
    created = _epoch_us(table, created_col).to_pylist() if created_col else None
    return _Rows(keys, features, _epoch_us(table, ts_col).to_pylist(), created)


def _sqlite_seconds(us: int | None, cache: dict[int, int]) -> int | None:
    # Feast stores `int(naive_utc.timestamp())` (the naive value read as local
    # time); reproduce it so both sides agree whatever the process TZ is.
    if us is None:
        return None
    secs = cache.get(us)
    if secs is None:
        secs = cache[us] = int((_NAIVE_EPOCH + timedelta(microseconds=us)).timestamp())
    return secs


def _write_sqlite(config: RepoConfig, view: FeatureView, rows: _Rows) -> None:
    store = config.online_store
    if getattr(store, "vector_enabled", False) or getattr(
        store, "enable_openai_compatible_store", False
    ):
        raise UnsupportedOnlineStoreError("sqlite", "vector / value_num columns")
    path = Path(store.path)
    if config.repo_path and not path.is_absolute():
        path = Path(config.repo_path) / path
    table = f"{config.project}_{view.name}".replace('"', '""')
    sql = (
        f'INSERT INTO "{table}" (entity_key, feature_name, value, value_text, '
        "event_ts, created_ts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, "
        "feature_name) DO UPDATE SET value = excluded.value, value_text = "
        "excluded.value_text, event_ts = excluded.event_ts, "
        "created_ts = excluded.created_ts"
    )
    cache: dict[int, int] = {}
    event = [_sqlite_seconds(us, cache) for us in rows.event_us]
    created = (
        [_sqlite_seconds(us, cache) for us in rows.created_us]
        if rows.created_us is not None
        else [None] * len(rows.keys)
    )
    # Insert in primary-key order: B-tree inserts then touch neighbouring pages
    # instead of random ones, which is most of SQLite's cost on wide views.
    names = sorted(rows.features)
    params = (
        (
            key,
            name,
            rows.features[name][0][i],
            rows.features[name][1][i],
            event[i],
            created[i],
        )
        for key, i in sorted(zip(rows.keys, range(len(rows.keys)), strict=True))
        for name in names
    )
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            # A larger page cache for this bulk connection only.
            conn.execute("PRAGMA cache_size=-131072")
            with conn:
                conn.executemany(sql, params)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise OnlineStoreUnavailableError(f"sqlite:{path}", str(exc)) from exc


def _ts_bytes(us: int) -> bytes:
    secs, rem = divmod(us, 1_000_000)
    raw: bytes = Timestamp(seconds=secs, nanos=rem * 1000).SerializeToString()
    return raw


def _write_redis(config: RepoConfig, view: FeatureView, rows: _Rows) -> None:
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore

    store = config.online_store
    if str(getattr(store.redis_type, "value", store.redis_type)) != "redis":
        raise UnsupportedOnlineStoreError("redis", f"redis_type {store.redis_type}")
    nodes, params = RedisOnlineStore._parse_connection_string(store.connection_string)
    client = redis.Redis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **params)
    suffix = config.project.encode()
    keys = [k + suffix for k in rows.keys]
    ts_field = f"_ts:{view.name}".encode()
    fields = [(feature_field(view.name, n), v) for n, (v, _) in rows.features.items()]
    try:
        for start in range(0, len(keys), _REDIS_CHUNK):
            idx = range(start, min(start + _REDIS_CHUNK, len(keys)))
            fresh = (
                idx if store.skip_dedup else _newer(client, keys, idx, ts_field, rows)
            )
            with client.pipeline(transaction=False) as pipe:
                for i in fresh:
                    mapping: dict[Any, bytes] = {ts_field: _ts_bytes(rows.event_us[i])}
                    for field, values in fields:
                        mapping[field] = values[i]
                    pipe.hset(keys[i], mapping=mapping)  # type: ignore[arg-type]
                    if store.key_ttl_seconds:
                        pipe.expire(keys[i], store.key_ttl_seconds)
                pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise OnlineStoreUnavailableError(
            f"redis:{store.connection_string}", str(exc)
        ) from exc
    finally:
        client.close()


def _newer(
    client: Any, keys: list[bytes], idx: range, ts_field: bytes, rows: _Rows
) -> list[int]:
    # Feast skips a row whose event time is not newer than the stored one.
    with client.pipeline(transaction=False) as pipe:
        for i in idx:
            pipe.hget(keys[i], ts_field)
        stored = pipe.execute()
    out = []
    for i, raw in zip(idx, stored, strict=True):
        if raw:
            ts = Timestamp.FromString(raw)
            if rows.event_us[i] * 1000 <= ts.seconds * 1_000_000_000 + ts.nanos:
                continue
        out.append(i)
    return out
