"""Read Feast's SQLite online store (``SqliteOnlineStore`` layout) directly."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.online._assemble import StoredRow, assemble
from services.online._keys import encode_entity_keys
from services.online.errors import (
    OnlineStoreUnavailableError,
    OnlineTableNotFoundError,
)
from services.online.model import ViewRequest, ViewResult

# SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32766; keep a margin for the
# feature-name parameters.
_MAX_KEYS_PER_QUERY = 30000


def _sqlite_ts(value: object, cache: dict[object, datetime]) -> datetime:
    ts = cache.get(value)
    if ts is None:
        if isinstance(value, int | float):
            # Feast writes naive UTC through its `int(dt.timestamp())` adapter
            # (local-time interpretation) and reads it back with
            # `datetime.fromtimestamp`; mirror that pair so results match.
            ts = datetime.fromtimestamp(int(value)).replace(tzinfo=UTC)
        else:
            text = value.decode() if isinstance(value, bytes) else str(value)
            parsed = datetime.fromisoformat(text)
            ts = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        cache[value] = ts
    return ts


class SqliteOnlineReader:
    """Reads feature rows written by Feast's ``SqliteOnlineStore``.

    One query per feature view per request. Each thread gets its own read-only
    connection, opened lazily (so a missing file recovers once it appears).
    """

    def __init__(
        self, path: str | Path, entity_key_version: int, timeout_s: float = 1.0
    ) -> None:
        """Create the reader.

        Args:
            path: The SQLite file (``online_store.path`` resolved against the repo).
            entity_key_version: Feast ``entity_key_serialization_version``.
            timeout_s: Busy timeout while a writer holds the database lock.
        """
        self._path = str(path)
        self._version = entity_key_version
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._sql_cache: dict[tuple[str, int, int], str] = {}

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"{Path(self._path).absolute().as_uri()}?mode=ro"
            try:
                conn = sqlite3.connect(
                    uri, uri=True, timeout=self._timeout_s, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise OnlineStoreUnavailableError(
                    f"sqlite:{self._path}", str(exc)
                ) from exc
            self._local.conn = conn
        return conn

    def _sql(self, table: str, n_keys: int, n_features: int) -> str:
        sql = self._sql_cache.get((table, n_keys, n_features))
        if sql is None:
            quoted = '"' + table.replace('"', '""') + '"'
            # Unary + keeps feature_name out of the index search: SQLite then
            # scans each key's primary-key range (ordered as asked) and checks
            # names on the index, instead of one B-tree seek per (key, feature)
            # pair, which costs twice as much for wide reads.
            sql = (
                f"SELECT entity_key, feature_name, value, event_ts FROM {quoted} "
                f"WHERE entity_key IN ({','.join('?' * n_keys)}) "
                f"AND +feature_name IN ({','.join('?' * n_features)}) "
                "ORDER BY entity_key, feature_name"
            )
            if len(self._sql_cache) < 4096:
                self._sql_cache[(table, n_keys, n_features)] = sql
        return sql

    def read(
        self,
        project: str,
        views: Sequence[ViewRequest],
        entity_rows: Mapping[str, Sequence[object]],
        now: datetime,
    ) -> list[ViewResult]:
        """Read the requested features of every view for every entity row.

        See ``OnlineReader.read``.
        """
        results = []
        ts_cache: dict[object, datetime] = {}
        for view in views:
            keys = encode_entity_keys(
                view.join_keys, view.join_key_types, entity_rows, self._version
            )
            stored = self._fetch(f"{project}_{view.name}", view, keys, ts_cache)
            results.append(assemble(view, keys, stored, now))
        return results

    def _fetch(
        self,
        table: str,
        view: ViewRequest,
        keys: list[bytes],
        ts_cache: dict[object, datetime],
    ) -> dict[bytes, StoredRow]:
        unique = list(dict.fromkeys(keys))
        if not unique or not view.features:
            return {}
        position = {f: i for i, f in enumerate(view.features)}
        nf = len(view.features)
        # Per key: [newest raw event_ts, value per requested feature].
        acc: dict[bytes, list[Any]] = {}
        current = None
        entry: list[Any] = []
        for start in range(0, len(unique), _MAX_KEYS_PER_QUERY):
            chunk = unique[start : start + _MAX_KEYS_PER_QUERY]
            # Rows arrive grouped by key: look the entry up per key, not per row.
            for key, name, value, ts in self._execute(table, chunk, view.features):
                if key != current:
                    current = key
                    entry = acc.get(key) or acc.setdefault(key, [ts, [None] * nf])
                if ts > entry[0]:
                    # Feast writes one event_ts for all features of a row; keep
                    # the newest in case rows were written at different times.
                    entry[0] = ts
                entry[1][position[name]] = value
        return {
            k: (_sqlite_ts(ts, ts_cache), tuple(vals)) for k, (ts, vals) in acc.items()
        }

    def _execute(
        self, table: str, keys: list[bytes], features: tuple[str, ...]
    ) -> list[tuple[bytes, str, bytes, object]]:
        sql = self._sql(table, len(keys), len(features))
        try:
            return self._conn().execute(sql, [*keys, *features]).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise OnlineTableNotFoundError(table) from exc
            self._drop_conn()
            raise OnlineStoreUnavailableError(f"sqlite:{self._path}", str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            self._drop_conn()
            raise OnlineStoreUnavailableError(f"sqlite:{self._path}", str(exc)) from exc

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def ping(self) -> bool:
        """Return True when the database file opens and answers a query."""
        try:
            self._conn().execute("SELECT 1").fetchone()
        except (OnlineStoreUnavailableError, sqlite3.Error):
            self._drop_conn()
            return False
        return True

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._drop_conn()
