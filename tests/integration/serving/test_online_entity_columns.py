"""The entity columns of GetOnlineFeatures carry everything a feature column does."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration


def test_entity_columns_have_an_event_time_per_row(sqlite_served):
    # They had none, though FeatureColumn.event_times is one per entity row: a
    # Go client indexing EventTimes[i] panicked. Feast's API sends the epoch.
    customers = [3, 999, 3]
    request = pb.GetOnlineFeaturesRequest(
        features=["customer_stats:spend"],
        entities={
            "customer_id": common_pb2.ValueList(
                values=[common_pb2.Value(int64_value=c) for c in customers]
            ),
            # An entity column no requested view reads is echoed too.
            "label": common_pb2.ValueList(
                values=[common_pb2.Value(string_value=s) for s in "abc"]
            ),
        },
    )
    stub = pb_grpc.FeatureStoreServiceStub(sqlite_served.channel)
    response = stub.GetOnlineFeatures(request, timeout=10)

    assert [c.name for c in response.columns] == ["customer_id", "label", "spend"]
    for column in response.columns:
        assert len(column.values) == len(column.statuses) == len(customers)
        assert len(column.event_times) == len(customers), column.name
    for entity in response.columns[:2]:
        assert list(entity.statuses) == [pb.FEATURE_STATUS_PRESENT] * 3
        assert list(entity.event_times) == [Timestamp()] * 3
    assert [v.int64_value for v in response.columns[0].values] == customers
    assert [v.string_value for v in response.columns[1].values] == list("abc")
