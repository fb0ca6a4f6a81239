"""Profile versions published before profiling existed (or left unprofiled by a crash).

Reads each version's pinned snapshot with delta-rs and DuckDB and appends its
profile rows with delta-rs: no Spark, no JVM.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deltalake import DeltaTable, write_deltalake

from featurestore.services.contracts import Contract
from featurestore.services.monitoring._schema import (
    profile_location,
    profiles_from,
    to_table,
)
from featurestore.services.monitoring.assess import Assessment, Reference
from featurestore.services.monitoring.errors import TableNotFoundError
from featurestore.services.monitoring.reference import resolve_reference
from featurestore.services.monitoring.snapshot import (
    open_features,
    profile_dataset,
    table_versions,
)
from featurestore.services.monitoring.store import read_profile_rows, table_location
from featurestore.services.offline.errors import (
    StorageUnavailableError,
    storage_unavailable,
)
from featurestore.services.project import Project
from featurestore.services.storage import files_not_found


@dataclass(frozen=True)
class BackfillReport:
    """What a backfill did."""

    table: str
    profiled: tuple[int, ...]
    """Versions profiled now, oldest first."""
    skipped: tuple[int, ...]
    """Versions whose files are gone (vacuumed): left unprofiled."""
    already: tuple[int, ...]
    """Versions that had a profile and were left as they were."""

    def to_json_obj(self) -> dict[str, object]:
        """Return the report as JSON-ready data."""
        return {
            "table": self.table,
            "profiled": list(self.profiled),
            "skipped": list(self.skipped),
            "already": list(self.already),
        }


def backfill(
    project: Project,
    contract: Contract,
    *,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BackfillReport:
    """Profile every version of `contract`'s table that has no profile yet.

    Args:
        project: The project (locations, storage options, manifest paths).
        contract: The table's contract (feature columns, drift settings).
        force: Profile every version again (the newest write of a version wins).
        progress: Called with each version before it is profiled.

    Raises:
        TableNotFoundError: The feature table does not exist.
        BaselineNotFoundError: The contract's baseline cannot be read.
        StorageUnavailableError: The object store did not answer or refused
            (the offline store's, STORAGE_UNAVAILABLE).
    """
    location = table_location(project, contract.name)
    options = project.storage_options
    versions = table_versions(location, options)
    rows = read_profile_rows(location, options)
    had = {int(r["table_version"]) for r in rows}
    todo = [v for v in versions if force or v not in had]
    if not todo:
        return BackfillReport(contract.name, (), (), tuple(sorted(had)))
    # The reference starts from the oldest version still readable: vacuumed
    # ones first are only probed (their data files), never read.
    gone = []
    for version in todo:
        if not _vacuumed(location, version, options):
            break
        gone.append(version)
    kept = todo[len(gone) :]
    reference = resolve_reference(
        contract, location, rows, repo=project.repo, storage_options=options,
        fallback=kept[0] if kept else None,
    )  # fmt: skip
    run_id, done, skipped = uuid.uuid4().hex[:12], [], gone
    for version in kept:
        if progress is not None:
            progress(version)
        if reference is None:  # none yet (empty versions): this one may start it
            reference = resolve_reference(
                contract, location, rows, repo=project.repo,
                storage_options=options, fallback=version,
            )  # fmt: skip
        try:
            new = profile_version(
                contract, location, version, reference, rows,
                storage_options=options, run_id=run_id,
            )  # fmt: skip
        except TableNotFoundError:
            skipped.append(version)
            continue
        except StorageUnavailableError:
            if not _vacuumed(location, version, options):
                raise  # the store does not answer: not the version's fault
            skipped.append(version)
            continue
        _append(profile_location(location), new, options)
        rows += new
        done.append(version)
    already = tuple(sorted(had - set(todo)))
    return BackfillReport(contract.name, tuple(done), tuple(skipped), already)


def profile_version(
    contract: Contract,
    location: str,
    version: int,
    reference: Reference | None,
    rows: list[dict[str, Any]],
    *,
    storage_options: dict[str, str] | None = None,
    run_id: str,
) -> list[dict[str, Any]]:
    """Profile rows of `version` from its pinned snapshot, scored like a publish.

    Only the contract's features the version holds with a comparable type
    (see `snapshot.comparable_features`) are profiled.

    Args:
        contract: The table's contract.
        location: Feature table location.
        version: The version to profile.
        reference: The table's reference (buckets).
        rows: The profile table's rows so far (for the previous version).
        storage_options: Object-storage options for delta-rs.
        run_id: Stamped on the rows.

    Raises:
        TableNotFoundError: The version cannot be read (vacuumed, unknown).
    """
    snapshot = open_features(location, version, contract, None, storage_options)
    # A feature this version lacks (added to the contract later) gets no row.
    columns = profile_dataset(snapshot.rows, snapshot.settings, reference)
    earlier = [p for p in profiles_from(contract.name, rows) if p.version < version]
    assessment = Assessment(
        contract.name, columns, contract.drift, reference,
        earlier[-1] if earlier else None,
    )  # fmt: skip
    return assessment.rows(
        version, source="backfill", run_id=run_id, at=datetime.now(UTC)
    )


def _vacuumed(location: str, version: int, options: dict[str, str]) -> bool:
    # No answer from the store is still STORAGE_UNAVAILABLE (files_not_found).
    with storage_unavailable(location):
        table = DeltaTable(location, version=version, storage_options=dict(options))
        return files_not_found(table, dict(options))


def _append(location: str, rows: list[dict[str, Any]], options: dict[str, str]) -> None:
    if rows:
        with storage_unavailable(location):
            # schema_mode: a profile table written before `bins` and `top_k`
            # were recorded gains the two columns (older rows read null).
            write_deltalake(
                location, to_table(rows), mode="append", storage_options=options,
                schema_mode="merge",
            )  # fmt: skip
