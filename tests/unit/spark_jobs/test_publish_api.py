"""The public publish API: its names, table locations, predicates and retries."""

from __future__ import annotations

import inspect
import typing
from datetime import date
from pathlib import Path

import pytest

import featurestore.spark_jobs as spark_jobs
from featurestore.spark_jobs import (
    ConfigError,
    Reason,
    RetryPolicy,
    WriteConflictError,
    publish,
)
from featurestore.spark_jobs.publish import (
    partition_predicate,
    resolve_table,
    run_with_retry,
)


def test_exported_members():
    assert spark_jobs.__all__ == [
        "BatchFailedError",
        "ConfigError",
        "ContractViolationError",
        "InputNotFoundError",
        "PublishMode",
        "PublishReport",
        "Reason",
        "RetryPolicy",
        "SparkJobError",
        "StorageUnavailableError",
        "TableNotWritableError",
        "ValidationResult",
        "WriteConflictError",
        "build_spark_session",
        "publish",
        "read_parquet",
    ]
    for name in spark_jobs.__all__:
        assert (
            getattr(spark_jobs, name).__module__.startswith("featurestore.spark_jobs.")
            or name == "PublishMode"
        )


def test_publish_signature_and_modes():
    assert callable(publish) and publish.__doc__
    params = inspect.signature(publish).parameters
    assert list(params)[:3] == ["df", "contract", "table"]
    assert params["mode"].default == "overwrite"
    assert params["mode"].kind is inspect.Parameter.KEYWORD_ONLY
    assert typing.get_args(spark_jobs.PublishMode) == (
        "overwrite",
        "append",
        "merge",
        "replace_partitions",
    )


@pytest.mark.parametrize(
    "uri",
    [
        "s3a://bucket/features/customer_spend",
        "s3://bucket/a//b",
        "file:///tmp/lake/x",
        "abfss://c@acct.dfs.core.windows.net/t",
    ],
)
def test_a_uri_table_is_used_untouched(uri):
    where = resolve_table(uri)
    assert where.table == uri
    assert where.quarantine == f"{uri}_quarantine"


def test_a_name_lives_under_the_data_root_joined_as_a_string():
    where = resolve_table("customer_spend", "s3a://bucket/root/")
    assert where.table == "s3a://bucket/root/features/customer_spend"
    assert where.quarantine == "s3a://bucket/root/features/customer_spend_quarantine"
    assert resolve_table("t", Path("/data")).table == "/data/features/t"
    assert resolve_table(Path("/lake/t")).table == "/lake/t"
    with pytest.raises(ConfigError):
        resolve_table("")


def test_partition_predicates_quote_and_handle_nulls():
    assert (
        partition_predicate(["day"], [(date(2026, 1, 2),), (date(2026, 1, 1),)])
        == "`day` IN (DATE'2026-01-01', DATE'2026-01-02')"
    )
    assert partition_predicate(["r"], [("it's",), (None,)]) == (
        "`r` IN (('it' || chr(39) || 's')) OR `r` IS NULL"
    )
    assert partition_predicate(["a", "b"], [(1, True), (2, None)]) == (
        "(`a` = 1 AND `b` = TRUE) OR (`a` = 2 AND `b` IS NULL)"
    )
    assert partition_predicate(["s"], [("a\\b",), ("",)]) == (
        "`s` IN ('', ('a' || chr(92) || 'b'))"
    )


def test_conflicts_are_retried_with_growing_waits_then_one_line():
    waits: list[float] = []
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise WriteConflictError("s3a://b/t", "ConcurrentAppendException: x")
        return "done"

    policy = RetryPolicy(attempts=4, base_delay=1.0, jitter=0.0)
    assert run_with_retry(flaky, policy, sleep=waits.append) == "done"
    assert waits == [1.0, 2.0]

    def always() -> None:
        raise WriteConflictError("s3a://b/t", "ConcurrentAppendException: x")

    waits.clear()
    with pytest.raises(WriteConflictError) as info:
        run_with_retry(always, policy, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]
    assert info.value.reason is Reason.WRITE_CONFLICT
    assert info.value.metadata == {"table": "s3a://b/t", "attempts": "4"}
    assert "\n" not in str(info.value)
    assert "4 attempts" in str(info.value)


def test_waits_are_capped_and_jittered_below_the_cap():
    policy = RetryPolicy(attempts=10, base_delay=1.0, max_delay=3.0, jitter=0.5)
    for attempt in range(1, 10):
        full = min(3.0, 2.0 ** (attempt - 1))
        assert full * 0.5 <= policy.delay(attempt) <= full
    with pytest.raises(ConfigError):
        RetryPolicy(attempts=0)


def test_a_relative_path_is_anchored_at_the_python_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert resolve_table("lake/t").table == f"{tmp_path}/lake/t"
    assert resolve_table("t", "data").table == f"{tmp_path}/data/features/t"
