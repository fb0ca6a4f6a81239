"""A null UnixTimestamp feature is a null value, not an error for the batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    DEFINITIONS,
    NOW,
    Served,
    make_repo,
    serve,
    sqlite_online,
)

pytestmark = pytest.mark.integration

SEEN = """
from feast.types import UnixTimestamp
seen_view = FeatureView(
    name="seen", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="seen_at", dtype=UnixTimestamp)],
    source=FileSource(name="seen", path="data/seen", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
"""


@pytest.fixture
def served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    """The serving repo plus "seen": customer 1 seen at NOW, customer 2 null."""
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    ns: dict[str, object] = {}
    exec(DEFINITIONS + SEEN, ns)
    store.apply([ns["seen_view"]])
    # Feast's own write path stores the null as NULL_TIMESTAMP_INT_VALUE.
    rows = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "seen_at": pd.to_datetime([NOW, None], utc=True),
            "event_timestamp": pd.to_datetime([NOW, NOW], utc=True),
        }
    )
    store.write_to_online_store("seen", rows)
    running = serve(store, transport, registry_refresh_seconds=0.2)
    yield running
    running.stop()


def test_a_null_timestamp_is_a_null_value_and_the_others_are_served(served):
    # It was INTERNAL for the whole batch: "Timestamp is not valid: Seconds
    # -9223372036854775808".
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    for ids in ([2], [1, 2], [2, 1, 999]):
        keys = [common_pb2.Value(int64_value=i) for i in ids]
        response = stub.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(
                features=["seen:seen_at"],
                entities={"customer_id": common_pb2.ValueList(values=keys)},
            ),
            timeout=10,
        )
        column = response.columns[1]
        got = {
            i: value.timestamp_value.ToDatetime(tzinfo=NOW.tzinfo)
            if value.HasField("timestamp_value")
            else None
            for i, value in zip(ids, column.values, strict=True)
        }
        assert got == {i: {1: NOW}.get(i) for i in ids}
