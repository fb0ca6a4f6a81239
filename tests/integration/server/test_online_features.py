"""GetOnlineFeatures over a real server: statuses, values and every bad input."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pandas as pd
import pytest
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.services.client import FeatureStoreClient
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.server._served import NOW, ServedRepo

pytestmark = pytest.mark.integration


def test_statuses_and_values(served_repo: ServedRepo) -> None:
    with FeatureStoreClient(served_repo.address) as client:
        frame = client.get_online_features(
            {"customer_id": [1, 2, 3, 99]},
            ["customer_spend:spend_1h", "customer_spend:count_7d"],
            with_status=True,
        )
    assert frame["customer_id"].tolist() == [1, 2, 3, 99]
    assert frame["spend_1h__status"].tolist() == [
        "PRESENT",
        "OUTSIDE_MAX_AGE",
        "PRESENT",
        "NOT_FOUND",
    ]
    # Customer 3 has two rows; the latest (3 h old) wins. Expired values are still sent.
    assert frame["spend_1h"].tolist()[:3] == [10.0, 20.0, 31.0]
    assert frame["spend_1h"].isna().tolist()[3]
    # An integer feature with a missing value stays integer (nullable Int64):
    # as float64 an integer past 2**53 would come back changed.
    assert frame["count_7d"].dtype == pd.Int64Dtype()
    assert frame["count_7d"].tolist()[:3] == [3, 3, 4]
    assert frame["count_7d"].isna().tolist() == [False, False, False, True]
    # Event times are UTC instants, as timestamp values are.
    times = frame["spend_1h__event_time"].tolist()
    assert times[:3] == [NOW - timedelta(hours=1), NOW - timedelta(days=9),
                         NOW - timedelta(hours=3)]  # fmt: skip
    assert all(t.tzinfo is not None for t in times[:3]) and pd.isna(times[3])


def test_expired_values_can_come_back_as_missing(served_repo: ServedRepo) -> None:
    # Customer 2's row is 9 days old, past the view's 7-day TTL.
    request = ({"customer_id": [1, 2, 99]}, ["customer_spend:spend_1h"])
    with FeatureStoreClient(served_repo.address) as client:
        kept = client.get_online_features(*request)
        missing = client.get_online_features(*request, expired_as_missing=True)
        both = client.get_online_features(
            *request, expired_as_missing=True, with_status=True
        )
    assert kept["spend_1h"].tolist()[:2] == [10.0, 20.0]
    assert missing["spend_1h"].tolist()[0] == 10.0
    assert missing["spend_1h"].isna().tolist() == [False, True, True]
    assert missing["customer_id"].tolist() == [1, 2, 99]  # keys are never dropped
    assert both["spend_1h__status"].tolist() == ["PRESENT", "OUTSIDE_MAX_AGE",
                                                  "NOT_FOUND"]  # fmt: skip
    assert both["spend_1h__event_time"].tolist()[1] == NOW - timedelta(days=9)
    assert both["spend_1h"].isna().tolist() == [False, True, True]


def test_feature_service_spans_both_views(served_repo: ServedRepo) -> None:
    with FeatureStoreClient(served_repo.address) as client:
        frame = client.get_online_features(
            {"customer_id": [1], "merchant_id": ["M0001"]},
            feature_service="fraud_model_v1",
            full_feature_names=True,
        )
    assert frame.loc[0, "merchant_risk__txn_count_30d"] == 40
    assert frame.loc[0, "customer_spend__spend_24h"] == 11.0


def _call(served: ServedRepo, request: pb.GetOnlineFeaturesRequest) -> grpc.RpcError:
    stub = pb_grpc.FeatureStoreServiceStub(served.channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetOnlineFeatures(request, timeout=5)
    return info.value


def _reason(error: grpc.RpcError) -> str:
    return _error_info(error).reason


def _request(
    features: list[str], **entities: list[object]
) -> pb.GetOnlineFeaturesRequest:
    request = pb.GetOnlineFeaturesRequest(features=features)
    for name, values in entities.items():
        column = request.entities[name]
        for value in values:
            if isinstance(value, int):
                column.values.add(int64_value=value)
            else:
                column.values.add(string_value=str(value))
    return request


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (
            _request(["customer_spend:nope"], customer_id=[1]),
            grpc.StatusCode.NOT_FOUND,
            "FEATURE_NOT_FOUND",
        ),
        (
            _request(["nope:spend_1h"], customer_id=[1]),
            grpc.StatusCode.NOT_FOUND,
            "FEATURE_VIEW_NOT_FOUND",
        ),
        (
            pb.GetOnlineFeaturesRequest(
                feature_service="nope", entities={"customer_id": common_pb2.ValueList()}
            ),
            grpc.StatusCode.NOT_FOUND,
            "FEATURE_SERVICE_NOT_FOUND",
        ),
        (
            _request(["spend_1h"], customer_id=[1]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_FIELD",
        ),
        (  # it was NOT_FOUND "unknown feature 'spend_1h:x'"
            _request(["customer_spend:spend_1h:x"], customer_id=[1]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_FIELD",
        ),
        (
            _request(["customer_spend:spend_1h"], merchant_id=["M0001"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "JOIN_KEY_MISSING",
        ),
        (
            _request(["customer_spend:spend_1h"], customer_id=["one"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "JOIN_KEY_TYPE_MISMATCH",
        ),
        (
            _request(["customer_spend:spend_1h"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_FIELD",
        ),
        (
            _request(["customer_spend:spend_1h"], customer_id=list(range(51))),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "REQUEST_TOO_LARGE",
        ),
        (  # two response columns named spend_1h: refused, as a training set is
            _request(["customer_spend:spend_1h"], customer_id=[1], spend_1h=[5]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "DUPLICATE_COLUMN",
        ),
    ],
    ids=[
        "unknown-feature",
        "unknown-view",
        "unknown-service",
        "malformed-ref",
        "two-colons-ref",
        "missing-join-key",
        "wrong-key-type",
        "no-entity-rows",
        "too-many-rows",
        "duplicate-column",
    ],
)
def test_bad_input_gets_code_and_reason_and_server_keeps_serving(
    served_repo: ServedRepo,
    request_: pb.GetOnlineFeaturesRequest,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    error = _call(served_repo, request_)
    assert error.code() == code
    assert _reason(error) == reason
    with FeatureStoreClient(served_repo.address) as client:
        frame = client.get_online_features(
            {"customer_id": [1]}, ["customer_spend:spend_1h"]
        )
    assert frame["spend_1h"].tolist() == [10.0]


def test_entity_columns_come_in_the_views_join_key_order_then_by_name(
    served_repo: ServedRepo,
) -> None:
    # A protobuf map's iteration order differs between processes (through the
    # front the columns alternated call by call): the order is the views' join
    # keys as the features name them, then any other entity column by name.
    request = _request(
        ["merchant_risk:fraud_rate_30d", "customer_spend:spend_1h"],
        zeta=[0], merchant_id=["M0001"], alpha=[0], customer_id=[1],
    )  # fmt: skip
    stub = pb_grpc.FeatureStoreServiceStub(served_repo.channel)
    names = [c.name for c in stub.GetOnlineFeatures(request, timeout=5).columns]
    assert names == [
        "merchant_id", "customer_id", "alpha", "zeta", "fraud_rate_30d", "spend_1h",
    ]  # fmt: skip


def test_too_many_entity_rows_names_the_setting_on_both_apis(
    served_repo: ServedRepo,
) -> None:
    # It said "51 entity rows exceed the limit of 50; split the request",
    # naming no setting, where the historical limit names its own.
    ours = _call(
        served_repo, _request(["customer_spend:spend_1h"], customer_id=list(range(51)))
    )
    ids = RepeatedValue(val=[ValueProto(int64_val=c) for c in range(51)])
    with pytest.raises(grpc.RpcError) as feasts:
        ServingServiceStub(served_repo.channel).GetOnlineFeatures(
            spb.GetOnlineFeaturesRequest(
                features=spb.FeatureList(val=["customer_spend:spend_1h"]),
                entities={"customer_id": ids},
            ),
            timeout=5,
        )
    for error in (ours, feasts.value):
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info = _error_info(error)
        assert info.reason == "REQUEST_TOO_LARGE"
        assert dict(info.metadata) == {
            "rows": "51", "limit": "50", "setting": "max_online_entity_rows",
        }  # fmt: skip
        assert "(setting max_online_entity_rows)" in error.details()


def _error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo in status details")


def test_features_as_one_string_is_a_type_error_saying_pass_a_list(
    served_repo: ServedRepo,
) -> None:
    # It was split into characters: "feature reference 'c' is not of the
    # form view:feature", from the server, on both calls.
    entity = pd.DataFrame({"customer_id": [1], "event_timestamp": [NOW]})
    with FeatureStoreClient(served_repo.address) as client:
        calls = [
            lambda: client.get_online_features(
                {"customer_id": [1]}, "customer_spend:spend_1h"
            ),
            lambda: client.get_historical_features(entity, "customer_spend:spend_1h"),
        ]
        for call in calls:
            with pytest.raises(TypeError) as caught:
                call()
            message = str(caught.value)
            assert "['customer_spend:spend_1h']" in message
            assert "feature_service=" in message
        # A list (or any other sequence of references) still works.
        frame = client.get_online_features(
            {"customer_id": [1]}, ("customer_spend:spend_1h",)
        )
    assert frame["spend_1h"].tolist() == [10.0]


def test_a_null_join_key_says_null_in_message_and_metadata(
    served_repo: ServedRepo,
) -> None:
    # The message said "got null", ErrorInfo said got: "None" (both APIs).
    request = _request(["customer_spend:spend_1h"], customer_id=[1])
    request.entities["customer_id"].values.add()
    ours = _call(served_repo, request)
    ids = RepeatedValue(val=[ValueProto(int64_val=1), ValueProto()])
    with pytest.raises(grpc.RpcError) as feasts:
        ServingServiceStub(served_repo.channel).GetOnlineFeatures(
            spb.GetOnlineFeaturesRequest(
                features=spb.FeatureList(val=["customer_spend:spend_1h"]),
                entities={"customer_id": ids},
            ),
            timeout=5,
        )
    for error in (ours, feasts.value):
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        info = _error_info(error)
        assert info.reason == "JOIN_KEY_TYPE_MISMATCH"
        assert info.metadata["got"] == "null"
        assert "got null" in error.details()
