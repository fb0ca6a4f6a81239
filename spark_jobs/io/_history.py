"""A Delta table's commits: versions, and the stamps ``publish`` gave them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pyspark.sql import SparkSession

from featurestore.services.storage import is_local
from featurestore.spark_jobs import _delta_rs
from featurestore.spark_jobs.io import _uri
from featurestore.spark_jobs.io._translate import store_reached
from featurestore.spark_jobs.io._write import commit_stamp
from featurestore.spark_jobs.paths import storage_options

from delta.tables import DeltaTable  # isort: skip


def publish_stamp(spark: SparkSession, location: str) -> dict[str, Any]:
    """The stamp ``publish`` gave the table's current rows: the metadata of the
    newest commit holding a ``contract_version`` ({} when none does, or no
    table). Usually the newest commit; one made by maintenance (OPTIMIZE,
    another tool) carries no stamp, so the log is read further back then.

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    read = _history_reader(spark, location)
    with store_reached(location):
        for limit in (1, None):
            for _, raw in read(limit):
                stamp = _parsed_stamp(raw)
                if "contract_version" in stamp:
                    return stamp
    return {}


def _parsed_stamp(raw: object) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def committed_version(
    spark: SparkSession,
    location: str,
    metadata: Mapping[str, object],
    *,
    since: int | None = None,
) -> int | None:
    """Version of the newest commit at ``location`` stamped with ``metadata``.

    Under concurrent writers the latest version may be someone else's; the stamp
    (job, run id, summary) finds this writer's own commit among every commit
    after ``since``, however many other writers made meanwhile, and only that:
    a writer that committed nothing has no version of its own. Tables delta-rs
    reaches (local ones, and those Spark cannot open) are read from the
    transaction log with delta-rs (milliseconds, where Spark's
    ``DESCRIBE HISTORY`` runs a job); others through Spark.

    Args:
        spark: The session.
        location: Table path or URI.
        metadata: The commit's stamp, as given to the write.
        since: Only commits after this version count (the table's version
            before the write: an earlier run's commit with the same stamp is
            not this one's). None: the table did not exist before the write,
            so every commit is searched.

    Returns:
        The version, or None when no commit after ``since`` carries the stamp
        (or there is no table).

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    stamp = commit_stamp(metadata)
    with store_reached(location):
        mine = [
            version
            for version, stamped in _commits_after(spark, location, since)
            if stamped == stamp
        ]
    return max(mine, default=None)


def latest_version(spark: SparkSession, location: str) -> int | None:
    """The newest version of the Delta table at ``location``, None without one.

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    with store_reached(location):
        newest = _history_reader(spark, location)(1)
    return max((version for version, _ in newest), default=None)


_Commits = list[tuple[int, object]]
"""(version, userMetadata) of commits, newest first."""


def _commits_after(spark: SparkSession, location: str, since: int | None) -> _Commits:
    """Every commit after version ``since`` (all of them when None) that the log
    still holds; [] without a table.

    The log is read newest first, as far back as ``since``: first the newest
    commit, then down to ``since``; commits landing meanwhile push the oldest
    wanted one further back, so it reads again until that one is in or the log
    has no more.
    """
    read = _history_reader(spark, location)
    if since is None:
        return read(None)
    limit = 1
    while True:
        commits = read(limit)
        oldest = min((version for version, _ in commits), default=since)
        if oldest <= since + 1 or len(commits) < limit:
            return [(version, stamp) for version, stamp in commits if version > since]
        limit = max(version for version, _ in commits) - since


def _history_reader(
    spark: SparkSession, location: str
) -> Callable[[int | None], _Commits]:
    """Reads the newest ``limit`` commits (all with None), [] without a table."""
    if is_local(location) or not _uri.spark_can_open(spark, location):

        def from_log(limit: int | None) -> _Commits:
            history = _delta_rs.history(location, storage_options(), limit)
            return [(int(str(c["version"])), c.get("userMetadata")) for c in history]

        return from_log
    uri = _uri.spark_uri(spark, location)

    def from_spark(limit: int | None) -> _Commits:
        if not DeltaTable.isDeltaTable(spark, uri):
            return []
        rows = DeltaTable.forPath(spark, uri).history(limit).collect()
        return [(int(r["version"]), r["userMetadata"]) for r in rows]

    return from_spark
