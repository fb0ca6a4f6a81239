"""Version history of a Delta feature table, read from its commit metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.lineage.errors import TableNotFoundError
from featurestore.services.project import Project


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
            "contract": self.contract,
            "validation": None if self.validation is None else dict(self.validation),
        }


def default_data_root() -> Path:
    """Return the project's data root: `$FS_DATA_DIR`, else featurestore.yaml's.

    Raises:
        ProjectNotFoundError: No project in the working directory.
    """
    return Path(Project.discover().data_dir)


def resolve_table(table: str, data_dir: Path | None = None) -> Path:
    """Return the path of `table`: a feature table name or a path.

    A bare name (no path separator, not an existing folder) means
    `<data_dir>/features/<name>`, the layout of `spark_jobs.paths.DataPaths`.
    """
    candidate = Path(table)
    if os.sep in table or "/" in table or candidate.is_dir():
        return candidate
    return (data_dir or default_data_root()) / "features" / table


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
        contract=_contract(meta),
        validation=validation if isinstance(validation, dict) else None,
    )


def table_history(path: str | Path, limit: int | None = None) -> list[VersionRecord]:
    """Return the versions of the Delta table at `path`, newest first.

    Args:
        path: Folder of the Delta table.
        limit: Return at most this many versions (all when None).

    Returns:
        One `VersionRecord` per commit still in the log, newest first.

    Raises:
        TableNotFoundError: TABLE_NOT_FOUND when `path` holds no Delta table.
    """
    try:
        commits = DeltaTable(str(path)).history(limit)
    except _DeltaTableNotFoundError as exc:
        raise TableNotFoundError(str(path)) from exc
    return [_record(commit) for commit in commits]
