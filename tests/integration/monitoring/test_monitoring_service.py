"""MonitoringService over gRPC, directly and through fs-front, and the
Prometheus metrics of the same server scraped over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from deltalake import DeltaTable
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.project import table_ref
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as fpb
from featurestore.v1 import feature_store_service_pb2_grpc as fpb_grpc
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc
from tests.integration.monitoring._monitored import (
    make_monitored_repo,
    newest_event,
    scrape,
)
from tests.integration.serving._repo import Served, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def monitored(tmp_path: Path, transport: bool) -> Iterator[Served]:
    store, contracts = make_monitored_repo(tmp_path)
    served = serve(
        store, transport, contracts_dir=contracts, data_dir=tmp_path / "data"
    )
    yield served
    served.stop()


def _commit_time(served: Served, view: str) -> datetime:
    path = Path(served.store.repo_path) / "data" / view
    ms = DeltaTable(str(path)).history(1)[0]["timestamp"]
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def test_freshness_per_view(monitored: Served) -> None:
    stub = pb_grpc.MonitoringServiceStub(monitored.channel)
    before = datetime.now(UTC)
    got = stub.GetFreshness(pb.GetFreshnessRequest(name="customer_stats")).freshness
    after = datetime.now(UTC)
    assert got.feature_view == "customer_stats"
    assert got.verdict == pb.FRESHNESS_VERDICT_OK
    assert got.event_time_column == "event_timestamp"
    assert got.HasField("version") and got.version == 0
    assert got.newest_event_time.ToDatetime(UTC) == newest_event("customer_stats")
    assert got.newest_commit_time.ToDatetime(UTC) == _commit_time(
        monitored, "customer_stats"
    )
    assert got.max_age.ToTimedelta().total_seconds() == 2 * 3600
    assert not got.HasField("frequency")
    checked = got.check_time.ToDatetime(UTC)
    assert before <= checked <= after
    assert got.age.ToTimedelta() == checked - newest_event("customer_stats")
    late = stub.GetFreshness(pb.GetFreshnessRequest(name="merchant_risk")).freshness
    assert late.verdict == pb.FRESHNESS_VERDICT_LATE
    assert "max age" in late.reason


def test_list_freshness_pages_by_name(monitored: Served) -> None:
    stub = pb_grpc.MonitoringServiceStub(monitored.channel)
    first = stub.ListFreshness(pb.ListFreshnessRequest(page_size=1))
    second = stub.ListFreshness(
        pb.ListFreshnessRequest(page_size=1, page_token=first.next_page_token)
    )
    assert [f.feature_view for f in first.freshness] == ["customer_stats"]
    assert [f.feature_view for f in second.freshness] == ["merchant_risk"]
    assert second.next_page_token == ""
    assert [f.verdict for f in (*first.freshness, *second.freshness)] == [
        pb.FRESHNESS_VERDICT_OK,
        pb.FRESHNESS_VERDICT_LATE,
    ]


@pytest.mark.parametrize(
    ("call", "code", "field"),
    [
        ("GetFreshness", grpc.StatusCode.INVALID_ARGUMENT, "name"),
        ("GetFreshness:nope", grpc.StatusCode.NOT_FOUND, None),
        ("ListFreshness", grpc.StatusCode.INVALID_ARGUMENT, "page_token"),
    ],
)
def test_client_mistakes_get_clear_statuses(
    monitored: Served, call: str, code: grpc.StatusCode, field: str | None
) -> None:
    stub = pb_grpc.MonitoringServiceStub(monitored.channel)
    method, _, name = call.partition(":")
    with pytest.raises(grpc.RpcError) as caught:
        if method == "GetFreshness":
            stub.GetFreshness(pb.GetFreshnessRequest(name=name))
        else:
            stub.ListFreshness(pb.ListFreshnessRequest(page_token="garbage"))
    assert caught.value.code() is code
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    if field is not None:
        bad = error_details_pb2.BadRequest()
        assert any(d.Unpack(bad) for d in status.details)
        assert bad.field_violations[0].field == field
    else:
        assert info.reason == "FEATURE_VIEW_NOT_FOUND"
        assert "nope" in caught.value.details()


def _served(view: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("feature_values_served_total", (("status", status), ("view", view)))


def test_metrics_over_http(monitored: Served, metrics_port: int) -> None:
    before = scrape(metrics_port)
    stub = fpb_grpc.FeatureStoreServiceStub(monitored.channel)
    ids = [3, 999, 21, 22]  # fresh, missing, two past the 1-day TTL
    stub.GetOnlineFeatures(
        fpb.GetOnlineFeaturesRequest(
            features=["customer_stats:spend", "customer_stats:count"],
            entities={
                "customer_id": common_pb2.ValueList(
                    values=[common_pb2.Value(int64_value=i) for i in ids]
                )
            },
        )
    )
    started = datetime.now(UTC)
    after = scrape(metrics_port)
    finished = datetime.now(UTC)  # the gauge's age is measured in between
    for status, values in (("PRESENT", 2), ("NOT_FOUND", 2), ("OUTSIDE_MAX_AGE", 4)):
        key = _served("customer_stats", status)
        assert after[key] - before.get(key, 0.0) == values, status
    age = after[("feature_freshness_seconds", (("view", "customer_stats"),))]
    newest = newest_event("customer_stats")
    assert (started - newest).total_seconds() <= age
    assert age <= (finished - newest).total_seconds()
    assert after[("feature_sla_ok", (("view", "customer_stats"),))] == 1.0
    assert after[("feature_sla_ok", (("view", "merchant_risk"),))] == 0.0
    for view, verdict in (("customer_stats", "ok"), ("merchant_risk", "late")):
        states = {
            state: after[
                ("feature_freshness_verdict", (("verdict", state), ("view", view)))
            ]
            for state in ("ok", "late", "unknown")
        }
        assert states == {s: float(s == verdict) for s in states}, view


def test_the_servers_data_dir_locates_the_tables(
    tmp_path: Path, transport: bool
) -> None:
    # Views naming their tables by reference (featurestore://<name>), the data
    # elsewhere and the server told where (data_dir): freshness and profiles
    # follow the server's setting, not the project's own data_dir.
    store, contracts = make_monitored_repo(tmp_path)
    moved = tmp_path / "moved"
    (moved / "features").mkdir(parents=True)
    views = []
    for name in ("customer_stats", "merchant_risk"):
        (tmp_path / "repo" / "data" / name).rename(moved / "features" / name)
        view = store.get_feature_view(name)
        view.batch_source.file_options.uri = table_ref(name)
        views.append(view)
    store.apply(views)
    served = serve(store, transport, contracts_dir=contracts, data_dir=moved)
    try:
        stub = pb_grpc.MonitoringServiceStub(served.channel)
        got = stub.GetFreshness(pb.GetFreshnessRequest(name="customer_stats"))
        assert got.freshness.verdict == pb.FRESHNESS_VERDICT_OK, got.freshness.reason
        assert got.freshness.HasField("version") and got.freshness.version == 0
    finally:
        served.stop()
