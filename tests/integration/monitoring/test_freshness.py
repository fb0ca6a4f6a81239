"""Freshness verdicts on real Delta tables with known event and commit times."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat, ParquetFormat
from feast.types import Float64

from featurestore.services.contracts import ContractRegistry
from featurestore.services.contracts.sla import FreshnessSla
from featurestore.services.lineage import history as lineage_history
from featurestore.services.monitoring.freshness import (
    newest_event_time,
    table_freshness,
    view_freshness,
)
from tests.delta_reads import history_limits

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
TS = pa.timestamp("us", tz="UTC")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WEEK = FreshnessSla(max_age=timedelta(days=7), event_time="event_timestamp")


def _rows(*ages: timedelta) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array(range(len(ages)), pa.int64()),
            "event_timestamp": pa.array([NOW - a for a in ages], TS),
            "spend_1h": [1.0] * len(ages),
        }
    )


def _commit_time(path: Path) -> datetime:
    ms = DeltaTable(str(path)).history(1)[0]["timestamp"]
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_newest_event_time_of_the_latest_version_only(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows(timedelta(days=3), timedelta(hours=5)))
    write_deltalake(str(path), _rows(timedelta(days=1)), mode="append")
    table = DeltaTable(str(path))
    expected = pc.max(table.to_pyarrow_table()["event_timestamp"]).as_py()
    assert newest_event_time(table, "event_timestamp") == expected
    assert expected == NOW - timedelta(hours=5)
    # An overwrite leaves older files in the log but not in the version.
    write_deltalake(str(path), _rows(timedelta(days=4)), mode="overwrite")
    table = DeltaTable(str(path))
    assert newest_event_time(table, "event_timestamp") == NOW - timedelta(days=4)


def test_files_without_statistics_are_read(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(
        str(path),
        _rows(timedelta(days=2), timedelta(hours=30)),
        configuration={"delta.dataSkippingNumIndexedCols": "0"},
    )
    table = DeltaTable(str(path))
    assert (
        "max.event_timestamp"
        not in pa.table(table.get_add_actions(flatten=True)).column_names
    )
    assert newest_event_time(table, "event_timestamp") == NOW - timedelta(hours=30)


@pytest.mark.parametrize(
    ("newest_age", "verdict"),
    [(timedelta(days=2), "ok"), (timedelta(days=7), "ok"), (timedelta(days=9), "late")],
)
def test_verdict_against_the_max_age(
    tmp_path: Path, newest_age: timedelta, verdict: str
) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows(newest_age + timedelta(days=1), newest_age))
    got = table_freshness("v", str(path), "event_timestamp", WEEK, now=NOW)
    assert got.verdict == verdict
    assert got.newest_event_time == NOW - newest_age
    assert got.age == newest_age
    assert got.newest_commit_time == _commit_time(path)
    assert got.version == 0


@pytest.mark.parametrize(
    ("ahead", "verdict"),
    [(timedelta(minutes=4), "ok"), (timedelta(minutes=6), "unknown"),
     (timedelta(days=3), "unknown")],
)  # fmt: skip
def test_a_newest_event_in_the_future_is_flagged_not_ok(
    tmp_path: Path, ahead: timedelta, verdict: str
) -> None:
    # A job writing local time as UTC puts events ahead of now; they passed
    # any max age ("newest event -2d23h old <= max age 2h"), hiding a table
    # that stopped updating. A few minutes ahead is clock skew: still judged.
    path = tmp_path / "t"
    write_deltalake(str(path), _rows(timedelta(days=1), -ahead))
    got = table_freshness("v", str(path), "event_timestamp", WEEK, now=NOW)
    assert got.verdict == verdict
    assert got.age == -ahead  # reported as found
    if verdict == "unknown":
        assert got.reason.startswith("newest event ") and "in the future" in got.reason
        assert "check the job's clock and time zone" in got.reason


def test_no_publish_within_the_frequency_is_late(tmp_path: Path) -> None:
    path = tmp_path / "t"
    fresh = pa.table(
        {
            "customer_id": pa.array([1], pa.int64()),
            "event_timestamp": pa.array([datetime.now(UTC)], TS),
            "spend_1h": [1.0],
        }
    )
    write_deltalake(str(path), fresh)
    committed = _commit_time(path)
    sla = FreshnessSla(timedelta(days=7), "event_timestamp", timedelta(hours=1))
    on_time, late = committed + timedelta(minutes=59), committed + timedelta(hours=2)
    assert table_freshness("v", str(path), "event_timestamp", sla, now=on_time).ok
    got = table_freshness("v", str(path), "event_timestamp", sla, now=late)
    assert got.verdict == "late"  # the newest event is 2 h old: within 7 days
    assert got.age is not None and got.age < timedelta(days=7)
    assert got.to_json_obj()["frequency_seconds"] == 3600.0


def test_a_vacuum_or_optimize_is_no_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A table whose job stopped went on passing its frequency while nightly
    # maintenance committed: the VACUUM END commit was taken for a publish.
    path = tmp_path / "t"
    fresh = pa.table(
        {
            "customer_id": pa.array([1], pa.int64()),
            "event_timestamp": pa.array([datetime.now(UTC)], TS),
            "spend_1h": [1.0],
        }
    )
    write_deltalake(str(path), fresh)
    write_deltalake(str(path), fresh, mode="append")  # v1: the last publish
    published = _commit_time(path)
    time.sleep(2)  # maintenance comes later than the publish
    DeltaTable(str(path)).optimize.compact()  # v2
    DeltaTable(str(path)).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False
    )  # v3 VACUUM START, v4 VACUUM END
    operations = [c["operation"] for c in DeltaTable(str(path)).history()]
    assert operations == ["VACUUM END", "VACUUM START", "OPTIMIZE", "WRITE", "WRITE"]
    sla = FreshnessSla(timedelta(days=7), "event_timestamp", timedelta(hours=1))
    now = published + timedelta(hours=1, seconds=1)  # < 1 h after the VACUUM
    got = table_freshness("v", str(path), "event_timestamp", sla, now=now)
    assert got.verdict == "late", got.reason
    assert got.reason.startswith("no publish for ")
    assert (got.version, got.newest_commit_time) == (1, published)
    # No publish among the commits searched: the oldest of them bounds it.
    monkeypatch.setattr(lineage_history, "PUBLISH_LOOKBACK", 2)
    bounded = table_freshness("v", str(path), "event_timestamp", sla, now=now)
    assert bounded.version is None
    assert bounded.newest_commit_time == datetime.fromtimestamp(
        DeltaTable(str(path)).history(2)[-1]["timestamp"] / 1000, tz=UTC
    )


def test_a_publish_on_top_is_found_reading_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Freshness runs per view on every console page and monitor call: the
    # newest commit alone when it is a publish (each commit is a file read,
    # an object-store GET on S3), not the newest PUBLISH_LOOKBACK.
    path = tmp_path / "t"
    for _ in range(3):
        write_deltalake(str(path), _rows(timedelta(hours=1)), mode="append")
    asked = history_limits(monkeypatch)
    got = table_freshness("v", str(path), "event_timestamp", WEEK, now=NOW)
    assert (got.verdict, got.version) == ("ok", 2)
    assert asked == [1]


def test_unknown_without_table_rows_or_sla(tmp_path: Path) -> None:
    missing = table_freshness("v", str(tmp_path / "nope"), "event_timestamp", WEEK)
    assert (missing.verdict, missing.version) == ("unknown", None)
    path = tmp_path / "t"
    write_deltalake(str(path), _rows(timedelta(days=1)).slice(0, 0))
    empty = table_freshness("v", str(path), "event_timestamp", WEEK, now=NOW)
    assert (empty.verdict, empty.newest_event_time) == ("unknown", None)
    write_deltalake(str(path), _rows(timedelta(days=1)), mode="append")
    no_sla = table_freshness("v", str(path), "event_timestamp", None, now=NOW)
    assert no_sla.verdict == "unknown"
    assert no_sla.newest_event_time == NOW - timedelta(days=1)  # still reported


def _view(path: Path, tags: dict[str, str], fmt: object = None) -> FeatureView:
    source = FileSource(
        name="customer_spend",
        path=str(path),
        file_format=fmt or DeltaFormat(),
        timestamp_field="event_timestamp",
    )
    return FeatureView(
        name="customer_spend",
        entities=[
            Entity(name="c", join_keys=["customer_id"], value_type=ValueType.INT64)
        ],
        schema=[Field(name="spend_1h", dtype=Float64)],
        source=source,
        tags=tags,
    )


def test_view_freshness_follows_the_views_contract(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    shutil.copytree(REPO / "feature_repo" / "contracts" / "customer_spend",
                    contracts / "customer_spend")  # fmt: skip
    registry = ContractRegistry(contracts)
    path = tmp_path / "customer_spend"
    write_deltalake(str(path), _rows(timedelta(days=8)))
    view = _view(path, {"contract": "customer_spend"})
    got = view_freshness(view, tmp_path, registry, now=NOW)
    # customer_spend 1.0.0 promises freshness: 7d.
    assert (got.verdict, got.max_age) == ("late", timedelta(days=7))
    untagged = view_freshness(_view(path, {}), tmp_path, registry, now=NOW)
    assert (untagged.verdict, untagged.max_age) == ("unknown", None)
    assert untagged.newest_event_time == NOW - timedelta(days=8)
    # A later version stating the SLA the ODCS way: its max age and cadence apply.
    text = (contracts / "customer_spend" / "1.0.0.yaml").read_text()
    odcs = text.replace("version: 1.0.0", "version: 1.1.0").replace(
        "freshness: 7d",
        "slaProperties:\n"
        "  - {property: latency, value: 9, unit: d,"
        " element: customer_spend.event_timestamp}\n"
        "  - {property: frequency, value: 12, unit: h}",
    )
    (contracts / "customer_spend" / "1.1.0.yaml").write_text(odcs)
    got = view_freshness(view, tmp_path, ContractRegistry(contracts), now=NOW)
    assert (got.max_age, got.frequency) == (timedelta(days=9), timedelta(hours=12))
    assert got.verdict == "ok"  # 8 days < 9; committed just now, within 12 h
    parquet = view_freshness(_view(path, {}, ParquetFormat()), tmp_path, registry)
    assert parquet.verdict == "unknown" and "not supported" in parquet.reason
