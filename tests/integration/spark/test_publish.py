"""Contract enforcement on Spark: publish, quarantine, gates, and the job round trip.

Delta tables are read back with delta-rs (no JVM), as the serving side reads them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from featurestore.services.contracts import Contract, ContractRegistry, table_reasons
from featurestore.services.lineage import table_history
from featurestore.services.monitoring.freshness import (
    FUTURE_TOLERANCE,
    table_freshness,
)
from featurestore.services.offline.join import ViewInput, point_in_time_join
from featurestore.spark_jobs.errors import ContractViolationError, Reason
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.publish import publish
from featurestore.spark_jobs.validate import REASONS_COLUMN, with_verdicts

pytestmark = [pytest.mark.spark, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]
CONTRACTS = REPO / "feature_repo" / "contracts"
T0 = datetime(2026, 10, 1, tzinfo=UTC)
KEY = ("customer_id", "event_timestamp")
COUNTS = "count_1h,count_24h,count_7d"
PK = "customer_id,event_timestamp"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return ContractRegistry(CONTRACTS).get("customer_spend", "1.0.0")


def _schema(**overrides: str) -> Any:
    from pyspark.sql import types as T

    spark_types = {
        "int64": T.LongType(),
        "int32": T.IntegerType(),
        "float64": T.DoubleType(),
        "string": T.StringType(),
        "timestamp": T.TimestampType(),
    }
    contract = ContractRegistry(CONTRACTS).get("customer_spend", "1.0.0")
    return T.StructType(
        [
            T.StructField(c.name, spark_types[overrides.get(c.name, c.type)], True)
            for c in contract.columns
        ]
    )


def _row(customer: int, minute: int, **changes: Any) -> dict[str, Any]:
    event = T0 + timedelta(minutes=minute)
    row: dict[str, Any] = {
        "customer_id": customer,
        "event_timestamp": event,
        "created_timestamp": event + timedelta(seconds=30),
        "spend_1h": 10.5,
        "count_1h": 1,
        "spend_24h": 20.25,
        "count_24h": 2,
        "spend_7d": 30.0,
        "count_7d": 3,
    }
    row.update(changes)
    return row


def _good(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [_row(1 + i % 7, offset + i) for i in range(n)]


def _frame(spark: Any, rows: Sequence[dict[str, Any]], schema: Any = None) -> Any:
    schema = schema or _schema()
    return spark.createDataFrame(
        [tuple(r[f.name] for f in schema.fields) for r in rows], schema
    )


def _arrow(contract: Contract, rows: Sequence[dict[str, Any]]) -> pa.Table:
    types = {"int64": pa.int64(), "float64": pa.float64()}
    ts = pa.timestamp("us", tz="UTC")
    schema = pa.schema([(c.name, types.get(c.type, ts)) for c in contract.columns])
    return pa.Table.from_pylist(list(rows), schema=schema)


def _read(path: str | Path, sort: Sequence[str] = KEY) -> list[dict[str, Any]]:
    table = DeltaTable(str(path)).to_pyarrow_table()
    return table.sort_by([(c, "ascending") for c in sort]).to_pylist()


def _sorted(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: tuple(r[c] for c in KEY))


def _reasons(pairs: Any) -> list[tuple[str, str]]:
    return [(p["column"], p["check"]) for p in pairs]


def _publish(df: Any, contract: Contract, data_dir: Path, run_id: str) -> Any:
    return publish(
        df, contract, contract.name, data_root=data_dir, job="test_job", run_id=run_id
    )


BAD_ROWS = [
    (_row(0, 10_000), [("customer_id", "greater_than_or_equal_to")]),
    (_row(2, 10_001, spend_1h=-1.0), [("spend_1h", "greater_than_or_equal_to")]),
    (_row(3, 10_002, count_1h=5), [(COUNTS, "windows_nested")]),
]


def test_few_bad_rows_publish_good_and_quarantine_bad(spark, data_dir, contract):
    good = _good(97)
    df = _frame(spark, good + [row for row, _ in BAD_ROWS])

    report = _publish(df, contract, data_dir, "run-a")

    paths = DataPaths.from_root(data_dir)
    table = DeltaTable(str(paths.feature_table("customer_spend")))
    assert report.version == table.version() == 0
    assert table.schema().to_arrow().names == list(contract.column_names)
    assert _read(paths.feature_table("customer_spend")) == _sorted(good)

    quarantined = _read(paths.quarantine_table("customer_spend"))
    assert len(quarantined) == len(BAD_ROWS)
    for got, (row, reasons) in zip(quarantined, _sorted_bad(), strict=True):
        assert {k: got[k] for k in row} == row
        assert _reasons(got["reasons"]) == reasons
        assert got["run_id"] == "run-a"
        assert got["contract"] == "customer_spend@1.0.0"

    summary = {
        "rows_in": 100,
        "published": 97,
        "quarantined": 3,
        "by_reason": {
            "count_1h,count_24h,count_7d:windows_nested": 1,
            "customer_id:greater_than_or_equal_to": 1,
            "spend_1h:greater_than_or_equal_to": 1,
        },
        # The newest passing row (minute 96); T0 is long past the 7-day SLA.
        "newest_event": (T0 + timedelta(minutes=96)).isoformat(),
        "fresh": False,
    }
    meta = json.loads(table.history(1)[0]["userMetadata"])
    assert meta == {
        "job": "test_job",
        "run_id": "run-a",
        "mode": "overwrite",
        "contract": "customer_spend@1.0.0",
        "contract_name": "customer_spend",
        "contract_version": "1.0.0",
        "validation": summary,
    }
    # The lineage reader sees the same commit the way the CLI prints it.
    (record,) = table_history(paths.feature_table("customer_spend"))
    assert (record.version, record.job, record.run_id, record.contract) == (
        0,
        "test_job",
        "run-a",
        "customer_spend@1.0.0",
    )
    assert record.validation == summary


def _sorted_bad() -> list[tuple[dict[str, Any], list[tuple[str, str]]]]:
    return sorted(BAD_ROWS, key=lambda b: tuple(b[0][c] for c in KEY))


def test_over_failure_limit_raises_and_keeps_previous_version(
    spark, data_dir, contract
):
    paths = DataPaths.from_root(data_dir)
    target = paths.feature_table("customer_spend")
    _publish(_frame(spark, _good(40)), contract, data_dir, "run-ok")
    before = _read(target)

    bad = [_row(0, 20_000 + i) for i in range(5)]  # 5 of 45 = 11% > 5%
    with pytest.raises(ContractViolationError) as info:
        _publish(_frame(spark, _good(40, 500) + bad), contract, data_dir, "run-bad")

    assert info.value.reason is Reason.FAILURE_RATIO_EXCEEDED
    assert info.value.metadata["rows_failed"] == "5"
    assert info.value.metadata["rows_in"] == "45"
    assert DeltaTable(str(target)).version() == 0
    assert _read(target) == before
    # The failing rows are still quarantined, tagged with the failed run.
    quarantined = _read(paths.quarantine_table("customer_spend"))
    assert {r["run_id"] for r in quarantined} == {"run-bad"}
    assert len(quarantined) == 5
    # Its commit says the batch was refused: nothing published (it said 40).
    commit = DeltaTable(str(paths.quarantine_table("customer_spend"))).history(1)[0]
    validation = json.loads(commit["userMetadata"])["validation"]
    assert (validation["published"], validation["quarantined"]) == (0, 5)
    assert validation["refused"] == "FAILURE_RATIO_EXCEEDED"


def test_a_batch_spark_cannot_compute_is_one_error_and_keeps_the_table(
    spark, data_dir, contract
):
    # The job's transform runs lazily inside publish: a failed cast (ANSI)
    # came out as a Py4J traceback with the JVM's stack.
    from pyspark.sql import functions as F

    from featurestore.spark_jobs import BatchFailedError

    paths = DataPaths.from_root(data_dir)
    target = paths.feature_table("customer_spend")
    _publish(_frame(spark, _good(10)), contract, data_dir, "run-ok")
    before = _read(target)
    bad = _frame(spark, _good(10, 100)).withColumn(
        "spend_1h", F.when(F.col("count_1h") >= 0, F.lit("n/a")).cast("double")
    )
    with pytest.raises(BatchFailedError) as info:
        _publish(bad, contract, data_dir, "run-bad")
    assert info.value.reason is Reason.BATCH_FAILED
    assert info.value.metadata["error"] == "CAST_INVALID_INPUT"
    message = str(info.value)
    assert "nothing was published" in message and "'n/a'" in message
    assert message.endswith(str(info.value.__cause__).strip().splitlines()[0])
    assert "\n" not in message and "at org.apache" not in message
    assert DeltaTable(str(target)).version() == 0
    assert _read(target) == before


def test_a_python_udf_s_exception_is_named_in_the_one_line(spark, data_dir, contract):
    # Spark's first line is only "An exception was thrown from the Python
    # worker"; what the job's code raised comes last in the worker's traceback.
    from pyspark.sql import functions as F

    from featurestore.spark_jobs import BatchFailedError

    def boom(value: float) -> float:
        raise ValueError(f"boom in udf at {value}")

    bad = _frame(spark, _good(3)).withColumn(
        "spend_1h", F.udf(boom, "double")(F.col("spend_1h"))
    )
    with pytest.raises(BatchFailedError) as info:
        _publish(bad, contract, data_dir, "run-udf")
    message = str(info.value)
    assert "nothing was published" in message
    assert "ValueError: boom in udf at 10.5" in message, message
    assert "\n" not in message and "Traceback" not in message
    assert not DeltaTable.is_deltatable(
        str(DataPaths.from_root(data_dir).feature_table("customer_spend"))
    )


def test_a_session_time_zone_other_than_utc_is_refused_before_any_work(
    spark, data_dir, contract
):
    # The batches then carry America/New_York timestamps: every one failed
    # the verdict late, as BATCH_FAILED with a worker traceback.
    from featurestore.spark_jobs import ConfigError

    paths = DataPaths.from_root(data_dir)
    frame = _frame(spark, _good(10))
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        with pytest.raises(ConfigError) as info:
            _publish(frame, contract, data_dir, "run-tz")
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert info.value.reason is Reason.CONFIG_INVALID
    assert "'America/New_York'" in str(info.value)
    assert not os.path.exists(paths.feature_table("customer_spend"))


SCHEMA_CASES = [
    ("spend_7d", {}, {"missing": "spend_7d"}),
    (None, {"count_1h": "int32"}, {"wrong_types": "count_1h=int64:int32"}),
    (None, {"spend_1h": "string"}, {"wrong_types": "spend_1h=float64:string"}),
]


def test_wrong_schema_raises_schema_mismatch_and_writes_nothing(
    spark, data_dir, contract
):
    paths = DataPaths.from_root(data_dir)
    target = paths.feature_table("customer_spend")
    _publish(_frame(spark, _good(10)), contract, data_dir, "run-ok")
    # One published version, then every bad schema against it (one publish only:
    # each costs seconds).
    for drop, types, expected in SCHEMA_CASES:
        rows = _good(10, 100)
        if "spend_1h" in types:
            rows = [{**r, "spend_1h": str(r["spend_1h"])} for r in rows]
        df = _frame(spark, rows, _schema(**types))
        if drop:
            df = df.drop(drop)

        with pytest.raises(ContractViolationError) as info:
            _publish(df, contract, data_dir, "run-bad")

        assert info.value.reason is Reason.SCHEMA_MISMATCH
        assert {k: info.value.metadata.get(k) for k in expected} == expected
        assert DeltaTable(str(target)).version() == 0
        assert _read(target) == _sorted(_good(10))
        assert not os.path.exists(paths.quarantine_table("customer_spend"))


def test_duplicate_keys_greatest_created_timestamp_wins(spark, data_dir, contract):
    good = _good(60)
    newest = _row(1, 5_000, created_timestamp=T0 + timedelta(days=9), spend_1h=3.0)
    older = _row(1, 5_000, created_timestamp=T0 + timedelta(days=8), spend_1h=2.0)
    oldest = _row(1, 5_000, created_timestamp=T0 + timedelta(days=7), spend_1h=1.0)
    # Listed oldest first so input order does not pick the winner by accident.
    df = _frame(spark, [*good, oldest, newest, older])

    report = _publish(df, contract, data_dir, "run-d")

    paths = DataPaths.from_root(data_dir)
    assert report.validation.by_reason == {f"{PK}:duplicate_key": 2}
    assert _read(paths.feature_table("customer_spend")) == _sorted([*good, newest])
    losers = _read(paths.quarantine_table("customer_spend"), ["created_timestamp"])
    assert [r["spend_1h"] for r in losers] == [1.0, 2.0]
    assert all(_reasons(r["reasons"]) == [(PK, "duplicate_key")] for r in losers)


FEATURES = ["spend_1h", "count_1h", "spend_24h", "count_24h", "spend_7d", "count_7d"]


def _served_by_reads(contract: Contract, root: Path, *appends: list) -> list[dict]:
    """Per customer, the features a training set reads after ``appends``
    (one Delta commit each), from the offline store's point-in-time join."""
    for rows in appends:
        write_deltalake(str(root), _arrow(contract, rows), mode="append")
    view = ViewInput(
        name="customer_spend",
        table=DeltaTable(str(root)).to_pyarrow_table(),
        join_keys=["customer_id"],
        event_timestamp_column="event_timestamp",
        created_timestamp_column="created_timestamp",
        features=FEATURES,
    )
    ids = sorted({r["customer_id"] for rows in appends for r in rows})
    later = pa.array([T0 + timedelta(days=1)] * len(ids), pa.timestamp("us", "UTC"))
    entity = pa.table({"customer_id": ids, "t": later})
    return point_in_time_join(entity, "t", [view]).select(FEATURES).to_pylist()


def test_tied_rows_publish_the_row_a_training_set_reads(
    spark, data_dir, tmp_path, contract
):
    # Rows tied on (customer, event time, created time): publishing kept the
    # smallest tuple of the other columns, reads pick the greatest, so {5, 7}
    # in one batch served 5 and in two appends 7.
    first = [
        _row(1, 0, spend_1h=5.0),
        _row(2, 0, count_1h=2),
        _row(3, 0, spend_1h=7.0, count_1h=1),
    ]
    second = [
        _row(1, 0, spend_1h=7.0),
        _row(2, 0, count_1h=1),
        _row(3, 0, spend_1h=5.0, count_1h=2),
    ]
    read = _served_by_reads(contract, tmp_path / "appended", first, second)
    assert read != [{f: r[f] for f in FEATURES} for r in first]  # not input order
    others = [_row(10 + i, 0) for i in range(60)]  # under the failure ratio
    for i, batch in enumerate(([*first, *second], [*second, *first])):
        run = f"ties-{i}"
        root = data_dir / run
        report = _publish(_frame(spark, [*others, *batch]), contract, root, run)
        assert report.validation.by_reason == {f"{PK}:duplicate_key": 3}
        table = _read(DataPaths.from_root(root).feature_table("customer_spend"))
        published = [r for r in table if r["customer_id"] < 10]
        assert [{f: r[f] for f in FEATURES} for r in published] == read
        # The service's verdict (ValidateRows, `contracts validate`) agrees.
        reasons = table_reasons(contract, _arrow(contract, batch)).to_pylist()
        kept = _sorted([r for r, why in zip(batch, reasons, strict=True) if not why])
        assert [{f: r[f] for f in FEATURES} for r in kept] == read


def _mixed_bad_rows() -> list[dict[str, Any]]:
    """Rows breaking every rule kind, some twice, plus duplicates without ties."""
    day = timedelta(days=1)
    return [
        *_good(20),
        _row(0, 9_000),
        _row(None, 9_001),  # type: ignore[arg-type]
        _row(4, 9_002, spend_1h=float("nan")),
        _row(4, 9_003, spend_24h=None, count_7d=0),
        _row(5, 9_004, spend_1h=-2.0, count_1h=9),
        _row(-3, 9_005, spend_7d=-1.0, count_24h=1, count_7d=None),
        _row(6, 9_006, created_timestamp=None),
        # Duplicate key groups: distinct created times, or a null losing.
        _row(6, 9_100, created_timestamp=T0 + 3 * day),
        _row(6, 9_100, created_timestamp=T0 + 5 * day, spend_1h=-1.0),
        _row(6, 9_100, created_timestamp=T0 + 4 * day),
        _row(7, 9_200, created_timestamp=None),
        _row(7, 9_200, created_timestamp=T0 + day, count_1h=0),
        _row(None, 9_300, created_timestamp=T0 + day),  # type: ignore[arg-type]
        _row(None, 9_300, created_timestamp=T0 + 2 * day),  # type: ignore[arg-type]
    ]


def _identity(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(_plain(row[c]) for c in sorted(row) if c != REASONS_COLUMN)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    # collect() gives naive local datetimes; astimezone reads them as local.
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def test_spark_and_service_give_the_same_verdict_per_row(spark, contract):
    rows = _mixed_bad_rows()
    assert len({_identity(r) for r in rows}) == len(rows)

    # Spark path: mapInArrow over row_reasons, duplicates by a window.
    judged = with_verdicts(contract, _frame(spark, rows)).collect()
    spark_verdicts = {
        _identity(r.asDict()): _reasons(r[REASONS_COLUMN]) for r in judged
    }
    # Service path: table_reasons on the same rows as one Arrow table.
    reasons = table_reasons(contract, _arrow(contract, rows)).to_pylist()
    service_verdicts = {
        _identity(row): _reasons(r) for row, r in zip(rows, reasons, strict=True)
    }

    assert len(spark_verdicts) == len(rows)
    assert spark_verdicts == service_verdicts
    # Every constructed bad row fails, including each duplicate-group winner
    # (each also breaks another rule); the good rows pass.
    assert [bool(service_verdicts[_identity(r)]) for r in rows] == [False] * 20 + [
        True
    ] * (len(rows) - 20)
    assert service_verdicts[_identity(rows[28])] == [
        ("spend_1h", "greater_than_or_equal_to")
    ]
    assert service_verdicts[_identity(rows[30])] == [
        ("created_timestamp", "not_nullable"),
        (PK, "duplicate_key"),
    ]
    assert service_verdicts[_identity(rows[27])] == [(PK, "duplicate_key")]


def _job_args(data_dir: Path, run_id: str) -> list[str]:
    return [
        "--data-dir",
        str(data_dir),
        "--contracts-dir",
        str(CONTRACTS),
        "--run-id",
        run_id,
        "--master",
        "local[2]",
    ]


def test_jobs_round_trip_and_rerun_is_idempotent(spark, data_dir, capsys):
    from featurestore.spark_jobs.jobs import build_customer_spend, build_merchant_risk
    from featurestore.spark_jobs.jobs import generate_raw_events as generate

    small = ["--transactions", "3000", "--customers", "150", "--merchants", "20"]
    assert generate.main([*small, "--days", "20", "--data-dir", str(data_dir)]) == 0
    paths = DataPaths.from_root(data_dir)
    keys = {"customer_spend": KEY, "merchant_risk": ("merchant_id", "event_timestamp")}
    jobs = {
        "customer_spend": build_customer_spend,
        "merchant_risk": build_merchant_risk,
    }

    first = {}
    for name, job in jobs.items():
        assert job.main(_job_args(data_dir, "run-1")) == 0
        first[name] = _read(paths.feature_table(name), keys[name])
        assert first[name], name
    # The re-run upserts (--mode merge): same content, a version stamped merge.
    for name, job in jobs.items():
        assert job.main([*_job_args(data_dir, "run-2"), "--mode", "merge"]) == 0
        table = paths.feature_table(name)
        assert _read(table, keys[name]) == first[name]
        assert [(r.version, r.run_id) for r in table_history(table)] == [
            (1, "run-2"),
            (0, "run-1"),
        ]
        newest = DeltaTable(table).history(1)[0]
        assert json.loads(newest["userMetadata"])["mode"] == "merge"
    capsys.readouterr()


def test_job_on_missing_input_returns_nonzero_with_one_line(spark, data_dir, capsys):
    from featurestore.spark_jobs.jobs import build_customer_spend

    assert build_customer_spend.main(_job_args(data_dir, "run-x")) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "INPUT_NOT_FOUND" in err
    assert str(DataPaths.from_root(data_dir).raw_transactions) in err


def test_an_input_spark_cannot_read_is_not_called_missing(spark, tmp_path):
    # A pandas-written file with nanosecond timestamps exists, but Spark
    # cannot read it (PARQUET_TYPE_ILLEGAL): it was "input not found".
    import pyarrow.parquet as pq

    from featurestore.spark_jobs import ConfigError, InputNotFoundError
    from featurestore.spark_jobs.io import read_parquet

    nanos = tmp_path / "nanos"
    nanos.mkdir()
    table = pa.table({"t": pa.array([T0], pa.timestamp("ns", tz="UTC"))})
    pq.write_table(table, nanos / "part-0.parquet")
    with pytest.raises(ConfigError) as info:
        read_parquet(spark, nanos)
    assert "PARQUET_TYPE_ILLEGAL" in str(info.value) and "\n" not in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    for missing in (tmp_path / "nothing", empty):  # absent, or holding no data
        with pytest.raises(InputNotFoundError):
            read_parquet(spark, missing)


def test_freshness_sla_is_judged_and_stamped(spark, data_dir, contract):
    # T0 is weeks ago and the contract allows 7 days: stale, but still published.
    rows = [*_good(25), _row(0, 60)]  # the failing row is the newest; it must not count
    report = publish(
        _frame(spark, rows),
        contract,
        DataPaths.from_root(data_dir),
        job="test",
        run_id="fresh-1",
    )
    newest = T0 + timedelta(minutes=24)
    assert report.validation.newest_event == newest
    assert not report.validation.is_fresh()
    assert report.validation.is_fresh(now=newest + timedelta(days=7))
    assert not report.validation.is_fresh(now=newest + timedelta(days=7, seconds=1))
    history = DeltaTable(str(data_dir / "features" / "customer_spend")).history(1)
    stamp = json.loads(history[0]["userMetadata"])
    assert stamp["validation"]["newest_event"] == newest.isoformat()
    assert stamp["validation"]["fresh"] is False


def test_a_batch_from_the_future_is_not_fresh_as_the_monitor_says(
    spark, data_dir, contract
):
    # It was recorded "fresh": true (now - 2200 is below any max age) while
    # `monitor freshness` called the same table unknown, "in the future".
    future = datetime(2200, 1, 1, tzinfo=UTC)
    rows = [*_good(5), _row(1, 0, event_timestamp=future,
                            created_timestamp=future)]  # fmt: skip
    report = publish(
        _frame(spark, rows),
        contract,
        DataPaths.from_root(data_dir),
        job="test",
        run_id="future-1",
    )
    assert report.validation.newest_event == future
    assert not report.validation.is_fresh()
    path = data_dir / "features" / "customer_spend"
    stamp = json.loads(DeltaTable(str(path)).history(1)[0]["userMetadata"])
    assert stamp["validation"]["fresh"] is False
    (record,) = table_history(path)
    assert record.validation["fresh"] is False
    monitor = table_freshness(
        "customer_spend", str(path), "event_timestamp", contract.freshness_sla
    )
    assert (monitor.verdict, monitor.newest_event_time) == ("unknown", future)
    # Within the clock-skew allowance both call it fresh; beyond it neither.
    assert report.validation.is_fresh(now=future - FUTURE_TOLERANCE)
    assert not report.validation.is_fresh(
        now=future - FUTURE_TOLERANCE - timedelta(seconds=1)
    )


def test_a_job_judges_the_version_bump_in_its_contracts_dir(
    spark, data_dir, tmp_path, capsys
):
    # The jobs read their contract from --contracts-dir but publish judged the
    # version bump against the project's default registry, which does not hold
    # it: the check was skipped and a breaking change under a minor bump landed.
    from featurestore.spark_jobs.jobs import build_customer_spend
    from featurestore.spark_jobs.jobs import generate_raw_events as generate

    contracts = tmp_path / "contracts" / "customer_spend"
    contracts.mkdir(parents=True)
    text = (CONTRACTS / "customer_spend" / "1.0.0.yaml").read_text()
    (contracts / "1.0.0.yaml").write_text(text)
    added = text.replace("version: 1.0.0", "version: 1.1.0").replace(
        "      - greater_than_or_equal_to: 0\n",
        "      - greater_than_or_equal_to: 0\n"
        "      - less_than_or_equal_to: 1000000000000.0\n",
        1,
    )
    assert added.count("less_than_or_equal_to: 1000000000000.0") == 1
    (contracts / "1.1.0.yaml").write_text(added)
    small = ["--transactions", "2000", "--customers", "100", "--merchants", "10"]
    assert generate.main([*small, "--days", "10", "--data-dir", str(data_dir)]) == 0
    args = [
        *_job_args(data_dir, "run-1"),
        "--contracts-dir",
        str(tmp_path / "contracts"),
    ]
    assert build_customer_spend.main([*args, "--contract-version", "1.0.0"]) == 0
    table = DataPaths.from_root(data_dir).feature_table("customer_spend")
    before = DeltaTable(table).version()
    capsys.readouterr()
    minor = [*args, "--contract-version", "1.1.0", "--mode", "append"]
    assert build_customer_spend.main(minor) != 0
    assert "MAJOR_BUMP_REQUIRED" in capsys.readouterr().err
    assert DeltaTable(table).version() == before
