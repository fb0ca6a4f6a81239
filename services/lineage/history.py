"""Version history of a Delta feature table, read from its commit metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deltalake.exceptions import DeltaError, DeltaProtocolError
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFoundError

from featurestore.services.lineage.errors import (
    DataRootNotFoundError,
    StorageUnavailableError,
    TableNotFoundError,
    TableUnreadableError,
)
from featurestore.services.project import Project, ProjectNotFoundError
from featurestore.services.storage import (
    StorageOptions,
    delta_error_detail,
    is_local,
    is_uri,
    join,
    local_path,
    open_delta,
)

if TYPE_CHECKING:
    from deltalake import DeltaTable


@dataclass(frozen=True)
class VersionRecord:
    """One version of a Delta table and what produced it.

    Fields after `operation` come from the commit's `userMetadata` JSON, as the
    Spark jobs write it (`featurestore.spark_jobs.publish`); they are None for commits
    without it (or with metadata that is not a JSON object).
    """

    version: int
    """Delta table version."""
    timestamp: datetime
    """Commit time (UTC)."""
    operation: str
    """Delta operation, e.g. `WRITE` or `CREATE OR REPLACE TABLE AS SELECT`."""
    job: str | None = None
    """Job that wrote the version."""
    run_id: str | None = None
    """Run id of that job."""
    mode: str | None = None
    """Publish mode: `overwrite`, `append`, `merge` or `replace_partitions`."""
    contract: str | None = None
    """Contract enforced, as `name@version`."""
    validation: Mapping[str, Any] | None = None
    """Validation summary: rows_in, published, quarantined, by_reason."""

    def to_json_obj(self) -> dict[str, Any]:
        """Return the record as a JSON-ready mapping (timestamp in ISO 8601)."""
        return {
            "version": self.version,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "operation": self.operation,
            "job": self.job,
            "run_id": self.run_id,
            "mode": self.mode,
            "contract": self.contract,
            "validation": None if self.validation is None else dict(self.validation),
        }


def default_data_root() -> str:
    """Return the project's data root: `$FS_DATA_DIR`, else featurestore.yaml's.

    Raises:
        ProjectNotFoundError: No project in the working directory.
    """
    return Project.discover().data_dir


def resolve_table(table: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """Return the location of `table`: a feature table name, a path or a URI.

    A bare name (no path separator) means `<data_dir>/features/<name>`, the
    layout of `spark_jobs.paths.DataPaths`, whatever the working directory
    holds: a folder of that name there is reached as ``./<name>``. (An
    existing folder used to win, so from a folder holding another project's
    table of that name the wrong history was printed without a word.)

    Raises:
        DataRootNotFoundError: A bare name, no ``data_dir`` and no project.
    """
    if is_uri(table) or os.sep in table or "/" in table:
        return table
    if data_dir is not None:
        return join(os.fspath(data_dir), "features", table)
    try:
        root = default_data_root()
    except ProjectNotFoundError as exc:
        raise DataRootNotFoundError(table, exc.metadata["repo"]) from exc
    return join(root, "features", table)


def _user_metadata(commit: Mapping[str, Any]) -> dict[str, Any]:
    raw = commit.get("userMetadata")
    if not isinstance(raw, str):
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _contract(meta: Mapping[str, Any]) -> str | None:
    if isinstance(meta.get("contract"), str):
        return str(meta["contract"])
    name, version = meta.get("contract_name"), meta.get("contract_version")
    if isinstance(name, str) and isinstance(version, str):
        return f"{name}@{version}"
    return None


def _record(commit: Mapping[str, Any]) -> VersionRecord:
    meta = _user_metadata(commit)
    validation = meta.get("validation")
    return VersionRecord(
        version=int(commit["version"]),
        timestamp=datetime.fromtimestamp(int(commit["timestamp"]) / 1000, tz=UTC),
        operation=str(commit.get("operation", "")),
        job=_text(meta.get("job")),
        run_id=_text(meta.get("run_id")),
        mode=_text(meta.get("mode")),
        contract=_contract(meta),
        validation=validation if isinstance(validation, dict) else None,
    )


def table_history(
    path: str | os.PathLike[str],
    limit: int | None = None,
    storage: StorageOptions | None = None,
) -> list[VersionRecord]:
    """Return the versions of the Delta table at `path`, newest first.

    Args:
        path: Location of the Delta table: a path, `file://` or `s3://` URI.
        limit: Return at most this many versions (all when None).
        storage: Object-store options (the project's); unused for local paths.

    Returns:
        One `VersionRecord` per commit still in the log, newest first.

    Raises:
        TableNotFoundError: TABLE_NOT_FOUND when `path` holds no Delta table
            (nothing there, an empty folder, a file).
        TableUnreadableError: TABLE_UNREADABLE when delta-rs cannot read the
            table's log (a corrupt commit file).
        StorageUnavailableError: STORAGE_UNAVAILABLE when the object store
            did not answer or refused.
    """
    location = os.fspath(path)
    with _reading(location):
        commits = open_delta(location, storage).history(limit)
    return [_record(commit) for commit in commits]


SAME_DATA_OPERATIONS = frozenset(
    {"VACUUM START", "VACUUM END", "OPTIMIZE", "SET TBLPROPERTIES",
     "UNSET TBLPROPERTIES", "UPGRADE PROTOCOL"}
)  # fmt: skip
"""Delta operations whose commit leaves the table's rows as they were."""

PUBLISH_LOOKBACK = 100
"""How many of the newest commits are searched for the newest publish: a month
of nightly VACUUM (two commits) and OPTIMIZE. Past them the publish is older
than the oldest searched commit."""


def is_publish(operation: object) -> bool:
    """Whether a commit of this Delta operation (``operation`` in the commit
    info) can change the table's rows: anything but ``SAME_DATA_OPERATIONS``
    (VACUUM, OPTIMIZE, table properties)."""
    return operation not in SAME_DATA_OPERATIONS


@dataclass(frozen=True)
class PublishSearch:
    """The newest publish among a table's newest commits."""

    publish: VersionRecord | None
    """The newest commit that is a publish (``is_publish``); None when none of
    the commits searched is one: the publish is older than ``oldest``."""
    oldest: VersionRecord
    """The oldest commit searched."""
    searched: int
    """How many commits were searched."""


def newest_publish(table: DeltaTable) -> PublishSearch | None:
    """The newest publish of an open table; None when its log has no commit.

    The newest commit is read first, and is the answer unless it is a VACUUM
    or OPTIMIZE (each commit read is a file read, an object-store GET for a
    table on S3); only then are the newest ``PUBLISH_LOOKBACK`` searched.
    Errors are delta-rs's own (``last_publish`` maps them as lineage does).
    """
    newest = table.history(1)
    if not newest:
        return None
    if is_publish(newest[0].get("operation")):
        record = _record(newest[0])
        return PublishSearch(record, record, 1)
    records = [_record(commit) for commit in table.history(PUBLISH_LOOKBACK)]
    publish = next((r for r in records if is_publish(r.operation)), None)
    return PublishSearch(publish, records[-1], len(records))


def last_publish(
    path: str | os.PathLike[str], storage: StorageOptions | None = None
) -> PublishSearch | None:
    """``newest_publish`` of the Delta table at `path`.

    Raises:
        TableNotFoundError, TableUnreadableError, StorageUnavailableError:
            as ``table_history``.
    """
    location = os.fspath(path)
    with _reading(location):
        return newest_publish(open_delta(location, storage))


@contextmanager
def _reading(location: str) -> Iterator[None]:
    """Lineage's errors for delta-rs's, while a table's log is read."""
    if is_local(location) and os.path.isfile(local_path(location)):
        # A file is no table; delta-rs says so only as a generic DeltaError.
        raise TableNotFoundError(location)
    try:
        yield
    except OSError as exc:  # delta-rs: the object store did not answer
        raise StorageUnavailableError(location) from exc
    except DeltaTableNotFoundError as exc:
        raise TableNotFoundError(location) from exc
    except DeltaProtocolError:  # a table, with features delta-rs cannot read
        raise
    except DeltaError as exc:  # a table whose log delta-rs cannot read
        raise TableUnreadableError(location, delta_error_detail(exc)) from exc
