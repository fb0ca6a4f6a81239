"""Publish a feature table: judge it, quarantine failures, commit passing rows."""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any, get_args

from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame

from featurestore.services.contracts import Contract, ContractRegistry
from featurestore.services.monitoring.assess import Assessment
from featurestore.services.monitoring.model import DriftScore
from featurestore.spark_jobs import commits
from featurestore.spark_jobs.errors import ConfigError, SparkJobError
from featurestore.spark_jobs.io import (
    committed_version,
    delta_schema,
    is_delta_table,
    latest_version,
)
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.profile import Monitor, prepare
from featurestore.spark_jobs.publish._gates import (
    batch_failed,
    check_contract_change,
    gates,
)
from featurestore.spark_jobs.publish._location import TableLocation, resolve_table
from featurestore.spark_jobs.publish._modes import WRITERS, PublishMode
from featurestore.spark_jobs.publish._partitions import partition_predicate
from featurestore.spark_jobs.publish._quarantine import (
    add_to_quarantine,
    quarantine_rows,
    quarantine_stamp,
)
from featurestore.spark_jobs.publish._retry import RetryPolicy, run_with_retry
from featurestore.spark_jobs.table_checks import check_quarantine_schema
from featurestore.spark_jobs.validate import (
    ValidationResult,
    enforce_min_rows,
    validate,
)

__all__ = [
    "PublishMode",
    "PublishReport",
    "RetryPolicy",
    "TableLocation",
    "partition_predicate",
    "publish",
    "resolve_table",
    "run_with_retry",
]

log = logging.getLogger(__name__)

# Run ids reach SQL (the quarantine MERGE): a plain token in every dialect.
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True)
class PublishReport:
    """What one publish did."""

    table: str
    """Location of the feature table."""
    version: int | None
    """Delta version this publish committed; None when it committed none
    (``replace_partitions`` with no passing row): the table's newest version
    is then not this run's, so no number is given as if it were."""
    validation: ValidationResult
    """Verdict counts of the batch."""
    mode: PublishMode = "overwrite"
    """The publish mode used."""
    quarantine: str = ""
    """Location of the quarantine table."""
    drift: tuple[DriftScore, ...] = ()
    """Drift scores of the published version (against baseline and previous)."""


def publish(
    df: DataFrame,
    contract: Contract,
    table: str | os.PathLike[str] | DataPaths,
    *,
    mode: PublishMode = "overwrite",
    job: str,
    run_id: str | None = None,
    data_root: str | os.PathLike[str] | None = None,
    retry: RetryPolicy | None = None,
    profile: bool = True,
    contracts: ContractRegistry | None = None,
) -> PublishReport:
    """Validate ``df`` against ``contract`` and publish its passing rows to Delta.

    Order matters: the schema is checked first (nothing written on mismatch;
    every mode but ``overwrite`` also checks the existing table: a column the
    contract adds must be nullable, a column the table has keeps its type,
    a contract version older than the table's is refused, and when the
    version changed the stored rows must pass the checks it added or
    tightened; in every mode a version new to the table must be rightly
    bumped from the one before it in its registry);
    a batch with fewer rows than the contract's ``min_rows`` is refused whole,
    in every mode, before anything is written (nothing quarantined: no row is
    at fault); failing rows go to the quarantine table, tagged with the run id;
    then the contract's failure ratio is enforced, and only then are the
    passing rows committed to the feature table in one Delta commit stamped
    with the job, run id, contract@version, mode and verdict counts. Any
    failure before that commit leaves the feature table at its previous
    version. Every mode keeps this gate.

    Modes:
        * ``overwrite``: the table becomes the batch (schema and partitioning
          from the contract).
        * ``append``: the batch is added; re-running it adds it again.
        * ``merge``: upsert on the contract's primary key (``keys`` plus the
          event timestamp). A matched row is updated only when a column differs
          and its ``created_timestamp`` is not older than the stored one, so a
          re-run of the same batch rewrites nothing (it still commits a version
          whose content equals the previous one).
        * ``replace_partitions``: the partitions (``partition_by`` values) the
          passing rows fall in are replaced by them (Delta ``replaceWhere``);
          other partitions stay; a re-run leaves the same content. A partition
          whose every row failed keeps its previous content.

    Quarantine rows carry ``run_id``; a retry with the same run id adds no
    copies of rows it already quarantined (insert-only MERGE on run id and
    every contract column but ``created_timestamp``, which a job stamps when
    it runs). Each Delta commit is retried on a concurrent-commit
    conflict as ``retry`` says.

    Args:
        df: The batch, with exactly the contract's columns and types.
        contract: The contract to enforce.
        table: Feature table name (under ``data_root``) or a path / URI such as
            ``s3a://bucket/features/x``, never rewritten. A ``DataPaths``
            (the former signature) means the contract's name under its root.
        mode: How the passing rows reach the table.
        job: Job name stamped on the commits.
        run_id: Run id stamped on the commits and quarantine rows (default: a
            random one); pass the same one when retrying a run.
        data_root: Root for a bare table name.
        retry: Conflict retry policy (default: ``RetryPolicy()``).
        profile: Profile the batch and score its drift (False: enforcement
            only, no ``<table>_profile`` row and no drift gate).
        contracts: The registry ``contract`` was read from (default: the
            project's, ``ContractRegistry()``); used only when it holds this
            very contract: to check its version bump and to find the table's
            earlier contract (without it every check judges the stored rows).

    Returns:
        The committed version and the verdict counts.

    Raises:
        ContractViolationError: wrong schema (also: a non-overwrite mode and a
            contract the table's rows cannot keep, or failing rows whose column
            types the quarantine table holds otherwise, or stored rows
            failing a check the contract made stricter; SCHEMA_MISMATCH), a
            non-overwrite mode under an older contract than the table's
            (CONTRACT_VERSION_OLDER), a wrong version bump in the registry
            (MAJOR_BUMP_REQUIRED, VERSION_NOT_INCREASED), fewer rows
            than ``min_rows`` (TOO_FEW_ROWS) or too many failing rows.
        WriteConflictError: still conflicting after the retries.
        ConfigError: an unknown mode, ``replace_partitions`` on a contract
            without ``partition_by``, or a Spark session time zone not UTC.
    """
    _check_mode_and_zone(df, contract, mode)
    if isinstance(table, DataPaths):
        data_root = table.root
        table = contract.name
    where = resolve_table(table, data_root)
    run_id = _checked_run_id(run_id)
    check_contract_change(df, contract, where.table, mode, contracts)
    monitor = prepare(df.sparkSession, contract, where.table) if profile else None
    try:  # the first action over df: the job's lazy transform runs here
        result = validate(contract, df, monitor.plan if monitor else None)
    except CapturedException as exc:
        raise batch_failed(where.table, exc) from exc
    stamp = _commit_stamp(job, run_id, mode, contract, result)
    policy = retry or RetryPolicy()
    run = _Run(df, contract, where, os.fspath(table), mode, run_id, policy, stamp)
    try:
        assessment = _quarantine_or_refuse(run, result, monitor)
        version, drift = _commit_passed(run, result, monitor, assessment)
    finally:
        result.release()
    if version is None:
        log.info("%s: nothing committed: %s", where.table, result.summary())
    else:
        log.info("published %s version %s: %s", where.table, version, result.summary())
    return PublishReport(where.table, version, result, mode, where.quarantine, drift)


_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00"})


def _check_mode_and_zone(df: DataFrame, contract: Contract, mode: str) -> None:
    """Refuse an unknown mode, a mode the contract cannot take, a zone not UTC."""
    if mode not in get_args(PublishMode):
        raise ConfigError(f"unknown publish mode {mode!r}", mode=str(mode))
    if mode == "replace_partitions" and not contract.partition_by:
        raise ConfigError(
            f"{contract.name}: replace_partitions needs partition_by in the contract",
            contract=contract.name,
        )
    zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone not in _UTC_ZONES:
        # The verdict's Arrow batches carry the session zone; the contract's
        # timestamps are UTC: every batch would fail late, as BATCH_FAILED.
        raise ConfigError(
            f"publish needs the Spark session time zone UTC, not {zone!r} "
            "(build_spark_session sets it; spark.sql.session.timeZone)",
            time_zone=str(zone),
        )


def _checked_run_id(run_id: str | None) -> str:
    """``run_id``, or a random one; refused unless a plain token."""
    run_id = run_id or uuid.uuid4().hex[:12]
    if not isinstance(run_id, str):  # e.g. main(argv)'s whole list passed on
        raise ConfigError(
            f"run_id must be a string, not {type(run_id).__name__}", run_id=str(run_id)
        )
    if not _RUN_ID.match(run_id):
        raise ConfigError(
            "run_id must be 1-128 letters, digits or _.:- characters", run_id=run_id
        )
    return run_id


def _commit_stamp(
    job: str,
    run_id: str,
    mode: PublishMode,
    contract: Contract,
    result: ValidationResult,
) -> dict[str, Any]:
    """The metadata every commit of this publish carries."""
    return {
        "job": job,
        "run_id": run_id,
        "mode": mode,
        "contract": f"{contract.name}@{contract.version}",
        "contract_name": contract.name,
        "contract_version": str(contract.version),
        "validation": result.summary(),
    }


@dataclass(frozen=True)
class _Run:
    """One publish after its batch was judged, as its commits read it."""

    df: DataFrame
    contract: Contract
    where: TableLocation
    table: str
    """The table as the caller named it (the commit note's)."""
    mode: PublishMode
    run_id: str
    policy: RetryPolicy
    stamp: dict[str, Any]


def _quarantine_or_refuse(
    run: _Run,
    result: ValidationResult,
    monitor: Monitor | None,
) -> Assessment | None:
    """Decide every gate, quarantine the failing rows, raise a gate's refusal.

    Every gate is decided before the quarantine commit, which says how the
    batch was judged: refused (nothing published), or the rows that passed;
    not "published", which only the feature commit makes true (it can still
    fail, or the job be killed, after this one).

    Returns:
        The drift assessment, when the batch was profiled.
    """
    enforce_min_rows(run.contract, result)
    assessment, refused = gates(run.contract, result, monitor)
    if result.rows_failed:
        _quarantine_failed(run, result, refused)
    if refused is not None:
        raise refused
    return assessment


def _quarantine_failed(
    run: _Run,
    result: ValidationResult,
    refused: SparkJobError | None,
) -> None:
    """Commit the failing rows to the quarantine table, stamped with the verdict."""
    location = run.where.quarantine
    if is_delta_table(run.df, location):
        held = delta_schema(run.df.sparkSession, location)
        check_quarantine_schema(run.contract, held, location)
    rows = quarantine_rows(run.contract, result, run.run_id)
    held_stamp = quarantine_stamp(run.stamp, result, refused)
    run_with_retry(
        lambda: add_to_quarantine(run.contract, rows, location, run.run_id, held_stamp),
        run.policy,
    )


def _commit_passed(
    run: _Run,
    result: ValidationResult,
    monitor: Monitor | None,
    assessment: Assessment | None,
) -> tuple[int | None, tuple[DriftScore, ...]]:
    """Commit the passing rows as the mode says, then profile that version.

    Returns:
        The version committed (None: none, ``replace_partitions`` without a
        passing row) and the drift scores recorded for it.
    """
    spark, location = run.df.sparkSession, run.where.table
    before = monitor.current if monitor else latest_version(spark, location)
    # Noted first: an interrupted run's caller finds out whether it landed.
    commit = commits.start(
        commits.FeatureCommit(
            table=run.table, location=location, run_id=run.run_id,
            stamp=run.stamp, since=before, spark=spark,
            profiles=assessment is not None,
        )
    )  # fmt: skip
    run_with_retry(
        lambda: WRITERS[run.mode](run.contract, result.passed, location, run.stamp),
        run.policy,
    )
    # None: this run committed nothing (replace_partitions without a
    # passing row); the table's newest version is then another writer's.
    version = committed_version(spark, location, run.stamp, since=before)
    commit.version, commit.looked_up = version, True
    if not (monitor and assessment and version is not None):
        return version, ()
    # Only now, with the version known: see spark_jobs.profile for why.
    log.info("committed %s version %s; profiling it", location, version)
    monitor.warn(assessment, version)
    drift = run_with_retry(
        lambda: monitor.record(assessment, version, run.run_id, run.stamp), run.policy
    )
    commit.profiled = True
    return version, drift
