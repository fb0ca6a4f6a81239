"""List features (Array(...)) served as lists by featurestore.v1, never as nulls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from feast import FeatureStore
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.client import FeatureStoreClient
from featurestore.services.monitoring.skew import feature_skew, read_serving_log
from featurestore.services.online.materialize import materialize
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    DEFINITIONS,
    NOW,
    TS,
    Served,
    make_repo,
    serve,
    sqlite_online,
)

pytestmark = pytest.mark.integration

LISTS = """
from feast.types import Array, Bool, Bytes, Float32, Int32, Map, UnixTimestamp
lists_view = FeatureView(
    name="lists", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="ids", dtype=Array(Int64)),
            Field(name="small", dtype=Array(Int32)),
            Field(name="tags", dtype=Array(String)),
            Field(name="embedding", dtype=Array(Float32)),
            Field(name="weights", dtype=Array(Float64)),
            Field(name="flags", dtype=Array(Bool)),
            Field(name="blobs", dtype=Array(Bytes)),
            Field(name="seen", dtype=Array(UnixTimestamp)),
            Field(name="attrs", dtype=Map)],
    source=FileSource(name="lists", path="data/lists", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
"""
LIST_FEATURES = ["ids", "small", "tags", "embedding", "weights", "flags", "blobs",
                 "seen"]  # fmt: skip
EMBEDDING = [i / 7 for i in range(768)]  # not exact in float32: widening shows


def list_rows() -> pa.Table:
    """Customer 1: lists with values; 2: empty lists; 3: null lists."""
    hour_ago = NOW - timedelta(hours=1)
    return pa.table(
        {
            "customer_id": pa.array([1, 2, 3], pa.int64()),
            "ids": pa.array([[1, -(2**62), 2**40], [], None], pa.list_(pa.int64())),
            "small": pa.array([[7, -(2**31)], [], None], pa.list_(pa.int32())),
            "tags": pa.array([["a", "é", ""], [], None], pa.list_(pa.string())),
            "embedding": pa.array([EMBEDDING, [], None], pa.list_(pa.float32())),
            "weights": pa.array([[0.1, -2.5], [], None], pa.list_(pa.float64())),
            "flags": pa.array([[True, False], [], None], pa.list_(pa.bool_())),
            "blobs": pa.array([[b"\x00\xff", b""], [], None], pa.list_(pa.binary())),
            # Feast stores a null inside a timestamp list as a marker.
            "seen": pa.array([[hour_ago, None, NOW], [], None], pa.list_(TS)),
            "attrs": pa.array([None, None, None], pa.string()),
            "event_timestamp": pa.array([NOW] * 3, TS),
        }
    )


def _lists_repo(tmp_path: Path) -> FeatureStore:
    """The serving repo plus "lists" over a Delta table, materialised."""
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_deltalake(str(tmp_path / "repo" / "data" / "lists"), list_rows())
    ns: dict[str, object] = {}
    exec(DEFINITIONS + LISTS, ns)
    store.apply([ns["lists_view"]])
    start, end = NOW - timedelta(days=1), NOW + timedelta(minutes=1)
    materialize(store.repo_path, start, end, views=["lists"])
    return store


@pytest.fixture
def served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    """The lists repo, served directly or through the front."""
    running = serve(_lists_repo(tmp_path), transport, registry_refresh_seconds=0.2)
    yield running
    running.stop()


def _written(customer: int) -> dict[str, Any]:
    """The row written for ``customer``, as Python values (float32 widened)."""
    row = next(r for r in list_rows().to_pylist() if r["customer_id"] == customer)
    return {name: row[name] for name in LIST_FEATURES}


def _values(value: common_pb2.Value) -> Any:
    """A served list as Python values, read from the wire fields directly."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "timestamp_list_value":
        nulls = set(value.timestamp_list_value.null_indexes)
        return [
            None if i in nulls else t.ToDatetime(tzinfo=NOW.tzinfo)
            for i, t in enumerate(value.timestamp_list_value.values)
        ]
    return list(getattr(value, kind).values)


def test_lists_are_served_as_written(served):
    # They were null with status PRESENT: Value had no list kinds.
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    ids = [1, 2, 3, 999]
    response = stub.GetOnlineFeatures(
        pb.GetOnlineFeaturesRequest(
            features=[f"lists:{name}" for name in LIST_FEATURES],
            entities={
                "customer_id": common_pb2.ValueList(
                    values=[common_pb2.Value(int64_value=i) for i in ids]
                )
            },
        ),
        timeout=10,
    )
    columns = {c.name: c for c in response.columns}
    kinds = {
        "ids": "int64_list_value", "small": "int64_list_value",
        "tags": "string_list_value", "embedding": "double_list_value",
        "weights": "double_list_value", "flags": "bool_list_value",
        "blobs": "bytes_list_value", "seen": "timestamp_list_value",
    }  # fmt: skip
    for name in LIST_FEATURES:
        column = columns[name]
        got = [_values(v) for v in column.values]
        assert got == [_written(1)[name], [], None, None], name
        # An empty list is a list (its kind set), a null list has no kind.
        assert [v.WhichOneof("kind") for v in column.values] == [
            kinds[name], kinds[name], None, None
        ], name  # fmt: skip
        assert list(column.statuses) == [pb.FEATURE_STATUS_PRESENT] * 3 + [
            pb.FEATURE_STATUS_NOT_FOUND
        ]
    # The embedding travels packed: 8 bytes a value, not a message each.
    embedding = columns["embedding"].values[0].ByteSize()
    assert embedding < 8 * len(EMBEDDING) + 16


def test_the_python_client_gives_lists(served):
    with FeatureStoreClient(served.address) as client:
        frame = client.get_online_features(
            {"customer_id": [1, 2, 3]}, [f"lists:{name}" for name in LIST_FEATURES]
        )
    for name in LIST_FEATURES:
        assert frame[name].tolist() == [_written(1)[name], [], None], name


def test_a_feature_no_value_kind_carries_is_refused_by_name(served):
    # A Map feature: FAILED_PRECONDITION naming it, never null with PRESENT.
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(
                features=["lists:ids", "lists:attrs"],
                entities={
                    "customer_id": common_pb2.ValueList(
                        values=[common_pb2.Value(int64_value=1)]
                    )
                },
            ),
            timeout=10,
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = _error_info(refused.value)
    assert info.reason == "VALUE_TYPE_UNSUPPORTED"
    assert dict(info.metadata) == {"feature": "lists:attrs", "dtype": "Map"}


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo in the status details")


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Served]:
    """The lists repo served with every read logged, flushed by the test."""
    store = _lists_repo(tmp_path)
    running = serve(
        store,
        data_dir=tmp_path / "data",
        serving_log=True,
        serving_log_sample_rate=1.0,
        serving_log_flush_seconds=3600.0,
    )
    yield running
    running.stop()


def test_list_features_are_logged_and_compared_for_skew(logged):
    # The serving log and the skew report met no list feature before.
    with FeatureStoreClient(logged.address) as client:
        frame = client.get_online_features(
            {"customer_id": [1, 2, 3]}, [f"lists:{name}" for name in LIST_FEATURES]
        )
    logged.server.serving_log.flush()  # type: ignore[union-attr]
    log = read_serving_log(str(logged.settings.data_root), "lists")
    for name in LIST_FEATURES:
        assert log[f"lists__{name}"].to_pylist() == frame[name].tolist(), name

    skew = feature_skew(logged.store, "lists", log)

    assert {s.feature: (s.rows, s.mismatches) for s in skew} == {
        name: (3, 0) for name in LIST_FEATURES
    }
