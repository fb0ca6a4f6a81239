"""Profiles and drift in a publish: plan before the pass, gate, write after commit.

Order, and why: the feature table commits first, then its profile (one Delta
commit to ``<table>_profile`` keyed by the version just committed), and only
then does the publish report success. The version number exists only once the
feature commit has landed (a concurrent writer may take the next one), so a
profile written first could not name its version, and one written for a publish
that then failed would describe data nobody can read. A crash between the two
commits leaves a version without a profile but no success report; the next
publish (or ``featurestore monitor backfill``) profiles that version from its
pinned snapshot before anything else, so profiles and versions stay in step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from featurestore.services import lineage
from featurestore.services.contracts import Contract
from featurestore.services.lineage import last_publish
from featurestore.services.monitoring._schema import (
    SCHEMA,
    profile_location,
    profiles_from,
    to_table,
)
from featurestore.services.monitoring.aggregates import Aggregate, ProfilePlan
from featurestore.services.monitoring.assess import Assessment, Reference
from featurestore.services.monitoring.backfill import profile_version
from featurestore.services.monitoring.errors import MonitoringError
from featurestore.services.monitoring.model import (
    ColumnProfile,
    DriftScore,
    VersionProfile,
)
from featurestore.services.monitoring.reference import resolve_reference
from featurestore.services.monitoring.store import read_profile_rows
from featurestore.services.project import Project, ProjectError
from featurestore.services.storage import StorageOptions, is_local
from featurestore.spark_jobs.errors import (
    ContractViolationError,
    Reason,
    StorageUnavailableError,
)
from featurestore.spark_jobs.io import (
    append_arrow,
    latest_version,
    spark_can_open,
    spark_uri,
    write_delta,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Monitor:
    """What a publish needs to profile its batch and score its drift."""

    spark: SparkSession
    contract: Contract
    location: str
    """Feature table location."""
    current: int | None
    """The table's version before this publish (None: no table yet)."""
    reference: Reference | None
    previous: VersionProfile | None
    plan: ProfilePlan = field(init=False)

    def __post_init__(self) -> None:
        plan = ProfilePlan.build(self.contract.drift, self.reference)
        object.__setattr__(self, "plan", plan)

    @property
    def next_version(self) -> int:
        """The version this publish would commit if no other writer came first:
        only the scores the gate judges carry it, never a message."""
        return 0 if self.current is None else self.current + 1

    def gate(self, columns: tuple[ColumnProfile, ...]) -> Assessment:
        """Score the batch's profile; raise when it must not publish.

        Raises:
            ContractViolationError: DRIFT (see `enforce_drift`).
        """
        assessment = Assessment(
            self.contract.name,
            columns,
            self.contract.drift,
            self.reference,
            self.previous,
        )
        enforce_drift(self.contract, assessment, self.next_version)
        return assessment

    def record(
        self,
        assessment: Assessment,
        version: int,
        run_id: str,
        stamp: dict[str, Any],
    ) -> tuple[DriftScore, ...]:
        """Commit the profile and scores of ``version``; return the scores."""
        rows = assessment.rows(
            version, source="publish", run_id=run_id, at=datetime.now(UTC)
        )
        write_profile_rows(self.spark, rows, self.location, stamp)
        return tuple(assessment.scores(version))

    def warn(self, assessment: Assessment, version: int) -> None:
        """Log each score of committed ``version`` that is not ok (``warn``
        publishes): only now is the batch published and its version known."""
        for s in assessment.scores(version):
            if s.verdict != "ok":
                log.warning(
                    "[DRIFT %s] %s (on_drift: %s, version %s published)",
                    s.verdict, s.reason(), s.on_drift, version,
                )  # fmt: skip


def _project() -> Project | None:
    try:
        return Project.discover()
    except ProjectError:
        return None


def _profile_rows(
    spark: SparkSession, location: str, options: dict[str, str]
) -> list[dict[str, Any]]:
    if is_local(location) or not spark_can_open(spark, location):
        # delta-rs reads what Spark has no file system for (s3:// here),
        # with the object-store options only where they apply.
        scoped = StorageOptions(options).for_location(location)
        return read_profile_rows(location, scoped)
    target = spark_uri(spark, profile_location(location), StorageOptions(options))
    if not DeltaTable.isDeltaTable(spark, target):
        return []
    frame = spark.read.format("delta").load(target)
    return [r.asDict(recursive=True) for r in frame.collect()]


def prepare(spark: SparkSession, contract: Contract, location: str) -> Monitor:
    """Find the reference and the previous profile; heal an unprofiled version.

    The previous version is the table's newest publish: a VACUUM, OPTIMIZE or
    table-property commit after it holds its rows (``lineage.is_publish``).
    When that publish has no profile (killed between its two commits, or a
    table older than profiling) it is profiled now from its pinned snapshot
    and written, so the new version has a previous one.

    Raises:
        ContractViolationError: BASELINE_INVALID when the drift baseline cannot
            be read.
        StorageUnavailableError: The table's log could not be read.
    """
    project = _project()
    repo = project.repo if project else Path(location).parent
    options = project.storage_options if project else {}
    current = latest_version(spark, location)
    rows = _profile_rows(spark, location, options)
    if current is None:
        # The table's first publish: no version to compare with, whatever the
        # baseline pins (a pinned version 0 is the one being published; it
        # said BASELINE_INVALID and no first version could ever be made).
        return Monitor(spark, contract, location, None, None, None)
    published = _newest_publish(location, options)
    try:
        reference = resolve_reference(
            contract, location, rows, repo=repo, storage_options=options,
            fallback=current if published is None else published,
        )  # fmt: skip
        profiled = {int(r["table_version"]) for r in rows}
        if published is not None and published not in profiled:
            rows += _heal(
                spark, contract, location, published, reference, rows, options
            )
    except MonitoringError as exc:
        raise ContractViolationError(
            Reason.BASELINE_INVALID, str(exc), contract=contract.name, **exc.metadata
        ) from exc
    # Not a newer profile of a maintenance commit (written before they were
    # told apart): its rows are the publish's, profiled as a whole snapshot.
    newest = current if published is None else published
    profiles = [p for p in profiles_from(contract.name, rows) if p.version <= newest]
    previous = profiles[-1] if profiles else None
    return Monitor(spark, contract, location, current, reference, previous)


def _newest_publish(location: str, options: dict[str, str]) -> int | None:
    """The newest version that changed the table's rows, by lineage's rule (a
    VACUUM, OPTIMIZE or table-property commit does not): the version a new one
    is compared with. None when it is older than the commits searched."""
    try:
        search = last_publish(location, StorageOptions(options))
    except lineage.StorageUnavailableError as exc:
        raise StorageUnavailableError(location, "its Delta log") from exc
    if search is None or search.publish is None:
        return None
    return search.publish.version


def _heal(
    spark: SparkSession,
    contract: Contract,
    location: str,
    version: int,
    reference: Reference | None,
    rows: list[dict[str, Any]],
    options: dict[str, str],
) -> list[dict[str, Any]]:
    new = profile_version(
        contract, location, version, reference, rows,
        storage_options=options, run_id="heal",
    )  # fmt: skip
    log.warning(
        "%s: version %s had no profile; profiled it from its snapshot",
        location,
        version,
    )
    write_profile_rows(
        spark, new, location, {"job": "profile-heal", "version": version}
    )
    return new


def spark_aggregates(plan: ProfilePlan) -> tuple[list[Column], list[Column]]:
    """The cleaned feature columns to select, and the aggregates over them.

    Returns:
        ``(selects, aggregates)``: ``selects`` go beside the verdict columns
        (aliases ``_f<i>``), ``aggregates`` into the verdict's one aggregation
        (aliases ``_p<i>``), in ``plan.aggregates`` order.
    """
    alias = {name: f"_f{i}" for i, name in enumerate(plan.columns)}
    selects = []
    for name, planned in plan.columns.items():
        col = F.col(f"`{name}`")
        if planned.setting.kind == "numeric":
            # NaN counts as null, as in the contracts; Spark orders NaN above +inf.
            value = col.cast("double")
            cleaned = F.when(F.isnan(value), F.lit(None)).otherwise(value)
        else:
            cleaned = col.cast("string")
        selects.append(cleaned.alias(alias[name]))
    aggregates = [
        _spark_aggregate(F.col(alias[a.feature]), a).alias(f"_p{i}")
        for i, a in enumerate(plan.aggregates)
    ]
    return selects, aggregates


def _spark_aggregate(col: Column, aggregate: Aggregate) -> Column:
    op = aggregate.op
    if op == "ge":
        return F.count_if(col >= F.lit(float(aggregate.arg or 0.0)))
    if op == "eq":
        return F.count_if(col == F.lit(str(aggregate.arg)))
    functions = {
        "count": F.count,
        "min": F.min,
        "max": F.max,
        "avg": F.avg,
        "std": F.stddev_samp,
    }
    return functions[op](col)


def read_aggregates(
    plan: ProfilePlan, total: int, row: Any | None
) -> tuple[ColumnProfile, ...]:
    """Profiles from the passing rows' aggregation row (None: no passing row)."""
    values: Sequence[Any]
    if row is None:
        values = [0 if a.op in ("count", "ge", "eq") else None for a in plan.aggregates]
    else:
        values = [row[f"_p{i}"] for i in range(len(plan.aggregates))]
    return plan.read(total, values)


def enforce_drift(
    contract: Contract, assessment: Assessment, version: int
) -> list[DriftScore]:
    """Raise when a score fails under ``on_drift: block``; return every score.

    The others are logged by `Monitor.warn` once the batch is committed: here
    it may still be refused or interrupted, and ``version`` is a guess (a
    concurrent writer may take it).

    Raises:
        ContractViolationError: DRIFT, one line naming feature, score and
            threshold; nothing is published.
    """
    scores = assessment.scores(version)
    blocking = [s for s in scores if s.blocks]
    if blocking:
        worst = max(blocking, key=lambda s: s.score - s.fail)
        more = f" (+{len(blocking) - 1} more)" if len(blocking) > 1 else ""
        raise ContractViolationError(
            Reason.DRIFT,
            f"{worst.reason()} (on_drift: block){more}; nothing published",
            contract=f"{contract.name}@{contract.version}",
            feature=worst.feature,
            score=f"{worst.score:.6f}",
            threshold=str(worst.fail),
        )
    return scores


def write_profile_rows(
    spark: SparkSession,
    rows: list[dict[str, Any]],
    location: str,
    stamp: dict[str, Any],
) -> None:
    """Append ``rows`` to the profile table beside ``location`` in one commit.

    Local tables are written with delta-rs (milliseconds, where a Spark write
    runs a job), others through Spark, as ``io.committed_version`` reads them.
    """
    if not rows:
        return
    target = profile_location(location)
    if is_local(location):
        # merge_schema: older profile tables lack `bins` and `top_k`.
        append_arrow(to_table(rows), target, metadata=stamp, merge_schema=True)
        return
    schema = from_arrow_schema(SCHEMA)
    ordered = [tuple(r[f.name] for f in SCHEMA) for r in rows]
    frame: DataFrame = spark.createDataFrame(ordered, schema=schema)
    write_delta(frame, target, mode="append", metadata=stamp, merge_schema=True)
