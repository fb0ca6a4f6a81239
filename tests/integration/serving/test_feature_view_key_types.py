"""The catalogue says which Value kind each join key takes, and sends no paths."""

from __future__ import annotations

import pytest

from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from featurestore.v1 import feature_view_pb2

pytestmark = pytest.mark.integration


def _key_types(view: feature_view_pb2.FeatureView) -> list[tuple[str, str, str]]:
    return [(k.name, k.dtype, k.value_field) for k in view.join_key_types]


def test_join_key_types_from_get_and_list(sqlite_served):
    # FeatureView named its join keys only: a client could not tell whether
    # to send int64_value or string_value.
    stub = pb_grpc.FeatureStoreServiceStub(sqlite_served.channel)
    customers = stub.GetFeatureView(
        pb.GetFeatureViewRequest(name="customer_stats"), timeout=10
    ).feature_view
    assert _key_types(customers) == [("customer_id", "Int64", "int64_value")]
    assert list(customers.join_keys) == ["customer_id"]  # unchanged
    listed = stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=10)
    by_name = {v.name: v for v in listed.feature_views}
    assert by_name["customer_stats"] == customers
    assert _key_types(by_name["merchant_risk"]) == [
        ("merchant_id", "String", "string_value")
    ]


def test_a_source_folder_is_not_sent(sqlite_served):
    # The repo's sources are folders (data/customer_stats), not featurestore://
    # table references: the server tells clients no locations.
    stub = pb_grpc.FeatureStoreServiceStub(sqlite_served.channel)
    listed = stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=10)
    assert [v.source_path for v in listed.feature_views] == ["", ""]
