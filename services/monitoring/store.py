"""Read profiles and drift scores from the `<table>_profile` Delta table."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.contracts import ContractRegistry
from featurestore.services.lineage.errors import TableUnreadableError
from featurestore.services.lineage.history import PUBLISH_LOOKBACK, is_publish
from featurestore.services.monitoring._schema import (
    profile_location,
    profiles_from,
    scores_from,
)
from featurestore.services.monitoring.errors import (
    InvalidTableNameError,
    ProfileNotFoundError,
    TableNotFoundError,
)
from featurestore.services.monitoring.model import DriftScore, VersionProfile
from featurestore.services.offline.errors import storage_unavailable
from featurestore.services.project import Project
from featurestore.services.storage import delta_error_detail, read_delta

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def table_location(project: Project, table: str) -> str:
    """Location of feature table `table` in `project` (a name, never a path).

    Raises:
        InvalidTableNameError: `table` is not a plain identifier.
    """
    if not _NAME.match(table):
        raise InvalidTableNameError(table)
    return project.table_uri(table)


def read_profile_rows(
    location: str,
    storage_options: Mapping[str, str] | None = None,
    version: int | None = None,
) -> list[dict[str, Any]]:
    """Rows of the profile table beside the feature table at `location`.

    Returns:
        Every row, or those of `version`; empty when there is no profile table.

    Raises:
        TableUnreadableError: delta-rs cannot read the profile table's log (a
            corrupt commit file): TABLE_UNREADABLE, as ``lineage`` says.
        StorageUnavailableError: The object store did not answer or refused.
    """
    profiles = profile_location(location)
    where = None if version is None else f"table_version = {int(version)}"
    with storage_unavailable(profiles), _readable(profiles):
        try:
            table = DeltaTable(profiles, storage_options=dict(storage_options or {}))
        except _DeltaTableNotFoundError:
            return []
        rows: list[dict[str, Any]] = read_delta(table, where=where).to_pylist()
    return rows


@contextmanager
def _readable(location: str) -> Iterator[None]:
    """A DeltaError inside the block (a corrupt commit file, a gap in the log)
    is TABLE_UNREADABLE for `location`."""
    try:
        yield
    except DeltaError as exc:
        raise TableUnreadableError(location, delta_error_detail(exc)) from exc


def _rows(project: Project, table: str, version: int | None) -> list[dict[str, Any]]:
    location = table_location(project, table)
    rows = read_profile_rows(location, project.storage_options, version)
    if not rows:
        raise _not_profiled(project, location, table, version)
    return rows


def _not_profiled(
    project: Project, location: str, table: str, version: int | None
) -> ProfileNotFoundError:
    """Why `table` (or its `version`) has no profile, advising a backfill only
    where one would profile it: a publish of a table named as its contract.

    Raises:
        TableNotFoundError: No such table or version (a backfill could not
            profile it either).
    """
    with storage_unavailable(location), _readable(location):
        try:
            delta = DeltaTable(location, storage_options=dict(project.storage_options))
        except _DeltaTableNotFoundError:
            raise TableNotFoundError(table) from None
        current = delta.version()
        if version is not None and version > current:
            raise TableNotFoundError(table, version)
        # The version asked for, and the commits before it (newest first).
        limit = 0 if version is None else current - version + PUBLISH_LOOKBACK
        commits = delta.history(limit) if limit else []
    if version is not None:
        mine = [c for c in commits if int(c["version"]) == version]
        if not mine:  # its log entry is gone: no backfill reads it
            return ProfileNotFoundError(table, version, " (no longer in its log)")
        operation = str(mine[0].get("operation", ""))
        if not is_publish(operation):
            return _maintenance(table, version, operation, commits)
    if table not in ContractRegistry(project.contracts_dir).names():
        return ProfileNotFoundError(
            table, version,
            f"; `featurestore monitor backfill` profiles a table named as its "
            f"contract, and there is no contract {table}",
        )  # fmt: skip
    return ProfileNotFoundError(
        table, version, f"; run `featurestore monitor backfill {table}`"
    )


def _maintenance(
    table: str, version: int, operation: str, commits: list[dict[str, Any]]
) -> ProfileNotFoundError:
    """A VACUUM, OPTIMIZE or table-property commit is never profiled: it holds
    the rows of the publish before it, whose profile is the one to read."""
    before = [
        int(c["version"])
        for c in commits
        if int(c["version"]) < version and is_publish(c.get("operation"))
    ]
    if not before:
        rows = "the rows of the publish before it (older than the commits searched)"
        return ProfileNotFoundError(
            table, version, f": it is a {operation} commit, holding {rows}",
            operation=operation,
        )  # fmt: skip
    return ProfileNotFoundError(
        table, version,
        f": it is a {operation} commit, holding the same rows as version "
        f"{before[0]}, the publish before it (read that version's profile)",
        operation=operation, publish=str(before[0]),
    )  # fmt: skip


def read_profiles(
    project: Project, table: str, version: int | None = None
) -> list[VersionProfile]:
    """Profiles of feature table `table`: every profiled version, or one.

    Args:
        project: The project (locations and storage options).
        table: Feature table name.
        version: A Delta version of the table; None for every profiled one.

    Returns:
        One profile per version, oldest first.

    Raises:
        InvalidTableNameError: `table` is not a name.
        TableNotFoundError: No such feature table, or no such version of it.
        ProfileNotFoundError: Nothing profiled (or not that version).
        TableUnreadableError: The Delta log of the table or of its profile
            table cannot be read (TABLE_UNREADABLE, lineage's error).
        StorageUnavailableError: The object store did not answer or refused
            (the offline store's, STORAGE_UNAVAILABLE).
    """
    return profiles_from(table, _rows(project, table, version))


def read_drift(
    project: Project, table: str, version: int | None = None
) -> list[DriftScore]:
    """Drift scores of feature table `table`: every profiled version, or one.

    Each feature of each version has up to two scores: against the baseline
    (the reference version) and against the previous profiled version. A
    version written twice keeps the scores of its newest write.

    Args:
        project: The project (locations and storage options).
        table: Feature table name.
        version: A Delta version of the table; None for every profiled one.

    Returns:
        Scores ordered by version, feature order of the contract, baseline first.

    Raises:
        InvalidTableNameError: `table` is not a name.
        TableNotFoundError: No such feature table, or no such version of it.
        ProfileNotFoundError: Nothing profiled (or not that version).
        TableUnreadableError: The Delta log of the table or of its profile
            table cannot be read (TABLE_UNREADABLE, lineage's error).
        StorageUnavailableError: The object store did not answer or refused
            (the offline store's, STORAGE_UNAVAILABLE).
    """
    rows = _rows(project, table, version)
    newest: dict[int, Any] = {}
    for row in rows:
        key = int(row["table_version"])
        newest[key] = max(newest.get(key, row["profiled_at"]), row["profiled_at"])
    kept = [r for r in rows if r["profiled_at"] == newest[int(r["table_version"])]]
    kept.sort(key=lambda r: int(r["table_version"]))
    return scores_from(table, kept)


def latest_version(profiles: list[VersionProfile]) -> VersionProfile:
    """The newest of `profiles` (which must not be empty)."""
    return max(profiles, key=lambda p: p.version)
