"""Contract enforcement on Spark: a verdict per row in one pass, then a summary.

Pandera's PySpark backend neither raises nor names failing rows, and runs one
Spark action per check. Instead every Arrow batch goes through the same
``services.contracts.row_reasons`` the gRPC ``ValidateRows`` uses (Pandera's
pandas engine), inside ``mapInArrow``: one pass, and the same verdict for the
same row everywhere. Primary-key uniqueness spans batches, so Spark decides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from featurestore.services.contracts import (
    Contract,
    SchemaMismatchError,
    check_arrow_schema,
    row_reasons,
)
from featurestore.services.monitoring.aggregates import ProfilePlan
from featurestore.services.monitoring.freshness import judge_newest_event
from featurestore.services.monitoring.model import ColumnProfile
from featurestore.spark_jobs.errors import ContractViolationError, Reason
from featurestore.spark_jobs.profile import read_aggregates, spark_aggregates

REASONS_COLUMN = "_reasons"
REASON_TYPE = T.ArrayType(
    T.StructType(
        [
            T.StructField("column", T.StringType()),
            T.StructField("check", T.StringType()),
        ]
    )
)
DUPLICATE_KEY_CHECK = "duplicate_key"


@dataclass(frozen=True)
class ValidationResult:
    """Rows split by verdict, and the counts that gate the publish."""

    judged: DataFrame
    """Every row with its ``_reasons``; checkpointed until ``release()``."""
    passed: DataFrame
    failed: DataFrame
    rows_in: int
    rows_failed: int
    by_reason: dict[str, int] = field(default_factory=dict)
    newest_event: datetime | None = None
    """Latest event time among the passing rows (None when none pass)."""
    freshness: timedelta | None = None
    """The contract's freshness SLA: the newest event may be at most this old."""
    profile: tuple[ColumnProfile, ...] = ()
    """Profile of the passing rows per feature, when a plan was given."""

    def release(self) -> None:
        """Drop the checkpointed verdicts (their blocks on the executors)."""
        release_checkpoint(self.judged)

    @property
    def failure_ratio(self) -> float:
        """Share of input rows that failed."""
        return self.rows_failed / self.rows_in if self.rows_in else 0.0

    def summary(self) -> dict[str, object]:
        """JSON-ready counts for commit metadata and logs."""
        return {
            "rows_in": self.rows_in,
            "published": self.rows_in - self.rows_failed,
            "quarantined": self.rows_failed,
            "by_reason": self.by_reason,
            "newest_event": self.newest_event.isoformat()
            if self.newest_event
            else None,
            "fresh": self.is_fresh(),
        }

    def is_fresh(self, now: datetime | None = None) -> bool:
        """Whether the newest passing event is within the contract's freshness SLA.

        The rule ``monitor freshness`` applies (``judge_newest_event``): a
        newest event more than a clock skew ahead of now is not fresh (a job's
        clock or time zone is off), so a publish and the monitor agree.
        A stale batch is still published (older data beats none); the verdict is
        recorded in the commit metadata so lineage and consumers can see it.
        """
        if self.freshness is None:
            return True
        now = now or datetime.now(UTC)
        verdict, _ = judge_newest_event(now, self.newest_event, self.freshness)
        return verdict == "ok"


def release_checkpoint(frame: DataFrame) -> None:
    """Free the blocks of a frame made by ``localCheckpoint``.

    ``unpersist`` does not reach them (they belong to the RDD under the
    frame's plan, not to a cached plan); left alone they would go only when
    the JVM collects the RDD.
    """
    plan = frame._jdf.queryExecution().analyzed()
    if plan.nodeName() == "LogicalRDD":
        plan.rdd().unpersist(False)


def check_schema(contract: Contract, df: DataFrame) -> None:
    """Raise ContractViolationError(SCHEMA_MISMATCH) when columns or types differ."""
    try:
        check_arrow_schema(contract, to_arrow_schema(df.schema, timezone="UTC"))
    except SchemaMismatchError as exc:
        raise ContractViolationError(
            Reason.SCHEMA_MISMATCH, f"{contract.name}: {exc}", **exc.metadata
        ) from exc


def with_verdicts(contract: Contract, df: DataFrame) -> DataFrame:
    """Add ``_reasons`` (list of {column, check}) to every row; empty means pass.

    Duplicate keys are ranked before the rows leave the JVM: a job's output is
    usually already partitioned by its entity keys, so the ranking window needs
    no shuffle there, whereas after ``mapInArrow`` Spark knows no partitioning.
    """
    columns = [c.name for c in contract.columns]
    ranked = _with_duplicate_flag(contract, df.select(*columns))
    out_schema = T.StructType(
        [*ranked.schema.fields, T.StructField(REASONS_COLUMN, REASON_TYPE)]
    )

    def judge(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            # row_reasons ignores the extra duplicate-flag column.
            reasons = row_reasons(contract, batch)
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, reasons], names=[*batch.schema.names, REASONS_COLUMN]
            )

    duplicate = F.array(
        F.struct(
            F.lit(",".join(contract.primary_key)).alias("column"),
            F.lit(DUPLICATE_KEY_CHECK).alias("check"),
        )
    )
    return (
        ranked.mapInArrow(judge, out_schema)
        .withColumn(
            REASONS_COLUMN,
            F.when(
                F.col(_DUPLICATE_FLAG), F.concat(F.col(REASONS_COLUMN), duplicate)
            ).otherwise(F.col(REASONS_COLUMN)),
        )
        .drop(_DUPLICATE_FLAG)
    )


_DUPLICATE_FLAG = "_duplicate_key"


def _with_duplicate_flag(contract: Contract, df: DataFrame) -> DataFrame:
    """Rule: per primary key the row reads would pick wins; others fail.

    The point-in-time tie rule (``services.offline.join``): the greatest
    created_timestamp (null lowest), then the greatest tuple of the other
    columns in contract order, nulls lowest and NaN highest (Spark, like
    DuckDB, ranks NaN above every number), as ``duplicate_key_mask`` does.
    Rows still tied are equal on every column, so re-runs agree.
    """
    keys = list(contract.primary_key)
    others = [c for c in df.columns if c not in keys]
    order = (
        [F.col(contract.created_timestamp).desc_nulls_last()]
        if (contract.created_timestamp)
        else []
    )
    order += [
        F.col(c).desc_nulls_last() for c in others if c != contract.created_timestamp
    ]
    rank = F.row_number().over(Window.partitionBy(*keys).orderBy(*order))
    return df.withColumn(_DUPLICATE_FLAG, rank > 1)


def validate(
    contract: Contract, df: DataFrame, profile: ProfilePlan | None = None
) -> ValidationResult:
    """Judge every row of ``df`` against ``contract`` and count the verdicts.

    The judged frame is persisted, so the verdict is computed once; the counts
    come from one aggregation over it. With a ``profile`` plan the same
    aggregation also profiles the passing rows (their group is the one without
    a reason): no second scan.

    Raises:
        ContractViolationError: SCHEMA_MISMATCH before any row is judged.
    """
    check_schema(contract, df)
    # A local checkpoint, not persist(): a persisted frame is reused only
    # where Spark matches its plan, and Delta's MERGE (the quarantine's) did
    # not match a plan holding current_timestamp(), so the job's transform
    # ran again there: other rows failed, some rows were lost. A checkpoint
    # cuts the lineage: every use reads these verdicts or fails (a lost
    # executor), none recomputes. Lazy: filled by the counting action below.
    judged = with_verdicts(contract, df).localCheckpoint(eager=False)
    selects, aggregates = spark_aggregates(profile) if profile else ([], [])
    # One action: explode the reasons, count each reason, and count every row
    # once through its first (or absent) reason.
    exploded = judged.select(
        F.posexplode_outer(REASONS_COLUMN).alias("pos", "r"),
        # Micros since the epoch: collect() would localise a timestamp to the
        # driver's time zone.
        F.unix_micros(contract.event_timestamp).alias("_event"),
        *selects,
    )
    counts = (
        exploded.groupBy(F.concat_ws(":", "r.column", "r.check").alias("reason"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(
                F.when(F.coalesce(F.col("pos"), F.lit(0)) == 0, 1).otherwise(0)
            ).alias("rows"),
            F.max("_event").alias("newest"),
            *aggregates,
        )
        .collect()
    )
    passing = next((row for row in counts if not row["reason"]), None)
    newest = passing["newest"] if passing is not None else None
    by_reason = {row["reason"]: int(row["n"]) for row in counts if row["reason"]}
    rows_in = sum(int(row["rows"]) for row in counts)
    rows_failed = sum(int(row["rows"]) for row in counts if row["reason"])
    failing = F.size(REASONS_COLUMN) > 0
    return ValidationResult(
        judged=judged,
        passed=judged.where(~failing).drop(REASONS_COLUMN),
        failed=judged.where(failing),
        rows_in=rows_in,
        rows_failed=rows_failed,
        by_reason=dict(sorted(by_reason.items())),
        newest_event=_from_micros(newest),
        freshness=contract.freshness_delta,
        profile=read_aggregates(
            profile, int(passing["n"]) if passing is not None else 0, passing
        )
        if profile
        else (),
    )


def _from_micros(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def enforce_failure_ratio(contract: Contract, result: ValidationResult) -> None:
    """Raise ContractViolationError when the batch fails more than allowed."""
    if result.failure_ratio > contract.max_failure_ratio:
        raise ContractViolationError(
            Reason.FAILURE_RATIO_EXCEEDED,
            f"{contract.name}@{contract.version}: {result.rows_failed} of "
            f"{result.rows_in} rows fail ({result.failure_ratio:.2%} > "
            f"{contract.max_failure_ratio:.2%}); nothing published",
            contract=f"{contract.name}@{contract.version}",
            rows_in=str(result.rows_in),
            rows_failed=str(result.rows_failed),
        )


def enforce_min_rows(contract: Contract, result: ValidationResult) -> None:
    """Raise ContractViolationError when the batch is smaller than ``min_rows``.

    The batch's rows are counted before the verdict: failing rows count, the
    failure ratio judges them. Called before anything is written, so a refused
    batch quarantines nothing (no row is at fault) and the table keeps its
    version.
    """
    if contract.too_few_rows(result.rows_in):
        label = f"{contract.name}@{contract.version}"
        raise ContractViolationError(
            Reason.TOO_FEW_ROWS,
            f"{label}: the batch has {result.rows_in} rows, fewer than min_rows "
            f"{contract.min_rows}; nothing published",
            contract=label,
            rows_in=str(result.rows_in),
            min_rows=str(contract.min_rows),
        )
