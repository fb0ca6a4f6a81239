"""Serving logs: sampled online reads land in Delta exactly as the client got them,
directly and through fs-front; a full queue drops and counts, never waits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from functools import partial
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from feast import FeatureStore
from feast.protos.feast.serving import ServingService_pb2, ServingService_pb2_grpc
from feast.protos.feast.types.Value_pb2 import Value as FeastValue

from featurestore.services.monitoring.serving_log import ServingLog, serving_log_uri
from featurestore.services.online import FeatureStatus
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    DEFINITIONS,
    Served,
    customer_rows,
    make_repo,
    serve,
    sqlite_online,
    wait_for,
    write_online,
)

pytestmark = pytest.mark.integration

HOUR = 3600.0


@pytest.fixture
def logged(tmp_path: Path, transport: bool) -> Iterator[Served]:
    """Every read sampled; nothing written until the test flushes."""
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    served = serve(
        store,
        transport,
        data_dir=tmp_path / "data",
        serving_log=True,
        serving_log_sample_rate=1.0,
        serving_log_queue=8,
        serving_log_flush_seconds=HOUR,
        # No auth and no audit log (the default): the caller's x-request-id
        # still stamps the rows (it was made up when nothing guarded the call).
    )
    yield served
    served.stop()


def _log(served: Served, view: str) -> pa.Table:
    served.server.serving_log.flush()  # type: ignore[union-attr]
    uri = serving_log_uri(str(served.settings.data_root), view)
    return (
        DeltaTable(uri)
        .to_pyarrow_table()
        .sort_by([("__request_id", "ascending"), ("__log_timestamp", "ascending")])
    )


def _value(value: common_pb2.Value) -> object:
    kind = value.WhichOneof("kind")
    return None if kind is None else getattr(value, kind)


def _feast(status: int) -> int:
    """Our proto's status as Feast's FieldStatus number (the log's)."""
    return int(FeatureStatus[pb.FeatureStatus.Name(status)[len("FEATURE_STATUS_") :]])


def test_logged_rows_equal_what_the_client_received(logged: Served) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(logged.channel)
    ids = [3, 999, 21, 7]  # fresh, missing, past the TTL, a null tier
    request = pb.GetOnlineFeaturesRequest(
        features=["customer_stats:spend", "customer_stats:tier"],
        entities={
            "customer_id": common_pb2.ValueList(
                values=[common_pb2.Value(int64_value=i) for i in ids]
            )
        },
    )
    response = stub.GetOnlineFeatures(request, metadata=(("x-request-id", "r-1"),))
    rows = _log(logged, "customer_stats").to_pylist()
    assert [r["__request_id"] for r in rows] == ["r-1"] * len(ids)
    assert [r["customer_id"] for r in rows] == ids
    columns = {c.name: c for c in response.columns}
    for feature in ("spend", "tier"):
        got = columns[feature]
        name = f"customer_stats__{feature}"
        assert [r[name] for r in rows] == [_value(v) for v in got.values]
        assert [r[f"{name}__status"] for r in rows] == [_feast(s) for s in got.statuses]
        times = [
            r[f"{name}__timestamp"] for r in rows if r[f"{name}__timestamp"] is not None
        ]
        assert times == [t.ToDatetime(UTC) for t in got.event_times if t.seconds]
    # The feature the read did not ask for is null, status included.
    assert {r["customer_stats__count__status"] for r in rows} == {None}
    assert {r["__log_date"] for r in rows} == {rows[0]["__log_timestamp"].date()}


def test_feast_reads_are_logged_too(logged: Served) -> None:
    stub = ServingService_pb2_grpc.ServingServiceStub(logged.channel)
    request = ServingService_pb2.GetOnlineFeaturesRequest(
        features=ServingService_pb2.FeatureList(val=["merchant_risk:fraud_rate"]),
    )
    for merchant in ("M1", "M9", "nope"):
        request.entities["merchant_id"].val.append(FeastValue(string_val=merchant))
    response = stub.GetOnlineFeatures(request, metadata=(("x-request-id", "f-1"),))
    rows = _log(logged, "merchant_risk").to_pylist()
    got = response.results[1]
    assert [r["merchant_id"] for r in rows] == ["M1", "M9", "nope"]
    assert [r["merchant_risk__fraud_rate"] for r in rows] == [
        v.double_val if v.HasField("double_val") else None for v in got.values
    ]
    assert [r["merchant_risk__fraud_rate__status"] for r in rows] == list(got.statuses)


def test_a_full_queue_drops_and_counts_without_waiting(logged: Served) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(logged.channel)
    request = pb.GetOnlineFeaturesRequest(
        features=["customer_stats:spend"],
        entities={
            "customer_id": common_pb2.ValueList(
                values=[common_pb2.Value(int64_value=3)]
            )
        },
    )
    log = logged.server.serving_log
    assert log is not None
    for i in range(12):  # the queue holds 8 reads between flushes
        stub.GetOnlineFeatures(request, metadata=(("x-request-id", f"q-{i:02}"),))
    assert log.dropped == 4
    rows = _log(logged, "customer_stats").to_pylist()
    assert [r["__request_id"] for r in rows] == [f"q-{i:02}" for i in range(8)]
    stub.GetOnlineFeatures(request, metadata=(("x-request-id", "after"),))
    assert log.dropped == 4  # the flush made room again


def test_serving_log_is_off_by_default(tmp_path: Path) -> None:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    served = serve(store, data_dir=tmp_path / "data")
    try:
        stub = pb_grpc.FeatureStoreServiceStub(served.channel)
        stub.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(
                features=["customer_stats:spend"],
                entities={
                    "customer_id": common_pb2.ValueList(
                        values=[common_pb2.Value(int64_value=3)]
                    )
                },
            )
        )
        assert served.server.serving_log is None
        assert served.settings.serving_log_sample_rate == 0.01
    finally:
        served.stop()
    assert not (tmp_path / "data" / "serving_logs").exists()


def test_view_names_that_are_no_folder_are_refused() -> None:
    for bad in ("../x", "a/b", "", ".", "..", "x" * 200):
        with pytest.raises(ValueError):
            serving_log_uri("/data", bad)
    assert serving_log_uri("s3://b/p", "v") == "s3://b/p/serving_logs/v"


def test_rpc_errors_are_not_logged(logged: Served) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(logged.channel)
    with pytest.raises(grpc.RpcError):
        stub.GetOnlineFeatures(pb.GetOnlineFeaturesRequest(features=["nope:x"]))
    assert logged.server.serving_log.flush() == 0  # type: ignore[union-attr]


def _read(served: Served, features: list[str], request_id: str) -> bool:
    """Read customers 1 and 2; False when the server does not know a feature."""
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    try:
        stub.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(
                features=features,
                entities={"customer_id": common_pb2.ValueList(values=[
                    common_pb2.Value(int64_value=i) for i in (1, 2)])},
            ),
            metadata=(("x-request-id", request_id),),
        )  # fmt: skip
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return False
    return True


def _add_visits(store: FeatureStore) -> None:
    """`feast apply` of customer_stats with one more feature, and its values online."""
    definitions = DEFINITIONS.replace(
        'Field(name="tier", dtype=String)]',
        'Field(name="tier", dtype=String), Field(name="visits", dtype=Int64)]',
    )
    ns: dict[str, object] = {}
    exec(compile(definitions, "definitions.py", "exec"), ns)
    store.apply([ns["customer_stats_view"]])  # type: ignore[list-item]
    rows = customer_rows().to_pandas().sort_values("event_timestamp")
    rows = rows.drop_duplicates("customer_id", keep="last")
    rows["visits"] = rows["customer_id"] * 100
    store.write_to_online_store("customer_stats", rows)


def test_workers_keep_logging_after_another_one_merged_a_new_schema(
    tmp_path: Path,
) -> None:
    # Two servers on one repo and data dir, as `serve --workers 2`: each
    # appends to the same log table through its own open DeltaTable.
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    first, second = (
        serve(
            store,
            data_dir=tmp_path / "data",
            serving_log=True,
            serving_log_sample_rate=1.0,
            serving_log_flush_seconds=HOUR,
            registry_refresh_seconds=0.1,
        )
        for _ in range(2)
    )
    logs = [_serving_log(first), _serving_log(second)]
    try:
        for served, log, name in ((first, logs[0], "0-1"), (second, logs[1], "1-1")):
            assert _read(served, ["customer_stats:spend"], name)
            assert log.flush() == 2
        _add_visits(store)
        both = ["customer_stats:spend", "customer_stats:visits"]
        for served, name in ((first, "0-2"), (second, "1-2")):
            wait_for(partial(_read, served, both, name))
        # The first flush adds the visits columns to the table (a new schema)
        # after the second worker last read it.
        assert [log.flush() for log in logs] == [2, 2]
        assert _read(second, ["customer_stats:spend"], "1-3")
        assert logs[1].flush() == 2
    finally:
        first.stop()
        second.stop()
    rows = _log(first, "customer_stats").to_pylist()
    assert [r["__request_id"] for r in rows] == [
        i for i in ("0-1", "0-2", "1-1", "1-2", "1-3") for _ in range(2)
    ]
    assert [r["customer_stats__visits"] for r in rows] == [
        None, None, 100, 200, None, None, 100, 200, None, None
    ]  # fmt: skip


def _serving_log(served: Served) -> ServingLog:
    assert served.server.serving_log is not None
    return served.server.serving_log
