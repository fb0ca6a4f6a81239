"""Read one Delta snapshot (current, or pinned by version or time) as Arrow."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.offline.errors import (
    FeatureColumnMissingError,
    NaiveTimestampError,
    TableNotFoundError,
    VersionNotFoundError,
    storage_unavailable,
)
from featurestore.services.storage import (
    data_files,
    files_not_found,
    open_delta,
    read_delta,
)
from featurestore.services.storage.delta import ColumnNotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    import pyarrow as pa

    from featurestore.services.storage import StorageOptions

__all__ = ["Snapshot", "commit_metadata", "open_table", "read_snapshot"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Snapshot:
    """The rows of one Delta table version.

    Attributes:
        table: The live rows of the snapshot (deleted/overwritten rows excluded).
        version: The Delta version that was read.
        path: The table location as given.
    """

    table: pa.Table
    version: int
    path: str


def read_snapshot(
    path: str,
    *,
    version: int | None = None,
    timestamp: datetime | None = None,
    columns: Sequence[str] | None = None,
    storage: StorageOptions | None = None,
    check_files: Callable[[list[str]], None] | None = None,
    optional: Collection[str] = (),
) -> Snapshot:
    """Read a Delta snapshot through the Delta log, never the raw parquet files.

    Args:
        path: Table location: a local path, ``file://`` or an object-store URI.
        version: Pin to this version; mutually exclusive with ``timestamp``.
        timestamp: Pin to the latest version committed at or before this
            tz-aware instant, by the commits' own times (commitInfo), which
            a copied or restored table keeps.
        columns: Only read these columns (all when None).
        storage: Object-store options (the project's); unused for local paths.
        check_files: Called with the data files of the version to read (URIs
            or absolute paths) before any is read; a caller confining reads
            raises there.
        optional: Columns of ``columns`` read only when the version has them
            (a feature added to the table after it): left out, not refused.

    Returns:
        The snapshot with the version that was actually read.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
        VersionNotFoundError: The pin names no existing version, or an older
            version whose data files VACUUM removed (``vacuumed``).
        FeatureColumnMissingError: A column of ``columns`` is not in that
            version's schema (the table and column named; ``version`` when
            the table's current version has it).
        NaiveTimestampError: ``timestamp`` has no time zone.
        StorageUnavailableError: The object store did not answer.
        ValueError: Both pins were given.
    """
    if version is not None and timestamp is not None:
        raise ValueError("pin either version or timestamp, not both")
    dt = _open(path, version, storage)
    if timestamp is not None:
        _load_at_time(dt, path, timestamp)
    if check_files is not None:
        check_files(data_files(dt))
    if optional and columns is not None:
        present = set(column_names(dt))
        columns = [c for c in columns if c in present or c not in optional]
    with storage_unavailable(path):
        try:
            table = read_delta(dt, columns)
        except ColumnNotFoundError as exc:
            added = _added_since(dt, exc.column, path, storage)
            raise FeatureColumnMissingError(
                exc.column, path=path, version=added
            ) from exc
        except OSError as exc:
            if _vacuumed(dt, path, storage):
                pin = f"version {dt.version()}"
                raise VersionNotFoundError(path, pin, vacuumed=True) from exc
            raise
    return Snapshot(table=table, version=dt.version(), path=path)


def column_names(dt: DeltaTable) -> list[str]:
    """The columns of ``dt``'s loaded version, in schema order."""
    import pyarrow as pa

    return list(pa.schema(dt.schema().to_arrow()).names)


def _added_since(
    dt: DeltaTable, column: str, path: str, storage: StorageOptions | None
) -> int | None:
    """``dt``'s version when ``column``, missing there, is in the table's
    current version (added since: a pin's fault, not the table's), else None.
    """
    latest = open_table(path, storage)
    if dt.version() < latest.version() and column in column_names(latest):
        return dt.version()
    return None


def _vacuumed(dt: DeltaTable, path: str, storage: StorageOptions | None) -> bool:
    """Whether an unreadable ``dt`` is a version VACUUM removed files of: one
    older than the table's current version (whose files a VACUUM keeps) with
    a data file the store says is not found. A current version missing a
    file lost it outside Delta: that stays STORAGE_UNAVAILABLE.
    """
    if dt.version() >= latest_version(path, storage):
        return False
    options = storage.for_location(dt.table_uri) if storage is not None else None
    return files_not_found(dt, options)


def latest_version(path: str, storage: StorageOptions | None = None) -> int:
    """Return the current version of the Delta table at ``path``.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
    """
    return _open(path, None, storage).version()


def commit_metadata(
    path: str, version: int, storage: StorageOptions | None = None
) -> dict[str, Any]:
    """Return the parsed ``userMetadata`` of the commit that made ``version``.

    A JSON object is returned as is; any other non-empty value is returned as
    ``{"userMetadata": raw}``; no user metadata gives ``{}``.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
        VersionNotFoundError: ``version`` is not in the table history.
    """
    return commit_of(path, version, storage)[0]


def commit_time(
    path: str, version: int, storage: StorageOptions | None = None
) -> int | None:
    """When ``version`` was committed: the commitInfo timestamp (ms since the
    epoch) in the Delta log, which a copied table keeps; None when absent.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
        VersionNotFoundError: ``version`` is not in the table history.
    """
    return commit_of(path, version, storage)[1]


def commit_of(
    path: str, version: int, storage: StorageOptions | None = None
) -> tuple[dict[str, Any], int | None]:
    """``commit_metadata`` and ``commit_time`` of ``version``, from one read of
    the table's history."""
    info = _commit_info(_open(path, None, storage), path, version)
    stamp = info.get("timestamp")
    return _user_metadata(info.get("userMetadata")), (
        int(stamp) if stamp is not None else None
    )


def _user_metadata(raw: Any) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"userMetadata": raw}
    return parsed if isinstance(parsed, dict) else {"userMetadata": raw}


def open_table(
    path: str, storage: StorageOptions | None = None, version: int | None = None
) -> DeltaTable:
    """The delta-rs table at ``path`` with the options its location needs.

    The one place the serving side opens a Delta table: ``s3a://`` is read
    as ``s3://``, and the object store's errors are translated here.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
        StorageUnavailableError: The object store did not answer.
    """
    with storage_unavailable(path):
        try:
            return open_delta(path, storage, version)
        except _DeltaTableNotFoundError as exc:
            raise TableNotFoundError(path) from exc


def _open(path: str, version: int | None, storage: StorageOptions | None) -> DeltaTable:
    latest = open_table(path, storage)
    if version is None:
        return latest
    if not 0 <= version <= latest.version():
        raise VersionNotFoundError(path, f"version {version}")
    try:
        return open_table(path, storage, version)
    except DeltaError as exc:  # log files of old versions cleaned up
        raise VersionNotFoundError(path, f"version {version}") from exc


def _load_at_time(dt: DeltaTable, path: str, timestamp: datetime) -> None:
    if timestamp.tzinfo is None:
        raise NaiveTimestampError("timestamp")
    pin = f"timestamp {timestamp.astimezone(UTC).isoformat()}"
    with storage_unavailable(path):
        version = _version_at(dt.history(), timestamp)
        if version is None:  # before the first commit the log still holds
            raise VersionNotFoundError(path, pin)
        try:
            dt.load_as_version(version)
        except DeltaError as exc:  # log files of that version cleaned up
            raise VersionNotFoundError(path, pin) from exc


def _version_at(history: list[dict[str, Any]], timestamp: datetime) -> int | None:
    """The greatest version committed at or before ``timestamp``, or None.

    A commit's time is its commitInfo.timestamp (ms), written into the log,
    so it survives a copy, a restore or a sync; delta-rs's
    ``load_as_version(datetime)`` goes by the log files' modification times
    instead and, when every file is newer (a copied table), silently loads
    version 0. As Delta on Spark does, a commit time earlier than its
    predecessor's (clock skew between writers) counts as 1 ms after it, so
    the versions at or before a pin are always a prefix of the history.
    """
    pin_us = (timestamp - _EPOCH) // timedelta(microseconds=1)
    found, last_ms = None, None
    for entry in sorted(history, key=lambda h: int(h.get("version", -1))):
        committed = entry.get("timestamp")
        if not isinstance(committed, int) or "version" not in entry:
            continue  # no commitInfo time: the version can't be dated
        last_ms = committed if last_ms is None else max(committed, last_ms + 1)
        if last_ms * 1000 > pin_us:
            break
        found = int(entry["version"])
    return found


def _commit_info(dt: DeltaTable, path: str, version: int) -> dict[str, Any]:
    for entry in dt.history():
        if entry.get("version") == version:
            return entry
    raise VersionNotFoundError(path, f"version {version}")
