"""Publish a feature table: judge it, quarantine failures, commit passing rows."""

from __future__ import annotations

import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Literal, TypeVar, get_args

from pyspark.errors.exceptions.captured import CapturedException, PythonException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurestore.services.contracts import Contract, ContractRegistry
from featurestore.services.monitoring.assess import Assessment
from featurestore.services.monitoring.model import DriftScore
from featurestore.services.storage import absolute, is_uri, join
from featurestore.spark_jobs import commits
from featurestore.spark_jobs._contract_change import ContractChange, stamped_contract
from featurestore.spark_jobs.errors import (
    BatchFailedError,
    ConfigError,
    SparkJobError,
    WriteConflictError,
)
from featurestore.spark_jobs.io import (
    committed_version,
    delta_columns,
    delta_null_counts,
    delta_partition_columns,
    delta_schema,
    is_delta_table,
    latest_version,
    merge_delta,
    publish_stamp,
    same_value,
    write_delta,
)
from featurestore.spark_jobs.paths import DataPaths, default_data_root
from featurestore.spark_jobs.profile import Monitor, prepare
from featurestore.spark_jobs.validate import (
    REASONS_COLUMN,
    ValidationResult,
    check_quarantine_schema,
    check_table_schema,
    enforce_failure_ratio,
    enforce_min_rows,
    validate,
)

log = logging.getLogger(__name__)

PublishMode = Literal["overwrite", "append", "merge", "replace_partitions"]
"""How passing rows reach the table; see :func:`publish`."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Run ids reach SQL (the quarantine MERGE): a plain token in every dialect.
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_T = TypeVar("_T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for Delta concurrent-commit conflicts."""

    attempts: int = 5
    """Tries per Delta commit, the first included; 1 disables retrying."""
    base_delay: float = 0.5
    """Seconds before the second try; doubled for each later one."""
    max_delay: float = 10.0
    """Upper bound of one wait."""
    jitter: float = 0.5
    """Each wait is shortened by a random share up to this, so racing writers
    do not retry in lockstep."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError(
                "retry needs attempts >= 1 and non-negative delays",
                attempts=str(self.attempts),
            )
        if not 0 <= self.jitter <= 1:
            raise ConfigError("retry jitter must be within [0, 1]")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        full = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return full * (1 - self.jitter * random.random())


def run_with_retry(
    action: Callable[[], _T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """Run ``action``; on WriteConflictError wait and run it again, boundedly.

    Args:
        action: One whole Delta commit (it re-reads the table each time).
        policy: How often and how long to wait.
        sleep: Waits the given seconds (a seam for tests).

    Returns:
        What ``action`` returned.

    Raises:
        WriteConflictError: still conflicting after ``policy.attempts`` tries;
            its message is one line naming the table and the attempts.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return action()
        except WriteConflictError as exc:
            if attempt == policy.attempts:
                raise WriteConflictError(
                    exc.table, exc.detail, attempts=attempt
                ) from exc
            wait = policy.delay(attempt)
            log.warning("%s; retry %d in %.2fs", exc, attempt + 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class TableLocation:
    """Where a publish writes: the feature table and its quarantine table."""

    table: str
    """Feature table path or URI."""
    quarantine: str
    """Quarantine table path or URI."""


def resolve_table(
    table: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None
) -> TableLocation:
    """Locate ``table``: a bare name, or a path / URI used as is.

    A bare name (letters, digits, underscores) lives under the data root as
    ``<root>/features/<name>``; anything else is a location used as is
    (``s3://bucket/x`` keeps its double slash), except that a relative local
    path is made absolute. The quarantine table is the sibling
    ``<location>_quarantine``.

    Args:
        table: Name or location of the feature table.
        data_root: Root for bare names (default: ``$FS_DATA_DIR`` or ``./data``).

    Returns:
        The feature and quarantine table locations, as strings.
    """
    text = os.fspath(table)
    if not text:
        raise ConfigError("table is empty")
    if _NAME.match(text):
        root = os.fspath(data_root) if data_root is not None else None
        text = join(root or default_data_root(), "features", text)
    if not is_uri(text):
        # Spark resolves a relative path against the JVM's working directory,
        # which is not Python's after an os.chdir: anchor it here.
        text = absolute(text)
    return TableLocation(text, f"{text.rstrip('/')}_quarantine")


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
    if isinstance(table, DataPaths):
        data_root = table.root
        table = contract.name
    where = resolve_table(table, data_root)
    run_id = run_id or uuid.uuid4().hex[:12]
    if not isinstance(run_id, str):  # e.g. main(argv)'s whole list passed on
        raise ConfigError(
            f"run_id must be a string, not {type(run_id).__name__}", run_id=str(run_id)
        )
    if not _RUN_ID.match(run_id):
        raise ConfigError(
            "run_id must be 1-128 letters, digits or _.:- characters", run_id=run_id
        )
    policy = retry or RetryPolicy()
    _check_contract_change(df, contract, where.table, mode, contracts)
    monitor = prepare(df.sparkSession, contract, where.table) if profile else None
    try:  # the first action over df: the job's lazy transform runs here
        result = validate(contract, df, monitor.plan if monitor else None)
    except CapturedException as exc:
        raise _batch_failed(where.table, exc) from exc
    stamp = {
        "job": job,
        "run_id": run_id,
        "mode": mode,
        "contract": f"{contract.name}@{contract.version}",
        "contract_name": contract.name,
        "contract_version": str(contract.version),
        "validation": result.summary(),
    }
    try:
        enforce_min_rows(contract, result)
        # Every gate is decided before the quarantine commit, which says how
        # the batch was judged: refused (nothing published), or the rows that
        # passed; not "published", which only the feature commit below makes
        # true (it can still fail, or the job be killed, after this one).
        assessment, refused = _gates(contract, result, monitor)
        if result.rows_failed:
            if is_delta_table(df, where.quarantine):
                held = delta_schema(df.sparkSession, where.quarantine)
                check_quarantine_schema(contract, held, where.quarantine)
            rows = _quarantine_rows(contract, result, run_id)
            held_stamp = _quarantine_stamp(stamp, result, refused)
            run_with_retry(
                lambda: _quarantine(
                    contract, rows, where.quarantine, run_id, held_stamp
                ),
                policy,
            )
        if refused is not None:
            raise refused
        before = (
            monitor.current if monitor else latest_version(df.sparkSession, where.table)
        )
        # Noted first: an interrupted run's caller finds out whether it landed.
        commit = commits.start(
            commits.FeatureCommit(
                table=os.fspath(table), location=where.table, run_id=run_id,
                stamp=stamp, since=before, spark=df.sparkSession,
                profiles=assessment is not None,
            )
        )  # fmt: skip
        run_with_retry(
            lambda: _WRITERS[mode](contract, result.passed, where.table, stamp), policy
        )
        # None: this run committed nothing (replace_partitions without a
        # passing row); the table's newest version is then another writer's.
        version = committed_version(df.sparkSession, where.table, stamp, since=before)
        commit.version, commit.looked_up = version, True
        drift: tuple[DriftScore, ...] = ()
        if monitor and assessment and version is not None:
            # Only now, with the version known: see spark_jobs.profile for why.
            log.info("committed %s version %s; profiling it", where.table, version)
            monitor.warn(assessment, version)
            drift = run_with_retry(
                lambda: monitor.record(assessment, version, run_id, stamp), policy
            )
            commit.profiled = True
    finally:
        result.release()
    if version is None:
        log.info("%s: nothing committed: %s", where.table, result.summary())
    else:
        log.info("published %s version %s: %s", where.table, version, result.summary())
    return PublishReport(where.table, version, result, mode, where.quarantine, drift)


_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00"})


def _check_contract_change(
    df: DataFrame,
    contract: Contract,
    location: str,
    mode: PublishMode,
    contracts: ContractRegistry | None,
) -> None:
    """Refuse, before anything is written, a contract the table cannot take.

    A contract version new to the table must be rightly bumped from the one
    before it in its registry; one older than the table's own is refused
    where the table keeps its rows; and a non-overwrite publish checks the
    stored rows against it (``check_table_schema``): their checks only when
    the version changed (one read, the checks made stricter).
    """
    exists = is_delta_table(df, location)
    spark = df.sparkSession
    stamped = stamped_contract(publish_stamp(spark, location)) if exists else None
    change = None
    if stamped != (contract.name, contract.version):
        change = ContractChange.of(contract, stamped, contracts)
        change.refuse_wrong_bump()
        if mode != "overwrite":
            change.refuse_older(location)
    if mode == "overwrite" or not exists:
        return
    schema = delta_schema(spark, location)
    check_table_schema(
        contract,
        schema,
        location,
        delta_partition_columns(location),
        partial(delta_null_counts, location),
        change.stored_failures(location, schema) if change else None,
    )


def _gates(
    contract: Contract, result: ValidationResult, monitor: Monitor | None
) -> tuple[Assessment | None, SparkJobError | None]:
    """The drift assessment, and the error refusing the batch if a gate does:
    its failure share first, then its drift (``on_drift: block``)."""
    try:
        enforce_failure_ratio(contract, result)
        return (monitor.gate(result.profile) if monitor else None), None
    except SparkJobError as exc:
        return None, exc


def _quarantine_stamp(
    stamp: dict[str, Any], result: ValidationResult, refused: SparkJobError | None
) -> dict[str, Any]:
    """The quarantine commit's stamp: ``published: 0`` and the reason for a
    refused batch, else ``passed`` (rows judged to publish) for ``published``."""
    validation = {k: v for k, v in stamp["validation"].items() if k != "published"}
    validation["passed"] = result.rows_in - result.rows_failed
    if refused is not None:
        validation.update(published=0, refused=refused.reason)
    return {**stamp, "validation": validation}


def _batch_failed(table: str, exc: CapturedException) -> BatchFailedError:
    """The one-line error for a batch Spark could not compute (the JVM's stack
    and Spark's SQL context left out)."""
    error = exc.getCondition() or type(exc).__name__
    lines = str(exc).strip().splitlines() or [error]
    detail = lines[0]
    raised = (
        _python_worker_exception(lines[1:])
        if isinstance(exc, PythonException)
        else None
    )
    if raised:  # "An exception was thrown from the Python worker:" alone
        detail = f"{detail.rstrip(':. ')}: {raised}"
    return BatchFailedError(table, error, detail)


def _python_worker_exception(lines: list[str]) -> str | None:
    """What a Python UDF raised, from the worker's traceback in Spark's
    message: its last unindented line (``ValueError: ...``), not a frame,
    not a chaining sentence, not the JVM's stack after it."""
    raised = None
    for line in lines:
        if line.startswith("JVM stacktrace"):
            break
        if line and not line[0].isspace() and not line.startswith(_NOT_RAISED):
            raised = line.strip()
    return raised


_NOT_RAISED = (
    "Traceback (most recent call last)",
    "During handling of the above exception",
    "The above exception was the direct cause",
)


def _quarantine_rows(
    contract: Contract, result: ValidationResult, run_id: str
) -> DataFrame:
    return result.failed.select(
        *[F.col(c.name) for c in contract.columns],
        F.col(REASONS_COLUMN).alias("reasons"),
        F.lit(run_id).alias("run_id"),
        F.lit(f"{contract.name}@{contract.version}").alias("contract"),
        F.lit(datetime.now(UTC)).alias("quarantined_at"),
    )


def _quarantine(
    contract: Contract,
    rows: DataFrame,
    location: str,
    run_id: str,
    stamp: dict[str, Any],
) -> None:
    if not is_delta_table(rows, location):
        write_delta(rows, location, mode="append", metadata=stamp)
        return
    # A row already quarantined by this run id is not added again. Its
    # created_timestamp is left out: a job stamps it when it runs (as the
    # README's and init's jobs do), so a retry's copy differs only there.
    same_row = [c for c in contract.column_names if c != contract.created_timestamp]
    merge_delta(
        rows,
        location,
        on=["run_id", *same_row],
        metadata=stamp,
        insert_only=True,
        target_filter=f"t.`run_id` = '{run_id}'",
        merge_schema=True,
    )


def _overwrite(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    write_delta(
        rows,
        location,
        mode="overwrite",
        metadata=stamp,
        partition_by=contract.partition_by,
    )


def _append(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    write_delta(
        rows,
        location,
        mode="append",
        metadata=stamp,
        partition_by=contract.partition_by,
        merge_schema=True,
    )


def _merge(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    if not is_delta_table(rows, location):
        # A racing creator makes this a conflict; the retry then merges.
        _append(contract, rows, location, stamp)
        return
    key, held = set(contract.primary_key), delta_columns(rows.sparkSession, location)
    changed = [
        f"NOT {same_value(c, held)}" for c in contract.column_names if c not in key
    ]
    created = contract.created_timestamp
    merge_delta(
        rows,
        location,
        on=contract.primary_key,
        metadata=stamp,
        update_when=f"s.`{created}` >= t.`{created}` AND ({' OR '.join(changed)})"
        if changed
        else "FALSE",
        merge_schema=True,
    )


def _replace_partitions(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    columns = list(contract.partition_by)
    values = [tuple(r) for r in rows.select(*columns).distinct().collect()]
    if not values:
        log.info("%s: no passing rows, no partition replaced", location)
        return
    write_delta(
        rows,
        location,
        mode="overwrite",
        metadata=stamp,
        partition_by=columns,
        replace_where=partition_predicate(columns, values),
        merge_schema=True,
    )


_WRITERS: dict[str, Callable[[Contract, DataFrame, str, dict[str, Any]], None]] = {
    "overwrite": _overwrite,
    "append": _append,
    "merge": _merge,
    "replace_partitions": _replace_partitions,
}


def partition_predicate(
    columns: Sequence[str], values: Sequence[tuple[Any, ...]]
) -> str:
    """SQL predicate matching exactly the given partition value tuples.

    Args:
        columns: Partition column names.
        values: Distinct value tuples, one per partition (None is SQL NULL).

    Returns:
        ``a IN (...)`` for one column, else an OR of ANDs, sorted for stable
        commit history.
    """
    if len(columns) == 1:
        present = sorted({_sql_literal(v[0]) for v in values if v[0] is not None})
        terms = [f"`{columns[0]}` IN ({', '.join(present)})"] if present else []
        if any(v[0] is None for v in values):
            terms.append(f"`{columns[0]}` IS NULL")
        return " OR ".join(terms)
    clauses = sorted(
        "("
        + " AND ".join(
            f"`{c}` IS NULL" if v is None else f"`{c}` = {_sql_literal(v)}"
            for c, v in zip(columns, row, strict=True)
        )
        + ")"
        for row in values
    )
    return " OR ".join(clauses)


_SQL_AWKWARD = re.compile(r"(['\\])")


def _string_literal(value: str) -> str:
    # Spark SQL reads a backslash in a literal as an escape, DataFusion
    # (delta-rs) as itself and a doubled quote as a quote: no spelling of
    # ' or \ means the same to both, so those two are written as chr() calls
    # concatenated with ||, which both evaluate alike.
    parts = [p for p in _SQL_AWKWARD.split(value) if p]
    if not parts:
        return "''"
    spelled = [
        f"chr({ord(p)})" if _SQL_AWKWARD.fullmatch(p) else f"'{p}'" for p in parts
    ]
    return spelled[0] if len(spelled) == 1 else "(" + " || ".join(spelled) + ")"


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, str):
        return _string_literal(value)
    raise ConfigError(f"unsupported partition value type {type(value).__name__}")
