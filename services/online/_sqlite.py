"""Read Feast's SQLite online store (``SqliteOnlineStore`` layout) directly."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apsw
import numpy as np

from featurestore.services.online._assemble import StoredRow, assemble, assemble_packed
from featurestore.services.online._keys import encode_entity_keys
from featurestore.services.online._sqlite_block import (
    MAX_FEATURES,
    block_sql,
    ordered_doubles,
    record_cells,
    stamp_value,
)
from featurestore.services.online.errors import (
    OnlineStoreUnavailableError,
    OnlineTableNotFoundError,
)
from featurestore.services.online.model import PackedDoubles, ViewRequest, ViewResult

log = logging.getLogger(__name__)

# SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32766; keep a margin for the
# feature-name parameters.
_MAX_KEYS_PER_QUERY = 30000
# Read pages straight from the OS page cache through a memory map instead of
# copying each into SQLite's own 2 MB cache: with entities spread over a
# database larger than that cache, a 100 x 50 read costs ~0.3 ms less. Pages
# past the first GiB are read the usual way.
_MMAP_BYTES = 1 << 30
# Block reads (services/online/_sqlite_block.py) from this many distinct
# entities on; narrower reads return few rows anyway.
_BLOCK_MIN_KEYS = 2
# How often a thread's connection checks that the file at the path is still
# the one it opened: a store replaced atomically, or deleted and created again
# (`feast teardown` then `apply`), would otherwise be served from the old
# inode for ever. One os.stat per thread and interval, not one per read.
FILE_CHECK_S = 0.5


class _Slot:
    """One thread's connection; ``lock`` is held while the thread reads."""

    __slots__ = ("__weakref__", "check_at", "conn", "file_id", "lock", "utf8")

    def __init__(self) -> None:
        self.conn: apsw.Connection | None = None
        self.file_id = (0, 0)
        self.check_at = 0.0
        self.utf8 = False
        self.lock = threading.Lock()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def _file_id(path: str) -> tuple[int, int]:
    """The file at ``path`` (device, inode); OSError when there is none."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


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


def quote_identifier(name: str) -> str:
    """``name`` as an SQLite identifier: double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def _sql_parts(table: str, n_keys: int, n_features: int) -> tuple[str, str, str]:
    """The quoted table and the VALUES lists of key and feature parameters."""
    quoted = quote_identifier(table)
    keys = ",".join(f"({i},?)" for i in range(n_keys))
    names = ",".join(f"({j},?)" for j in range(n_features))
    return quoted, keys, names


def _row_sql(quoted_table: str, key_values: str, name_values: str) -> str:
    """The row read: one row per stored (key, feature), named by position.

    Rows name their key and feature by position (small ints Python does not
    allocate) instead of repeating the key blob and the name on each of the
    keys x features rows: fetching the rows into Python is most of a wide
    read's time. CROSS JOIN keeps the keys as the outer loop, one index search
    each; unary + keeps feature_name out of that search (one range per key,
    not one seek per key and feature).
    """
    return (
        f"WITH k(i, key) AS (VALUES {key_values}), "
        f"f(j, name) AS (VALUES {name_values}) "
        f"SELECT k.i, f.j, t.value, t.event_ts FROM k CROSS JOIN {quoted_table} t "
        "ON t.entity_key = k.key JOIN f ON +t.feature_name = f.name"
    )


class SqliteOnlineReader:
    """Reads feature rows written by Feast's ``SqliteOnlineStore``.

    One query per feature view per request. Each thread gets its own read-only
    connection, opened lazily (so a missing file recovers once it appears)
    and reopened when the file at the path is another one (replaced, or
    deleted and created again), checked every ``FILE_CHECK_S`` per thread; a
    deleted file is an unavailable store, not its last rows. A thread's old
    descriptor closes when it reopens (an idle thread's at its next read).

    Reads go through apsw (its own SQLite build) rather than the standard
    ``sqlite3`` module: turning the keys x features rows of a wide read into
    Python tuples is most of the read, and apsw's cursor does it in ~2/3 of
    the time (100 entities x 50 features: 3.0 vs 4.5 ms). Writers (Feast,
    ``featurestore.services.online.writer``) keep ``sqlite3``. The two libraries do not
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
        # Every thread's slot, so that the thread noticing a replaced or
        # deleted file closes the idle ones' descriptors too (else each idle
        # thread keeps the old file, and its disk space, until it reads).
        self._slots: weakref.WeakSet[_Slot] = weakref.WeakSet()
        self._slots_lock = threading.Lock()
        self._failing = False  # logged once per outage, not per read
        self._sql_cache: dict[tuple[str, int, int, bool], str] = {}
        if time.timezone or (time.daylight and time.altzone):
            log.warning(
                "the SQLite online store holds event times in the local time zone "
                "of the process that wrote them (Feast's format), and this one's "
                "is not UTC (%s): materialise in the same time zone, or the ages "
                "and OUTSIDE_MAX_AGE statuses shift by the difference",
                "/".join(time.tzname),
            )

    def _slot(self) -> _Slot:
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            slot = self._local.slot = _Slot()
            with self._slots_lock:
                self._slots.add(slot)
        return slot

    def _conn(self, slot: _Slot) -> apsw.Connection:
        """The slot's connection (its lock held), reopened when the file changed."""
        conn = slot.conn
        if conn is not None:
            now = time.monotonic()
            if now < slot.check_at:
                return conn
            slot.check_at = now + FILE_CHECK_S
            try:
                if _file_id(self._path) == slot.file_id:
                    return conn
            except OSError as exc:
                self._close_all(slot)  # a deleted file: not its stale rows
                raise self._unavailable(exc) from exc
            log.info("SQLite online store %s was replaced: reopening", self._path)
            self._close_all(slot)
        return self._open(slot)

    def _open(self, slot: _Slot) -> apsw.Connection:
        try:
            # Before opening: a file replaced in between is noticed at the
            # next check (after, it never would be).
            file_id = _file_id(self._path)
            conn = apsw.Connection(self._path, flags=apsw.SQLITE_OPEN_READONLY)
            conn.set_busy_timeout(int(self._timeout_s * 1000))
            conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
            # The block read needs a UTF-8 database (_sqlite_block).
            encoding = conn.execute("PRAGMA encoding").get
        except (OSError, apsw.Error) as exc:
            raise self._unavailable(exc) from exc
        slot.conn, slot.file_id = conn, file_id
        slot.check_at = time.monotonic() + FILE_CHECK_S
        slot.utf8 = encoding == "UTF-8"
        self._failing = False
        return conn

    def _close_all(self, mine: _Slot) -> None:
        """Close this thread's connection and every idle thread's.

        A thread reading now keeps its own: it checks the file itself.
        """
        mine.close()
        with self._slots_lock:
            others = [slot for slot in self._slots if slot is not mine]
        for slot in others:
            if slot.lock.acquire(blocking=False):
                try:
                    slot.close()
                finally:
                    slot.lock.release()

    def _sql(
        self, table: str, n_keys: int, n_features: int, *, block: bool = False
    ) -> str:
        """The row read's (or block read's) SQL for this shape, built once."""
        shape = (table, n_keys, n_features, block)
        sql = self._sql_cache.get(shape)
        if sql is None:
            build = block_sql if block else _row_sql
            sql = build(*_sql_parts(table, n_keys, n_features))
            if len(self._sql_cache) < 4096:
                self._sql_cache[shape] = sql
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
        slot = self._slot()
        with slot.lock:  # no other thread closes its connection meanwhile
            for view in views:
                keys = encode_entity_keys(
                    view.join_keys, view.join_key_types, entity_rows, self._version
                )
                table = f"{project}_{view.name}"
                result = None
                if self._block_readable(slot, view, keys):
                    result = self._read_block(slot, table, view, keys, now, ts_cache)
                if result is None:
                    stored = self._fetch(slot, table, view, keys, ts_cache)
                    result = assemble(view, keys, stored, now)
                results.append(result)
        return results

    def _block_readable(
        self, slot: _Slot, view: ViewRequest, keys: list[bytes]
    ) -> bool:
        """Whether to take the block read (declared doubles, enough keys)."""
        if not (
            view.all_double
            and 0 < len(view.features) <= MAX_FEATURES
            and _BLOCK_MIN_KEYS <= len(keys) <= _MAX_KEYS_PER_QUERY
        ):
            return False
        self._conn(slot)  # opening it learns the database's text encoding
        return slot.utf8

    def _read_block(
        self,
        slot: _Slot,
        table: str,
        view: ViewRequest,
        keys: list[bytes],
        now: datetime,
        ts_cache: dict[object, datetime],
    ) -> ViewResult | None:
        """Read the view with one blob per key (``_sqlite_block``).

        All doubles, every feature stored: a ``PackedDoubles`` result. Other
        values, or stored rows lacking a feature, are cut out of the same
        blobs one by one. None only for a blob that cannot be read back
        exactly (values of 65,532 bytes or more): the row read handles it.
        """
        unique = list(dict.fromkeys(keys))
        nf = len(view.features)
        sql = self._sql(table, len(unique), nf, block=True)
        blobs: list[bytes | None] = [None] * len(unique)
        try:
            for i, blob in self._conn(slot).execute(sql, [*unique, *view.features]):
                blobs[i] = blob
        except apsw.Error as exc:
            raise self._store_error(slot, table, exc) from exc
        # Keys with something stored: their event time and record.
        records: dict[bytes, tuple[datetime, bytes]] = {}
        for key, blob in zip(unique, blobs, strict=True):
            if blob is not None:
                stamp, _, record = blob.partition(b"|")
                records[key] = (_sqlite_ts(stamp_value(stamp), ts_cache), record)
        cells = None
        if records:
            cells = ordered_doubles([record for _, record in records.values()], nf)
        if cells is None:
            stored: dict[bytes, StoredRow] = {}
            for key, (moment, record) in records.items():
                row = record_cells(record, nf)
                if row is None:
                    return None
                stored[key] = (moment, row)
            return assemble(view, keys, stored, now)
        # Entity row -> row of `cells` (-1: nothing stored for its key).
        row_of = dict.fromkeys(unique, -1) | {key: n for n, key in enumerate(records)}
        rows = np.fromiter((row_of[key] for key in keys), np.intp, len(keys))
        present = rows >= 0
        packed = PackedDoubles(cells[np.where(present, rows, 0)], present)
        times = [records[key][0] if key in records else None for key in keys]
        return assemble_packed(view, times, packed, now)

    def _fetch(
        self,
        slot: _Slot,
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
                for i, j, value, ts in self._conn(slot).execute(
                    sql, [*chunk, *view.features]
                ):
                    values[i][j] = value
                    # Feast writes one event_ts for all features of a row;
                    # keep the newest in case rows were written at different times.
                    if newest[i] is None or ts > newest[i]:
                        newest[i] = ts
            except apsw.Error as exc:
                raise self._store_error(slot, table, exc) from exc
            for key, ts, row in zip(chunk, newest, values, strict=True):
                if ts is not None:
                    stored[key] = (_sqlite_ts(ts, ts_cache), row)
        return stored

    def _store_error(self, slot: _Slot, table: str, exc: apsw.Error) -> Exception:
        """The domain error for a failed read; drops the connection unless benign."""
        if isinstance(exc, apsw.SQLError) and "no such table" in str(exc):
            return OnlineTableNotFoundError(table)
        slot.close()
        return self._unavailable(exc)

    def _unavailable(self, exc: OSError | apsw.Error) -> OnlineStoreUnavailableError:
        """The error a client reads names the store's kind, never its file
        (a server path); the file goes to this server's log."""
        if not self._failing:
            self._failing = True
            log.warning("SQLite online store %s cannot be read: %s", self._path, exc)
        # OSError's text quotes the path: its reason only.
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)
        return OnlineStoreUnavailableError("sqlite", str(detail))

    def ping(self) -> bool:
        """Return True when the database file opens and answers a query.

        Checks now that the file is the one opened (reads check every
        ``FILE_CHECK_S``), so health turns NOT_SERVING as soon as it is gone.
        """
        slot = self._slot()
        with slot.lock:
            slot.check_at = 0.0
            try:
                self._conn(slot).execute("SELECT 1").fetchall()
            except (OnlineStoreUnavailableError, apsw.Error):
                slot.close()
                return False
        return True

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        slot = self._slot()
        with slot.lock:
            slot.close()
