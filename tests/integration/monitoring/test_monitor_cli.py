"""``featurestore monitor freshness`` and ``featurestore monitor skew`` end to end:
a served repo logs its online reads, the offline table moves on, and the skew
report equals an independent DuckDB computation."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake

from featurestore.services.cli import cli
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.monitoring._monitored import make_monitored_repo, newest_event
from tests.integration.serving._repo import (
    NOW,
    TS,
    make_repo,
    serve,
    sqlite_online,
    write_online,
)

pytestmark = pytest.mark.integration

CHANGED = range(1, 6)
"""Customers whose offline value moves after they were served."""


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="featurestore")


def test_freshness_command(tmp_path: Path) -> None:
    store, _ = make_monitored_repo(tmp_path)
    repo = str(store.repo_path)
    result = _run("monitor", "freshness", "--repo", repo, "--json")
    assert result.exit_code == 1, result.output  # merchant_risk is late
    got = {f["view"]: f for f in json.loads(result.stdout)}
    assert {v: f["verdict"] for v, f in got.items()} == {
        "customer_stats": "ok",
        "merchant_risk": "late",
    }
    newest = newest_event("customer_stats").isoformat().replace("+00:00", "Z")
    assert got["customer_stats"]["newest_event_time"] == newest
    assert got["customer_stats"]["max_age_seconds"] == 7200
    one = _run("monitor", "freshness", "customer_stats", "--repo", repo)
    assert one.exit_code == 0, one.output
    assert "customer_stats" in one.stdout and "merchant_risk" not in one.stdout
    # The age column as the reason writes it (9d4h, 3h12m, 42s), not
    # timedelta's "-3 days, 0:00:11".
    said = re.search(r"newest event (\S+) old", one.stdout)
    assert said and re.search(rf"\s{re.escape(said.group(1))}\s", one.stdout), (
        one.stdout
    )
    assert one.stdout.count(said.group(1)) >= 2, one.stdout
    unknown = _run("monitor", "freshness", "nope", "--repo", repo)
    assert unknown.exit_code == 2
    assert "unknown feature view 'nope'" in unknown.stderr


def _served_and_moved(tmp_path: Path) -> Path:
    """Serve every read into the log, then publish newer offline rows."""
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    served = serve(
        store,
        serving_log=True,
        serving_log_sample_rate=1.0,
        serving_log_flush_seconds=3600.0,
    )
    try:
        stub = pb_grpc.FeatureStoreServiceStub(served.channel)
        ids = [*range(1, 26), 999]  # fresh, past the TTL, missing
        for chunk in (ids[:10], ids[10:]):
            stub.GetOnlineFeatures(
                pb.GetOnlineFeaturesRequest(
                    features=["customer_stats:spend", "customer_stats:tier"],
                    entities={"customer_id": common_pb2.ValueList(values=[
                        common_pb2.Value(int64_value=i) for i in chunk])},
                )
            )  # fmt: skip
        stub.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(
                features=["customer_stats:count"],
                entities={"customer_id": common_pb2.ValueList(values=[
                    common_pb2.Value(int64_value=i) for i in (1, 2, 30)])},
            )
        )  # fmt: skip
    finally:
        served.stop()  # flushes the log
    moved = NOW - timedelta(minutes=30)  # after the served rows' event times
    write_deltalake(
        str(Path(store.repo_path) / "data" / "customer_stats"),
        pa.table(
            {
                "customer_id": pa.array(list(CHANGED), pa.int64()),
                "spend": pa.array([-1.0] * len(CHANGED)),
                "count": pa.array([c + 1 for c in CHANGED], pa.int64()),
                "tier": pa.array([f"t{c % 3}" for c in CHANGED]),
                "event_timestamp": pa.array([moved] * len(CHANGED), TS),
                "created_timestamp": pa.array([moved] * len(CHANGED), TS),
            }
        ),
        mode="append",
    )
    return Path(store.repo_path)


ORACLE = """
WITH ranked AS (
  SELECT l.row_id, {offline} AS offline_value,
         row_number() OVER (PARTITION BY l.row_id
           ORDER BY o.event_timestamp DESC, o.created_timestamp DESC) AS rank
  FROM log l JOIN offline o
    ON o.customer_id = l.customer_id
   AND o.event_timestamp <= l.__log_timestamp
   AND o.event_timestamp > l.__log_timestamp - INTERVAL 1 DAY
)
SELECT count(*) AS rows,
       count(*) FILTER (WHERE
         (CASE WHEN l.customer_stats__{feature}__status = 1
               THEN {served} END)
         IS DISTINCT FROM r.offline_value) AS mismatches
FROM log l LEFT JOIN (SELECT * FROM ranked WHERE rank = 1) r USING (row_id)
WHERE l.customer_stats__{feature}__status IS NOT NULL
"""


def _oracle(repo: Path, feature: str) -> tuple[int, int]:
    """Rows and mismatches by a plain SQL as-of join (1-day TTL of the view).

    A NaN is null on either side: the online store holds none (Feast writes a
    NaN as null), so an offline NaN is served as null.
    """
    log = DeltaTable(str(repo / "data" / "serving_logs" / "customer_stats"))
    log_rows = log.to_pyarrow_table()
    log_rows = log_rows.append_column(
        "row_id", pa.array(range(log_rows.num_rows), pa.int64())
    )
    offline = DeltaTable(str(repo / "data" / "customer_stats")).to_pyarrow_table()
    with duckdb.connect() as con:
        con.register("log", log_rows)
        con.register("offline", offline)
        rows, mismatches = con.execute(
            ORACLE.format(
                feature=feature,
                offline=_nan_as_null(f"o.{feature}", feature),
                served=_nan_as_null(f"l.customer_stats__{feature}", feature),
            )
        ).fetchone()
    return int(rows), int(mismatches)


def _nan_as_null(column: str, feature: str) -> str:
    # DuckDB's NaN equals NaN, so nullif turns any NaN into null.
    return f"nullif({column}, 'NaN'::DOUBLE)" if feature == "spend" else column


def test_skew_report_equals_an_independent_join(tmp_path: Path) -> None:
    repo = _served_and_moved(tmp_path)
    result = _run("monitor", "skew", "customer_stats", "--repo", str(repo), "--json")
    assert result.exit_code == 0, result.output
    report = {s["feature"]: s for s in json.loads(result.stdout)}
    assert set(report) == {"spend", "count", "tier"}
    for feature, got in report.items():
        rows, mismatches = _oracle(repo, feature)
        assert (got["rows"], got["mismatches"]) == (rows, mismatches), feature
        assert got["mismatch_share"] == mismatches / rows
    # The known answer, too: the five moved customers differ in spend only.
    assert (report["spend"]["rows"], report["spend"]["mismatches"]) == (26, 5)
    assert (report["count"]["rows"], report["count"]["mismatches"]) == (3, 0)
    assert report["tier"]["mismatches"] == 0
    table = _run("monitor", "skew", "customer_stats", "--repo", str(repo))
    assert table.exit_code == 0 and "19.23%" in table.stdout  # 5 / 26
    # A window with no logged rows says so (it printed an empty table); one
    # that ends before it starts is a usage error (it printed an empty table).
    later = ("--since", "2099-01-01T00:00:00")
    empty = _run("monitor", "skew", "customer_stats", "--repo", str(repo), *later)
    assert empty.exit_code == 0
    assert empty.stdout == (
        "customer_stats: no served rows logged since 2099-01-01T00:00:00+00:00\n"
    )
    inverted = ("--since", "2026-12-06T19:00:00Z", "--until", "2026-12-06T18:00:00Z")
    wrong = _run("monitor", "skew", "customer_stats", "--repo", str(repo), *inverted)
    assert wrong.exit_code == 2 and "is not before --until" in wrong.stderr
    # The view's table gone: usage (exit 2), as for monitor drift and profiles
    # (it was exit 1, the code of a contract or validation failure).
    table = repo / "data" / "customer_stats"
    table.rename(table.with_name("customer_stats_gone"))
    gone = _run("monitor", "skew", "customer_stats", "--repo", str(repo))
    assert gone.exit_code == 2
    assert gone.stderr.startswith("error: TABLE_NOT_FOUND: ")


def test_skew_without_a_log_is_a_usage_error(tmp_path: Path) -> None:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    result = _run("monitor", "skew", "customer_stats", "--repo", str(store.repo_path))
    assert result.exit_code == 2
    assert "SERVING_LOG_NOT_FOUND" in result.stderr
    assert "--serving-log" in result.stderr


def _customer_row(customer: int, spend: float, at: datetime) -> pa.Table:
    """customer_stats' row of one customer: ``spend`` as given, the rest as before."""
    return pa.table(
        {
            "customer_id": pa.array([customer], pa.int64()),
            "spend": pa.array([spend]),
            "count": pa.array([customer + 1], pa.int64()),
            "tier": pa.array([f"t{customer % 3}"]),
            "event_timestamp": pa.array([at], TS),
            "created_timestamp": pa.array([at], TS),
        }
    )


def test_skew_takes_a_nan_served_as_null_for_a_match(tmp_path: Path) -> None:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    offline = str(Path(store.repo_path) / "data" / "customer_stats")
    # Customers 10 and 11 turn NaN; Feast writes a NaN online as null.
    for customer in (10, 11):
        row = _customer_row(customer, math.nan, NOW - timedelta(minutes=45))
        write_deltalake(offline, row, mode="append")
        store.write_to_online_store("customer_stats", row.to_pandas())
    served = serve(
        store,
        serving_log=True,
        serving_log_sample_rate=1.0,
        serving_log_flush_seconds=3600.0,
    )
    try:
        pb_grpc.FeatureStoreServiceStub(served.channel).GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(
                features=["customer_stats:spend"],
                entities={"customer_id": common_pb2.ValueList(values=[
                    common_pb2.Value(int64_value=i) for i in (10, 11, 12)])},
            )
        )  # fmt: skip
    finally:
        served.stop()  # flushes the log
    log_uri = str(Path(store.repo_path) / "data" / "serving_logs" / "customer_stats")
    logged = DeltaTable(log_uri).to_pyarrow_table().sort_by("customer_id")
    assert logged["customer_stats__spend"].to_pylist() == [None, None, 120.5]
    assert logged["customer_stats__spend__status"].to_pylist() == [1, 1, 1]
    # Afterwards 11 gets a number (served null against it: a mismatch) and 12
    # a NaN (served 120.5 against it: a mismatch).
    moved = NOW - timedelta(minutes=30)
    write_deltalake(offline, _customer_row(11, 7.0, moved), mode="append")
    write_deltalake(offline, _customer_row(12, math.nan, moved), mode="append")
    # A log whose writer kept a NaN: served NaN against offline NaN agrees.
    kept = logged.filter(pc.equal(logged["customer_id"], 10))
    spend = kept.schema.get_field_index("customer_stats__spend")
    kept = kept.set_column(spend, kept.field(spend), pa.array([math.nan]))
    write_deltalake(log_uri, kept, mode="append")
    result = _run("monitor", "skew", "customer_stats", "--repo", str(store.repo_path),
                  "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert (report["rows"], report["mismatches"]) == (4, 2)
    assert _oracle(Path(store.repo_path), "spend") == (4, 2)
