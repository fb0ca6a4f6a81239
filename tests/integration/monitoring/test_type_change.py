"""A logged feature changes type (Int64 -> Float64, as a new contract version
makes it): the serving log never records a value other than the one served, and
the skew report compares what it can instead of crashing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake
from feast import FeatureStore, FeatureView
from feast.protos.feast.types.Value_pb2 import Value

from featurestore.services.cli import cli
from featurestore.services.monitoring.serving_log import ServingLog, serving_log_uri
from featurestore.services.online import FeatureStatus, ViewRequest, ViewResult
from tests.integration.serving._repo import (
    DEFINITIONS,
    NOW,
    TS,
    make_repo,
    sqlite_online,
)

pytestmark = pytest.mark.integration

IDS = [1, 2]


def _apply(
    store: FeatureStore, count_type: str = "Int64", tier_type: str = "String"
) -> FeatureView:
    """`feast apply` of customer_stats with these types; the view as registered."""
    definitions = (
        DEFINITIONS.replace(
            'Field(name="count", dtype=Int64)',
            f'Field(name="count", dtype={count_type})',
        )
        .replace(
            'Field(name="tier", dtype=String)', f'Field(name="tier", dtype={tier_type})'
        )
        .replace("import Float64,", "import Float32, Float64,")
    )
    ns: dict[str, object] = {}
    exec(compile(definitions, "definitions.py", "exec"), ns)
    store.apply([ns["customer_stats_view"]])  # type: ignore[list-item]
    return store.get_feature_view("customer_stats")


class _Logger:
    """A real ServingLog whose catalog the test swaps, as `feast apply` does."""

    def __init__(self, store: FeatureStore) -> None:
        self.view = store.get_feature_view("customer_stats")
        self.request_id = ""
        self.log = ServingLog(
            str(Path(store.repo_path) / "data"),
            lambda _: self.view,
            lambda: self.request_id,
            flush_seconds=3600.0,
        )

    def read(self, request_id: str, spend: list[float], count: list[Value]) -> int:
        """Log one read of spend and count for customers 1 and 2; flush it."""
        self.request_id = request_id
        rows = [
            [Value(double_val=s).SerializeToString(), c.SerializeToString()]
            for s, c in zip(spend, count, strict=True)
        ]
        result = ViewResult(
            view="customer_stats",
            features=("spend", "count"),
            event_times=[NOW - timedelta(hours=1)] * len(IDS),
            raw_values=rows,
            row_statuses=[FeatureStatus.PRESENT] * len(IDS),
        )
        request = ViewRequest.from_feature_view(self.view, ("spend", "count"))
        self.log.offer([request], {"customer_id": IDS}, [result], NOW)
        return self.log.flush()


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return make_repo(tmp_path, sqlite_online(tmp_path))


@pytest.fixture
def logger(store: FeatureStore) -> Iterator[_Logger]:
    logger = _Logger(store)
    yield logger
    logger.log.close()


def _rows(store: FeatureStore, request_id: str) -> list[dict[str, object]]:
    data = str(Path(store.repo_path) / "data")
    table = DeltaTable(serving_log_uri(data, "customer_stats"))
    rows = table.to_pyarrow_table().sort_by("customer_id").to_pylist()
    return [r for r in rows if r["__request_id"] == request_id]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_feature_turned_float_is_never_logged_truncated(
    store: FeatureStore, logger: _Logger, caplog: pytest.LogCaptureFixture
) -> None:
    ints = [Value(int64_val=2), Value(int64_val=3)]
    assert logger.read("ints", [1.5, 2.5], ints) == 2  # the count column: int64
    halves = [Value(double_val=2.5), Value(double_val=3.5)]
    # Between the two steps: the view still says Int64, the store holds doubles.
    # Before, this flush failed with a traceback and every row was lost.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert logger.read("between", [1.5, 2.5], halves) == 2
    rows = _rows(store, "between")
    assert [r["customer_stats__spend"] for r in rows] == [1.5, 2.5]
    assert [r["customer_stats__count"] for r in rows] == [None, None]
    assert [r["customer_stats__count__status"] for r in rows] == [None, None]
    (warning,) = _warnings(caplog)
    assert "'count'" in warning and "int64" in warning and "double" in warning
    # After `feast apply` of Float64: before, the log said 2 and 3.
    logger.view = _apply(store, "Float64")
    assert logger.read("after", [1.5, 2.5], halves) == 2
    rows = _rows(store, "after")
    assert [r["customer_stats__spend"] for r in rows] == [1.5, 2.5]
    assert [r["customer_stats__count"] for r in rows] == [None, None]
    # Whole numbers fit the int64 column unchanged: logged.
    wholes = [Value(double_val=4.0), Value(double_val=5.0)]
    assert logger.read("whole", [1.5, 2.5], wholes) == 2
    rows = _rows(store, "whole")
    assert [r["customer_stats__count"] for r in rows] == [4, 5]
    assert [r["customer_stats__count__status"] for r in rows] == [1, 1]


def test_skew_compares_an_int_log_with_float_offline_values(
    store: FeatureStore,
) -> None:
    data = Path(store.repo_path) / "data"
    logger = _Logger(store)
    try:
        logger.read("ints", [1.5, 2.5], [Value(int64_val=2), Value(int64_val=3)])
        # tier is logged as a string; then it turns into a number.
        logger.request_id = "tier"
        request = ViewRequest.from_feature_view(logger.view, ("tier",))
        result = ViewResult(
            view="customer_stats",
            features=("tier",),
            event_times=[NOW - timedelta(hours=1)] * len(IDS),
            raw_values=[[Value(string_val="t1").SerializeToString()]] * len(IDS),
            row_statuses=[FeatureStatus.PRESENT] * len(IDS),
        )
        logger.log.offer([request], {"customer_id": IDS}, [result], NOW)
        logger.log.flush()
    finally:
        logger.log.close()
    # The week's change: count is a float (2.0 for customer 1, 3.5 for 2), tier
    # a number, the view says so, and the offline table holds the new rows.
    at = NOW - timedelta(minutes=90)
    write_deltalake(
        str(data / "customer_stats"),
        pa.table(
            {
                "customer_id": pa.array(IDS, pa.int64()),
                "spend": pa.array([1.5, 2.5]),
                "count": pa.array([2.0, 3.5]),
                "tier": pa.array([1, 1], pa.int64()),
                "event_timestamp": pa.array([at] * len(IDS), TS),
                "created_timestamp": pa.array([at] * len(IDS), TS),
            }
        ),
        mode="overwrite",
        schema_mode="overwrite",
    )
    _apply(store, "Float64", "Int64")
    result = CliRunner().invoke(
        cli,
        ["monitor", "skew", "customer_stats", "--repo", str(store.repo_path), "--json"],
        prog_name="featurestore",
    )
    assert result.exit_code == 0, result.output
    report = {r["feature"]: r for r in json.loads(result.stdout)}
    assert (report["spend"]["rows"], report["spend"]["mismatches"]) == (2, 0)
    # Compared as float64: 2 == 2.0, 3 != 3.5.
    assert (report["count"]["rows"], report["count"]["mismatches"]) == (2, 1)
    assert report["count"]["note"] is None
    # A string against a number: not comparable, said per feature.
    assert report["tier"]["mismatches"] is None
    assert "string" in report["tier"]["note"]
    table = CliRunner().invoke(
        cli,
        ["monitor", "skew", "customer_stats", "--repo", str(store.repo_path)],
        prog_name="featurestore",
    )
    assert table.exit_code == 0, table.output
    assert "not comparable" in table.stdout


def test_a_float32_log_column_never_records_a_double_rounded(
    store: FeatureStore, logger: _Logger, caplog: pytest.LogCaptureFixture
) -> None:
    # Float32 -> Float64: Arrow's safe cast does not check a float target, so
    # 0.1 was logged as 0.10000000149 and 1e300 as inf (review of b5 writer 102).
    logger.view = _apply(store, count_type="Float32")
    halves = [Value(float_val=0.5), Value(float_val=2.0)]
    assert logger.read("floats", [1.5, 2.5], halves) == 2  # count column: float32
    logger.view = _apply(store, count_type="Float64")
    doubles = [Value(double_val=0.1), Value(double_val=1e300)]
    with caplog.at_level(logging.WARNING):
        assert logger.read("doubles", [1.5, 2.5], doubles) == 2
    rows = _rows(store, "doubles")
    assert [r["customer_stats__spend"] for r in rows] == [1.5, 2.5]
    assert [r["customer_stats__count"] for r in rows] == [None, None]
    assert any("count" in w for w in _warnings(caplog))
    exact = [Value(double_val=0.25), Value(double_val=-3.0)]
    assert logger.read("exact", [1.5, 2.5], exact) == 2  # these fit float32
    assert [r["customer_stats__count"] for r in _rows(store, "exact")] == [0.25, -3.0]
