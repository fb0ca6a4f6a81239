"""A view keyed by a UNIX_TIMESTAMP entity, read online through both APIs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from feast import FeatureStore
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.client import FeatureStoreClient
from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

DAY = datetime(2026, 1, 2, tzinfo=UTC)
DAY_SECONDS = int(DAY.timestamp())
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64
day = Entity(name="day", join_keys=["day_ts"], value_type=ValueType.UNIX_TIMESTAMP)
store = Entity(name="store", join_keys=["store_id"], value_type=ValueType.INT32)
ts_keyed_view = FeatureView(
    name="ts_keyed", entities=[day, store], ttl=timedelta(0),
    schema=[Field(name="val", dtype=Float64)],
    source=FileSource(name="ts_keyed", path="data/ts_keyed", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
"""

YAML = """project: tskeys
registry: {repo}/registry.db
provider: local
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    """The ts_keyed view materialised by Feast (the offline store is ours)."""
    path: Path = tmp_path_factory.mktemp("tskeys")
    (path / "feature_store.yaml").write_text(YAML.format(repo=path))
    ts = pa.timestamp("us", tz="UTC")
    days = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 2, 1)]
    # Store 3's value was recorded at the very epoch (an event time of zero).
    events = [*days[:3], EPOCH]
    write_deltalake(
        str(path / "data" / "ts_keyed"),
        pa.table(
            {
                "day_ts": pa.array(days, ts),
                "store_id": pa.array([1, 1, 2, 3], pa.int32()),
                "val": [40.0, 41.0, 42.0, 43.0],
                "event_timestamp": pa.array(events, ts),
            }
        ),
    )
    ns: dict[str, object] = {}
    exec(DEFINITIONS, ns)
    store = FeatureStore(repo_path=str(path))
    store.apply([ns["day"], ns["store"], ns["ts_keyed_view"]])
    store.materialize(EPOCH, datetime(2026, 1, 3, tzinfo=UTC))
    # Feast's own SDK reads the row the servers must read.
    feast_read = store.get_online_features(
        features=["ts_keyed:val"], entity_rows=[{"day_ts": DAY, "store_id": 1}]
    ).to_dict()
    assert feast_read["val"] == [41.0]
    return store


@pytest.fixture(scope="module")
def address(repo: FeatureStore) -> Iterator[str]:
    """host:port of a server on a free port over the repo."""
    server = create_server(ServerSettings(repo_path=repo.repo_path), "127.0.0.1:0")
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop(0)


@pytest.fixture(scope="module")
def served(address: str) -> Iterator[grpc.Channel]:
    """A channel to the server."""
    channel = grpc.insecure_channel(address)
    try:
        yield channel
    finally:
        channel.close()


def _ours(channel: grpc.Channel, day: common_pb2.Value) -> pb.GetOnlineFeaturesResponse:
    request = pb.GetOnlineFeaturesRequest(features=["ts_keyed:val"])
    request.entities["day_ts"].values.append(day)
    request.entities["store_id"].values.append(common_pb2.Value(int64_value=1))
    stub = pb_grpc.FeatureStoreServiceStub(channel)
    response: pb.GetOnlineFeaturesResponse = stub.GetOnlineFeatures(request)
    return response


def _feast(channel: grpc.Channel, day: ValueProto) -> spb.GetOnlineFeaturesResponse:
    request = spb.GetOnlineFeaturesRequest(
        features=spb.FeatureList(val=["ts_keyed:val"])
    )
    request.entities["day_ts"].CopyFrom(RepeatedValue(val=[day]))
    request.entities["store_id"].CopyFrom(RepeatedValue(val=[ValueProto(int32_val=1)]))
    response: spb.GetOnlineFeaturesResponse = ServingServiceStub(
        channel
    ).GetOnlineFeatures(request)
    return response


def _refusal(call) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    status = rpc_status.from_call(caught.value)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return caught.value.code(), info.reason, dict(info.metadata)
    raise AssertionError("no ErrorInfo")


def test_our_api_reads_a_timestamp_join_key(served):
    # It was INVALID_ARGUMENT "join key 'day_ts' row 0: expected None, got
    # timestamp_value": the key's type had no field.
    day = common_pb2.Value()
    day.timestamp_value.FromDatetime(DAY)
    response = _ours(served, day)
    column = next(c for c in response.columns if c.name == "val")
    assert [v.double_value for v in column.values] == [41.0]
    assert list(column.statuses) == [pb.FEATURE_STATUS_PRESENT]


def test_our_api_names_the_kind_a_timestamp_key_takes(served):
    code, reason, meta = _refusal(
        lambda: _ours(served, common_pb2.Value(int64_value=DAY_SECONDS))
    )
    assert (code, reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "JOIN_KEY_TYPE_MISMATCH",
    )
    assert (meta["expected"], meta["got"]) == ("timestamp_value", "int64_value")
    # Feast keys whole seconds: a fraction would silently read another second.
    part = common_pb2.Value()
    part.timestamp_value.FromDatetime(DAY.replace(microsecond=500000))
    code, reason, meta = _refusal(lambda: _ours(served, part))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert (reason, meta["nanos"]) == ("JOIN_KEY_NOT_WHOLE_SECONDS", "500000000")


def test_a_timestamp_key_past_year_9999_is_invalid_argument(served):
    # Timestamp.ToDatetime raised a plain ValueError: INTERNAL ("Seconds ...
    # must be in range"); the Python client sends such keys for a
    # datetime64 past 9999 since it reads datetime64 itself.
    far = common_pb2.Value()
    far.timestamp_value.seconds = 568_971_820_800  # 20000-01-01
    code, reason, meta = _refusal(lambda: _ours(served, far))
    assert (code, reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "TIMESTAMP_OUT_OF_RANGE",
    )
    assert meta["seconds"] == "568971820800"


def test_feast_api_reads_a_unix_timestamp_join_key(served):
    # It was "expected one of (), got unix_timestamp_val".
    response = _feast(served, ValueProto(unix_timestamp_val=DAY_SECONDS))
    names = list(response.metadata.feature_names.val)
    values = response.results[names.index("val")].values
    assert [v.double_val for v in values] == [41.0]
    code, reason, meta = _refusal(
        lambda: _feast(served, ValueProto(int64_val=DAY_SECONDS))
    )
    assert (code, reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "JOIN_KEY_TYPE_MISMATCH",
    )
    assert (meta["expected"], meta["got"]) == ("unix_timestamp_val", "int64_val")


def test_training_rows_join_on_a_pandas_timestamp_key(repo):
    # pandas holds the key in ns, the Delta table in us: it was refused as
    # "join key 'day_ts' is timestamp[ns, tz=UTC] in the entity table but
    # timestamp[us, tz=UTC] in view 'ts_keyed'".
    day = pd.Timestamp(DAY)
    entity = pd.DataFrame(
        {
            "day_ts": [day, day],
            "store_id": pd.array([1, 2], "int32"),
            "event_timestamp": [day + pd.Timedelta(hours=1)] * 2,
        }
    )
    assert str(entity["day_ts"].dtype) == "datetime64[ns, UTC]"
    rows = repo.get_historical_features(entity, ["ts_keyed:val"]).to_df()
    assert rows["val"].tolist() == [41.0, 42.0]


@pytest.fixture
def kolkata() -> Iterator[None]:
    """The process's local time zone is UTC+05:30 for the test, then restored."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_client_reads_timestamp_keys_as_utc_whatever_the_local_zone(address, kolkata):
    # The client read a datetime64 key's instant as local time (NOT_FOUND in
    # Kolkata, PRESENT in UTC), and refused a datetime64[ns] one as "expected
    # timestamp_value, got int64_value". datetime64 counts from the epoch in UTC.
    assert datetime(2026, 1, 2).astimezone(UTC) != DAY  # the zone is really +05:30
    column = pd.Series([DAY]).dt.tz_convert("Asia/Kolkata")
    keys = {
        "aware": [DAY.astimezone(timezone(timedelta(hours=-3)))],
        "aware pandas": list(column),
        "series values": column.values,  # datetime64[ns], as UTC
        "datetime64[ns]": np.array(["2026-01-02T00:00:00"], "datetime64[ns]"),
        "datetime64[s]": np.array(["2026-01-02T00:00:00"], "datetime64[s]"),
        "datetime64[D]": np.array(["2026-01-02"], "datetime64[D]"),
    }
    with FeatureStoreClient(address) as client:
        for kind, days in keys.items():
            frame = client.get_online_features(
                {"day_ts": days, "store_id": [1]}, ["ts_keyed:val"], with_status=True
            )
            got = (frame["val"].tolist(), frame["val__status"].tolist())
            assert got == ([41.0], ["PRESENT"]), kind


def test_client_refuses_a_naive_datetime_key_saying_to_attach_a_zone(address, kolkata):
    # A naive datetime was read in the client's local time zone: another day
    # in Kolkata than in UTC. As in training sets, it is refused.
    with FeatureStoreClient(address) as client:
        for naive in (datetime(2026, 1, 2), pd.Timestamp("2026-01-02")):
            with pytest.raises(ValueError, match="tzinfo=UTC") as caught:
                client.get_online_features(
                    {"day_ts": [DAY, naive], "store_id": [1, 1]}, ["ts_keyed:val"]
                )
            assert "join key 'day_ts' row 1" in str(caught.value)


def test_client_gives_an_event_time_at_the_epoch(address):
    # An event time of exactly 1970-01-01T00:00:00Z came back as None though
    # the value was PRESENT: the client took a zero Timestamp for "none".
    first = datetime(2026, 1, 1, tzinfo=UTC)
    with FeatureStoreClient(address) as client:
        frame = client.get_online_features(
            {"day_ts": [first, first], "store_id": [3, 4]},
            ["ts_keyed:val"],
            with_status=True,
        )
    assert frame["val__status"].tolist() == ["PRESENT", "NOT_FOUND"]
    assert frame["val"].tolist()[0] == 43.0
    times = frame["val__event_time"].tolist()
    assert times[0] == EPOCH and pd.isna(times[1])
