"""Read one Delta snapshot (current, or pinned by version or time) as Arrow."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.offline.errors import (
    NaiveTimestampError,
    TableNotFoundError,
    VersionNotFoundError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

__all__ = ["Snapshot", "commit_metadata", "read_snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """The rows of one Delta table version.

    Attributes:
        table: The live rows of the snapshot (deleted/overwritten rows excluded).
        version: The Delta version that was read.
        path: The table path as given.
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
    filters: Any = None,
) -> Snapshot:
    """Read a Delta snapshot through the Delta log, never the raw parquet files.

    Args:
        path: Table location.
        version: Pin to this version; mutually exclusive with ``timestamp``.
        timestamp: Pin to the latest version committed at or before this
            tz-aware instant.
        columns: Only read these columns (all when None).
        filters: DNF filters passed to ``DeltaTable.to_pyarrow_table``.

    Returns:
        The snapshot with the version that was actually read.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
        VersionNotFoundError: The pin names no existing version.
        NaiveTimestampError: ``timestamp`` has no time zone.
        ValueError: Both pins were given.
    """
    if version is not None and timestamp is not None:
        raise ValueError("pin either version or timestamp, not both")
    dt = _open(path, version)
    if timestamp is not None:
        _load_at_time(dt, path, timestamp)
    table = dt.to_pyarrow_table(
        columns=list(columns) if columns is not None else None, filters=filters
    )
    return Snapshot(table=table, version=dt.version(), path=path)


def latest_version(path: str) -> int:
    """Return the current version of the Delta table at ``path``.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
    """
    return _open(path, None).version()


def commit_metadata(path: str, version: int) -> dict[str, Any]:
    """Return the parsed ``userMetadata`` of the commit that made ``version``.

    A JSON object is returned as is; any other non-empty value is returned as
    ``{"userMetadata": raw}``; no user metadata gives ``{}``.

    Raises:
        TableNotFoundError: No Delta table at ``path``.
        VersionNotFoundError: ``version`` is not in the table history.
    """
    info = _commit_info(_open(path, None), path, version)
    raw = info.get("userMetadata")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"userMetadata": raw}
    return parsed if isinstance(parsed, dict) else {"userMetadata": raw}


def _open(path: str, version: int | None) -> DeltaTable:
    try:
        latest = DeltaTable(path).version()
    except _DeltaTableNotFoundError as exc:
        raise TableNotFoundError(path) from exc
    if version is None:
        return DeltaTable(path)
    if not 0 <= version <= latest:
        raise VersionNotFoundError(path, f"version {version}")
    try:
        return DeltaTable(path, version=version)
    except DeltaError as exc:  # log files of old versions cleaned up
        raise VersionNotFoundError(path, f"version {version}") from exc


def _load_at_time(dt: DeltaTable, path: str, timestamp: datetime) -> None:
    if timestamp.tzinfo is None:
        raise NaiveTimestampError("timestamp")
    pin = f"timestamp {timestamp.astimezone(UTC).isoformat()}"
    try:
        dt.load_as_version(timestamp)
    except DeltaError as exc:
        raise VersionNotFoundError(path, pin) from exc
    # delta-rs silently falls back to version 0 for instants before the
    # table existed; a pin must not return data that did not exist yet.
    committed_ms = _commit_info(DeltaTable(path), path, dt.version())["timestamp"]
    if committed_ms > timestamp.timestamp() * 1000:
        raise VersionNotFoundError(path, pin)


def _commit_info(dt: DeltaTable, path: str, version: int) -> dict[str, Any]:
    for entry in dt.history():
        if entry.get("version") == version:
            return entry
    raise VersionNotFoundError(path, f"version {version}")
