"""Operations: bad input codes, registry refresh, Prometheus samples."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import (
    NOW,
    customer_rows,
    online_request,
    wait_for,
)

pytestmark = pytest.mark.integration


def _ids(*values: common_pb2.Value) -> common_pb2.ValueList:
    return common_pb2.ValueList(values=list(values))


def _int(v: int) -> common_pb2.Value:
    return common_pb2.Value(int64_value=v)


BAD = [
    ("unknown feature", {"features": ["customer_stats:nope"]},
     grpc.StatusCode.NOT_FOUND, "FEATURE_NOT_FOUND"),
    ("unknown view", {"features": ["nope:spend"]},
     grpc.StatusCode.NOT_FOUND, "FEATURE_VIEW_NOT_FOUND"),
    ("unknown service", {"feature_service": "nope"},
     grpc.StatusCode.NOT_FOUND, "FEATURE_SERVICE_NOT_FOUND"),
    ("missing join key", {"entities": {"merchant_id": _ids(_int(1))}},
     grpc.StatusCode.INVALID_ARGUMENT, "JOIN_KEY_MISSING"),
    ("wrong key type",
     {"entities": {"customer_id": _ids(common_pb2.Value(string_value="3"))}},
     grpc.StatusCode.INVALID_ARGUMENT, "JOIN_KEY_TYPE_MISMATCH"),
    ("no entity rows", {"entities": {"customer_id": _ids()}},
     grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD"),
    ("too many rows",
     {"entities": {"customer_id": _ids(*[_int(i) for i in range(51)])}},
     grpc.StatusCode.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "code", "reason"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_input_code_and_reason_then_still_serving(
    sqlite_served, overrides, code, reason
):
    stub = FeatureStoreServiceStub(sqlite_served.channel)
    request = online_request()
    if "features" in overrides or "feature_service" in overrides:
        del request.features[:]
    for field, value in overrides.items():
        if field == "entities":
            request.entities.clear()
            for name, values in value.items():
                request.entities[name].CopyFrom(values)
        elif field == "features":
            request.features.extend(value)
        else:
            setattr(request, field, value)

    with pytest.raises(grpc.RpcError) as caught:
        stub.GetOnlineFeatures(request, timeout=5)

    assert caught.value.code() == code
    assert _error_info(caught.value).reason == reason
    ok = stub.GetOnlineFeatures(online_request(), timeout=5)
    assert ok.columns[1].values[0].double_value == 30.5


def test_registry_refresh_shows_a_newly_applied_view(sqlite_served):
    stub = FeatureStoreServiceStub(sqlite_served.channel)
    customer = Entity(
        name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
    )
    late_view = FeatureView(
        name="late_view",
        entities=[customer],
        ttl=timedelta(days=1),
        schema=[Field(name="x", dtype=Float64)],
        source=FileSource(
            name="late",
            path="data/late",
            file_format=DeltaFormat(),
            timestamp_field="event_timestamp",
        ),
    )

    sqlite_served.store.apply([customer, late_view])

    def listed() -> bool:
        views = stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=5)
        return "late_view" in {v.name for v in views.feature_views}

    wait_for(listed, timeout_s=20 * sqlite_served.settings.registry_refresh_seconds + 5)


def test_a_view_naming_a_column_its_table_lacks_is_a_failed_precondition(
    sqlite_served,
):
    # A typo in the view (created_at; the table has created_timestamp) is the
    # server's data, not the request: FAILED_PRECONDITION naming the table and
    # column (it was INTERNAL, from delta's bare KeyError).
    stub = FeatureStoreServiceStub(sqlite_served.channel)
    customer = Entity(
        name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
    )
    typo_view = FeatureView(
        name="typo_view",
        entities=[customer],
        ttl=timedelta(days=1),
        schema=[Field(name="spend", dtype=Float64)],
        source=FileSource(
            name="typo",
            path="data/customer_stats",
            file_format=DeltaFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_at",
        ),
    )
    sqlite_served.store.apply([customer, typo_view])
    entity = pa.table(
        {"customer_id": pa.array([3], pa.int64()),
         "event_timestamp": pa.array([NOW], pa.timestamp("us", tz="UTC"))}
    )  # fmt: skip
    request = pb.GetHistoricalFeaturesRequest(
        features=["typo_view:spend"], entity_rows_arrow=write_ipc(entity)
    )
    caught: list[grpc.RpcError] = []

    def refused_for_the_table() -> bool:  # once the registry refresh has it
        try:
            list(stub.GetHistoricalFeatures(request, timeout=10))
        except grpc.RpcError as err:
            caught[:] = [err]
            return err.code() != grpc.StatusCode.NOT_FOUND
        return True

    wait_for(refused_for_the_table, timeout_s=20)
    err = caught[0]
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
    info = _error_info(err)
    assert info.reason == "FEATURE_COLUMN_MISSING"
    assert (info.metadata["column"], info.metadata["role"]) == (
        "created_at",
        "created_timestamp_column",
    )
    assert "'typo_view'" in err.details() and "'created_at'" in err.details()


def _with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _broken_tables() -> dict[str, tuple[pa.Table, str, str, str]]:
    """View name -> (its table, the broken column, the type found, expected)."""
    rows = customer_rows()
    times = rows.column("event_timestamp").to_pylist()
    ids = rows.column("customer_id").to_pylist()
    return {
        "ts_string": (
            _with_column(rows, "event_timestamp", pa.array([str(t) for t in times])),
            "event_timestamp", "string", "timestamp",
        ),
        "ts_integer": (
            _with_column(rows, "event_timestamp", pa.array(range(len(times)))),
            "event_timestamp", "int64", "timestamp",
        ),
        "key_string": (
            _with_column(rows, "customer_id", pa.array([str(i) for i in ids])),
            "customer_id", "string", "INT64",
        ),
        # The source's field_mapping renames src_ts to event_timestamp: the
        # check names the table's column.
        "ts_mapped_string": (
            _with_column(
                rows, "event_timestamp", pa.array([str(t) for t in times])
            ).rename_columns(
                ["src_ts" if c == "event_timestamp" else c for c in rows.column_names]
            ),
            "src_ts", "string", "timestamp",
        ),
    }  # fmt: skip


def test_a_table_column_of_the_wrong_type_is_a_failed_precondition(sqlite_served):
    # The server's own table (a timestamp_field that is no timestamp, a join
    # key not of its entity's INT64) is not the client's mistake: it was
    # INVALID_ARGUMENT (INVALID_TIMESTAMP, INVALID_REQUEST) naming neither
    # the table nor the view. The same key sent wrong by the client stays
    # INVALID_ARGUMENT, and the server keeps serving.
    stub = FeatureStoreServiceStub(sqlite_served.channel)
    repo = Path(sqlite_served.store.repo_path)
    customer = Entity(
        name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
    )
    broken = _broken_tables()
    views = []
    for name, (table, *_) in broken.items():
        write_deltalake(str(repo / "data" / name), table)
        source = FileSource(
            name=name,
            path=f"data/{name}",
            file_format=DeltaFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
            field_mapping={"src_ts": "event_timestamp"} if "mapped" in name else None,
        )
        views.append(
            FeatureView(
                name=name,
                entities=[customer],
                ttl=timedelta(days=1),
                schema=[Field(name="spend", dtype=Float64)],
                source=source,
            )
        )
    sqlite_served.store.apply([customer, *views])
    entity = pa.table(
        {"customer_id": pa.array([3], pa.int64()),
         "event_timestamp": pa.array([NOW], pa.timestamp("us", tz="UTC"))}
    )  # fmt: skip
    for name, (_, column, found, expected) in broken.items():
        err = _refused(stub, _historical([f"{name}:spend"], entity))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
        info = _error_info(err)
        assert info.reason == "FEATURE_COLUMN_TYPE_MISMATCH"
        said = {k: info.metadata[k] for k in ("view", "column", "type", "expected")}
        assert said == {
            "view": name, "column": column, "type": found, "expected": expected
        }  # fmt: skip
        # The view, never the table's location on the server.
        assert "path" not in info.metadata
        assert str(repo) not in err.details()
        for part in (f"'{name}'", f"'{column}'", f" is {found}"):
            assert part in err.details(), (part, err.details())

    wrong_key = entity.set_column(0, "customer_id", pa.array(["3"]))
    err = _refused(stub, _historical(["customer_stats:spend"], wrong_key))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert _error_info(err).reason == "INVALID_REQUEST"
    good = _historical(["customer_stats:spend"], entity)
    assert list(stub.GetHistoricalFeatures(good, timeout=10))


def _historical(
    features: list[str], entity: pa.Table
) -> pb.GetHistoricalFeaturesRequest:
    return pb.GetHistoricalFeaturesRequest(
        features=features, entity_rows_arrow=write_ipc(entity)
    )


def _refused(
    stub: FeatureStoreServiceStub, request: pb.GetHistoricalFeaturesRequest
) -> grpc.RpcError:
    """The error of ``request``, once the registry refresh knows its view."""
    caught: list[grpc.RpcError] = []

    def answered() -> bool:
        try:
            list(stub.GetHistoricalFeatures(request, timeout=10))
        except grpc.RpcError as err:
            caught[:] = [err]
            return err.code() != grpc.StatusCode.NOT_FOUND
        return True

    wait_for(answered, timeout_s=20)
    assert caught, "the request was served"
    return caught[0]


def test_prometheus_has_latency_by_method_and_errors_by_code(sqlite_served):
    stub = FeatureStoreServiceStub(sqlite_served.channel)
    labels = {"method": "GetOnlineFeatures"}
    error_labels = {**labels, "code": "NOT_FOUND"}
    calls_before = _sample("featurestore_rpc_latency_seconds_count", labels)
    errors_before = _sample("featurestore_rpc_errors_total", error_labels)
    reads_before = _sample(
        "featurestore_online_store_read_seconds_count", {"store": "sqlite"}
    )

    for _ in range(3):
        stub.GetOnlineFeatures(online_request(), timeout=5)
    bad = online_request()
    bad.features[:] = ["nope:spend"]
    with pytest.raises(grpc.RpcError):
        stub.GetOnlineFeatures(bad, timeout=5)

    assert _sample("featurestore_rpc_latency_seconds_count", labels) == calls_before + 4
    assert _sample("featurestore_rpc_errors_total", error_labels) == errors_before + 1
    assert (
        _sample("featurestore_online_store_read_seconds_count", {"store": "sqlite"})
        == reads_before + 3
    )


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo in the status details")


def test_a_message_over_the_size_limit_then_still_serving(tmp_path, transport):
    """A request larger than max_request_bytes: RESOURCE_EXHAUSTED naming both
    sizes (grpc-python's or fs-front's own check), and the next call is served."""
    from tests.integration.serving._repo import make_repo, serve, sqlite_online

    store = make_repo(tmp_path, sqlite_online(tmp_path))
    served = serve(store, transport, max_request_bytes=4096)
    try:
        stub = FeatureStoreServiceStub(served.channel)
        big = online_request()
        big.features.extend(["customer_stats:spend"] * 400)  # ~8 KB
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetOnlineFeatures(big, timeout=5)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "4096" in (caught.value.details() or "")
        reply = stub.GetOnlineFeatures(online_request(), timeout=5)
        assert [c.name for c in reply.columns] == ["customer_id", "spend", "tier"]
    finally:
        served.stop()
