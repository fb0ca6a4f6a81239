"""Upsert latest rows into Feast's SQLite online table (``SqliteOnlineStore`` bytes)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from featurestore.services.online._sqlite import quote_identifier
from featurestore.services.online._values import encode_column, value_text
from featurestore.services.online.errors import (
    OnlineStoreUnavailableError,
    UnsupportedOnlineStoreError,
)

if TYPE_CHECKING:
    from feast import FeatureView
    from feast.repo_config import RepoConfig

    from featurestore.services.online._latest import LatestRows

_NAIVE_EPOCH = datetime(1970, 1, 1)
# Entities per executemany batch: bounds the parameter grid held in memory.
_BATCH = 10_000
# Features per statement: two parameters each, under SQLite's default limit
# of 32766 host parameters.
_FEATURES_PER_STATEMENT = 1000


def write_sqlite(config: RepoConfig, view: FeatureView, rows: LatestRows) -> int:
    """Upsert ``rows`` into ``<project>_<view>`` in one transaction; returns
    the number of entities written (all of them: an upsert overwrites).

    One statement per entity upserts all its features as a multi-row VALUES
    (the key and timestamps bound once, feature names as literals), which
    halves SQLite's per-row cost against one statement per feature.

    Raises:
        UnsupportedOnlineStoreError: Vector or ``value_num`` tables.
        OnlineStoreUnavailableError: SQLite fails to open or write.
    """
    store = config.online_store
    if getattr(store, "vector_enabled", False) or getattr(
        store, "enable_openai_compatible_store", False
    ):
        raise UnsupportedOnlineStoreError("sqlite", "vector / value_num columns")
    path = sqlite_path(config)
    table = f"{config.project}_{view.name}"
    # Primary-key order (keys come sorted): B-tree inserts then touch
    # neighbouring pages instead of random ones.
    features = sorted(view.features, key=lambda f: f.name)
    groups = [
        features[i : i + _FEATURES_PER_STATEMENT]
        for i in range(0, len(features), _FEATURES_PER_STATEMENT)
    ]
    statements = [_upsert_sql(table, [f.name for f in g]) for g in groups]
    conn = open_sqlite(config)
    try:
        try:
            # Default durability (journal mode and synchronous as Feast left
            # them); only this bulk connection gets a larger page cache.
            conn.execute("PRAGMA cache_size=-131072")
            with conn:
                for batch in rows.batches(_BATCH):
                    for sql, group in zip(statements, groups, strict=True):
                        conn.executemany(sql, _params(batch, group))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        detail = str(exc)
        if "no such table" in detail:
            detail += f" ({_APPLY_HINT})"
        raise OnlineStoreUnavailableError(f"sqlite:{path}", detail) from exc
    return len(rows.keys)


_APPLY_HINT = "`feast apply` in the repository creates the store's tables"


def open_sqlite(config: RepoConfig) -> sqlite3.Connection:
    """A connection to the store's existing file; never creates an empty one.

    Raises:
        OnlineStoreUnavailableError: No file (deleted, `feast teardown`), or
            it does not open.
    """
    path = sqlite_path(config)
    try:
        # mode=rw: a missing file is an error, not a new empty database.
        uri = f"{path.absolute().as_uri()}?mode=rw"
        return sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as exc:
        detail = f"no such file ({_APPLY_HINT})" if not path.exists() else str(exc)
        raise OnlineStoreUnavailableError(f"sqlite:{path}", detail) from exc


def sqlite_path(config: RepoConfig) -> Path:
    """The SQLite online store's file, as Feast resolves it (under the repo)."""
    path = Path(config.online_store.path)
    if config.repo_path and not path.is_absolute():
        path = Path(config.repo_path) / path
    return path


def _upsert_sql(table: str, names: list[str]) -> str:
    # Parameters per entity: ?1 key, then value and value_text per feature,
    # then event_ts and created_ts.
    nf = len(names)
    ev, cr = 2 * nf + 2, 2 * nf + 3
    rows = ", ".join(
        f"(?1, {_literal(name)}, ?{2 * j + 2}, ?{2 * j + 3}, ?{ev}, ?{cr})"
        for j, name in enumerate(names)
    )
    quoted = quote_identifier(table)
    return (
        f"INSERT INTO {quoted} (entity_key, feature_name, value, value_text, "
        f"event_ts, created_ts) VALUES {rows} ON CONFLICT(entity_key, "
        "feature_name) DO UPDATE SET value = excluded.value, value_text = "
        "excluded.value_text, event_ts = excluded.event_ts, "
        "created_ts = excluded.created_ts"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _params(rows: LatestRows, features: list[Any]) -> list[list[Any]]:
    """One parameter list per entity, built column by column in numpy."""
    nf = len(features)
    grid = np.empty((len(rows.keys), 2 * nf + 3), dtype=object)
    grid[:, 0] = rows.keys
    for j, feature in enumerate(features):
        column = rows.table.column(feature.name)
        value_type = feature.dtype.to_value_type()
        grid[:, 2 * j + 1] = encode_column(column, value_type)
        grid[:, 2 * j + 2] = value_text(column, value_type)
    cache: dict[int, int] = {}
    grid[:, -2] = [_seconds(us, cache) for us in rows.event_us]
    if rows.created_us is not None:
        grid[:, -1] = [_seconds(us, cache) for us in rows.created_us]
    params: list[list[Any]] = grid.tolist()
    return params


def _seconds(us: int | None, cache: dict[int, int]) -> int | None:
    # Feast stores `int(naive_utc.timestamp())` (the naive value read as local
    # time); reproduce it so both sides agree whatever the process TZ is.
    if us is None:
        return None
    secs = cache.get(us)
    if secs is None:
        secs = cache[us] = int((_NAIVE_EPOCH + timedelta(microseconds=us)).timestamp())
    return secs
