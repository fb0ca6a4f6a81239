"""Read Feast's SQLite online store (``SqliteOnlineStore`` layout) directly."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apsw
import numpy as np

from services.online._assemble import StoredRow, assemble, assemble_packed
from services.online._keys import encode_entity_keys
from services.online.errors import (
    OnlineStoreUnavailableError,
    OnlineTableNotFoundError,
)
from services.online.model import PackedDoubles, ViewRequest, ViewResult

# SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32766; keep a margin for the
# feature-name parameters.
_MAX_KEYS_PER_QUERY = 30000
# Read pages straight from the OS page cache through a memory map instead of
# copying each into SQLite's own 2 MB cache: with entities spread over a
# database larger than that cache, a 100 x 50 read costs ~0.3 ms less. Pages
# past the first GiB are read the usual way.
_MMAP_BYTES = 1 << 30
# Block reads of doubles (see `_packed_sql`) from this many distinct entities
# on; narrower reads return few rows anyway. Feature positions travel as one
# byte, char(j + 1), so a view's features must number fewer than 127.
_PACKED_MIN_KEYS = 2
_PACKED_MAX_FEATURES = 126
# A cell of the block read: position byte, length byte, 9-byte double.
_CELL = 11


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


def _sql_parts(table: str, n_keys: int, n_features: int) -> tuple[str, str, str]:
    """The quoted table and the VALUES lists of key and feature parameters."""
    quoted = '"' + table.replace('"', '""') + '"'
    keys = ",".join(f"({i},?)" for i in range(n_keys))
    names = ",".join(f"({j},?)" for j in range(n_features))
    return quoted, keys, names


def _ordered_doubles(records: list[bytes], nf: int) -> np.ndarray | None:
    """(keys, features, 9) double cells in request order, or None if not doubles.

    Each record holds ``nf`` cells, in any order, of char(j + 1, length + 1)
    and then the value; the caller checked the records' lengths.
    """
    block = np.frombuffer(b"".join(records), np.uint8).reshape(len(records), nf, _CELL)
    # Every length byte says 9 (read at fixed offsets, each one true only if
    # all cells before it are 9 bytes too), every value is tagged double_val
    # (0x29: exactly the 9 bytes checked), each position exactly once.
    if not (block[:, :, 1] == 10).all() or not (block[:, :, 2] == 0x29).all():
        return None
    order = np.argsort(block[:, :, 0], axis=1, kind="stable")
    block = np.take_along_axis(block, order[:, :, None], axis=1)
    if not (block[:, :, 0] == np.arange(1, nf + 1, dtype=np.uint8)).all():
        return None
    return block[:, :, 2:]


class SqliteOnlineReader:
    """Reads feature rows written by Feast's ``SqliteOnlineStore``.

    One query per feature view per request. Each thread gets its own read-only
    connection, opened lazily (so a missing file recovers once it appears).

    Reads go through apsw (its own SQLite build) rather than the standard
    ``sqlite3`` module: turning the keys x features rows of a wide read into
    Python tuples is most of the read, and apsw's cursor does it in ~2/3 of
    the time (100 entities x 50 features: 3.0 vs 4.5 ms). Writers (Feast,
    ``services.online.writer``) keep ``sqlite3``. The two libraries do not
    share POSIX locks, so a process should not write a database file with
    one while it holds it open with the other; the server only reads.
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

    def _conn(self) -> apsw.Connection:
        conn: apsw.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = apsw.Connection(self._path, flags=apsw.SQLITE_OPEN_READONLY)
                conn.set_busy_timeout(int(self._timeout_s * 1000))
                conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
                # The block read passes value blobs through text functions,
                # which keep their bytes only in a UTF-8 database.
                encoding = conn.execute("PRAGMA encoding").get
            except apsw.Error as exc:
                raise OnlineStoreUnavailableError(
                    f"sqlite:{self._path}", str(exc)
                ) from exc
            self._local.conn = conn
            self._local.utf8 = encoding == "UTF-8"
        return conn

    def _sql(self, table: str, n_keys: int, n_features: int) -> str:
        sql = self._sql_cache.get((table, n_keys, n_features))
        if sql is None:
            quoted, keys, names = _sql_parts(table, n_keys, n_features)
            # Rows name their key and feature by position (small ints Python
            # does not allocate) instead of repeating the key blob and the
            # name on each of the keys x features rows: fetching the rows
            # into Python is most of a wide read's time. CROSS JOIN keeps the
            # keys as the outer loop, one index search each; unary + keeps
            # feature_name out of that search (one range per key, not one
            # seek per key and feature).
            sql = (
                f"WITH k(i, key) AS (VALUES {keys}), f(j, name) AS (VALUES {names}) "
                f"SELECT k.i, f.j, t.value, t.event_ts FROM k CROSS JOIN {quoted} t "
                "ON t.entity_key = k.key JOIN f ON +t.feature_name = f.name"
            )
            if len(self._sql_cache) < 4096:
                self._sql_cache[(table, n_keys, n_features)] = sql
        return sql

    def _packed_sql(self, table: str, n_keys: int, n_features: int) -> str:
        sql = self._sql_cache.get((table, n_keys, -n_features))
        if sql is None:
            quoted, keys, names = _sql_parts(table, n_keys, n_features)
            # One row per key instead of one per key and feature: a blob
            # "<newest event_ts>|" followed, for each stored feature in any
            # order, by char(j + 1, length + 1) and the value. A key with
            # nothing stored gives NULL. The length bytes let Python prove
            # every value is 9 bytes before it reshapes the blob (checking
            # counts and lengths with aggregates instead costs 0.45 ms per
            # 100 x 50). MATERIALIZED keeps `f` one small indexed table
            # instead of re-evaluating it per key.
            sql = (
                f"WITH k(i, key) AS (VALUES {keys}), "
                f"f(j, name) AS MATERIALIZED (VALUES {names}) "
                "SELECT k.i, (SELECT CAST(max(t.event_ts) || '|' || group_concat("
                "char(f.j + 1, length(t.value) + 1) || t.value, '') AS BLOB) "
                f"FROM {quoted} t JOIN f ON +t.feature_name = f.name "
                "WHERE t.entity_key = k.key) FROM k"
            )
            if len(self._sql_cache) < 4096:
                self._sql_cache[(table, n_keys, -n_features)] = sql
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
            table = f"{project}_{view.name}"
            result = None
            if self._packable(view, keys):
                result = self._read_packed(table, view, keys, now, ts_cache)
            if result is None:
                stored = self._fetch(table, view, keys, ts_cache)
                result = assemble(view, keys, stored, now)
            results.append(result)
        return results

    def _packable(self, view: ViewRequest, keys: list[bytes]) -> bool:
        """Whether to try the block read (declared doubles, enough keys)."""
        if not (
            view.all_double
            and 0 < len(view.features) <= _PACKED_MAX_FEATURES
            and _PACKED_MIN_KEYS <= len(keys) <= _MAX_KEYS_PER_QUERY
        ):
            return False
        self._conn()
        return bool(self._local.utf8)

    def _read_packed(
        self,
        table: str,
        view: ViewRequest,
        keys: list[bytes],
        now: datetime,
        ts_cache: dict[object, datetime],
    ) -> ViewResult | None:
        """Read every feature of every key as one block of doubles.

        Returns None, having read nothing the caller needs, when a stored
        row lacks a feature, a value is not a 9-byte double or an event time
        is not whole seconds: the row-per-value read handles those.
        """
        unique = list(dict.fromkeys(keys))
        nf = len(view.features)
        sql = self._packed_sql(table, len(unique), nf)
        blobs: list[bytes | None] = [None] * len(unique)
        try:
            for i, blob in self._conn().execute(sql, [*unique, *view.features]):
                blobs[i] = blob
        except apsw.Error as exc:
            raise self._store_error(table, exc) from exc
        size = _CELL * nf
        times: list[datetime | None] = []
        records: list[bytes] = []
        for blob in blobs:
            if blob is None:
                times.append(None)
                continue
            stamp, _, record = blob.partition(b"|")
            if len(record) != size:
                return None
            try:
                seconds = int(stamp)
            except ValueError:
                return None
            times.append(_sqlite_ts(seconds, ts_cache))
            records.append(record)
        if not records:
            return assemble(view, keys, {}, now)
        cells = _ordered_doubles(records, nf)
        if cells is None:
            return None
        # Unique key -> row of `cells` (-1: nothing stored), then per entity row.
        row_of: dict[bytes, int] = {}
        found = 0
        for key, moment in zip(unique, times, strict=True):
            row_of[key] = -1 if moment is None else found
            found += moment is not None
        rows = np.fromiter((row_of[key] for key in keys), np.intp, len(keys))
        present = rows >= 0
        packed = PackedDoubles(cells[np.where(present, rows, 0)], present)
        time_of = dict(zip(unique, times, strict=True))
        return assemble_packed(view, [time_of[key] for key in keys], packed, now)

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
        nf = len(view.features)
        stored: dict[bytes, StoredRow] = {}
        for start in range(0, len(unique), _MAX_KEYS_PER_QUERY):
            chunk = unique[start : start + _MAX_KEYS_PER_QUERY]
            values: list[list[bytes | None]] = [[None] * nf for _ in chunk]
            newest: list[Any] = [None] * len(chunk)
            sql = self._sql(table, len(chunk), nf)
            # The loop runs on the cursor itself (no generator between: 7% of
            # a wide read), so store errors raised mid-iteration land here.
            try:
                for i, j, value, ts in self._conn().execute(
                    sql, [*chunk, *view.features]
                ):
                    values[i][j] = value
                    # Feast writes one event_ts for all features of a row;
                    # keep the newest in case rows were written at different times.
                    if newest[i] is None or ts > newest[i]:
                        newest[i] = ts
            except apsw.Error as exc:
                raise self._store_error(table, exc) from exc
            for key, ts, row in zip(chunk, newest, values, strict=True):
                if ts is not None:
                    stored[key] = (_sqlite_ts(ts, ts_cache), row)
        return stored

    def _store_error(self, table: str, exc: apsw.Error) -> Exception:
        """The domain error for a failed read; drops the connection unless benign."""
        if isinstance(exc, apsw.SQLError) and "no such table" in str(exc):
            return OnlineTableNotFoundError(table)
        self._drop_conn()
        return OnlineStoreUnavailableError(f"sqlite:{self._path}", str(exc))

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def ping(self) -> bool:
        """Return True when the database file opens and answers a query."""
        try:
            self._conn().execute("SELECT 1").fetchall()
        except (OnlineStoreUnavailableError, apsw.Error):
            self._drop_conn()
            return False
        return True

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        self._drop_conn()
