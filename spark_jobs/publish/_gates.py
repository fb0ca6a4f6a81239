"""What refuses a batch: a contract change, a gate, a batch Spark cannot compute."""

from __future__ import annotations

from functools import partial

from pyspark.errors.exceptions.captured import CapturedException, PythonException
from pyspark.sql import DataFrame

from featurestore.services.contracts import Contract, ContractRegistry
from featurestore.services.monitoring.assess import Assessment
from featurestore.spark_jobs._contract_change import ContractChange, stamped_contract
from featurestore.spark_jobs.errors import BatchFailedError, SparkJobError
from featurestore.spark_jobs.io import (
    delta_null_counts,
    delta_partition_columns,
    delta_schema,
    is_delta_table,
    publish_stamp,
)
from featurestore.spark_jobs.profile import Monitor
from featurestore.spark_jobs.publish._modes import PublishMode
from featurestore.spark_jobs.table_checks import check_table_schema
from featurestore.spark_jobs.validate import ValidationResult, enforce_failure_ratio


def check_contract_change(
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


def gates(
    contract: Contract, result: ValidationResult, monitor: Monitor | None
) -> tuple[Assessment | None, SparkJobError | None]:
    """The drift assessment, and the error refusing the batch if a gate does:
    its failure share first, then its drift (``on_drift: block``)."""
    try:
        enforce_failure_ratio(contract, result)
        return (monitor.gate(result.profile) if monitor else None), None
    except SparkJobError as exc:
        return None, exc


def batch_failed(table: str, exc: CapturedException) -> BatchFailedError:
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
