"""Feast's ServingService on our server, called with Feast's generated stub."""

from __future__ import annotations

import grpc
import pytest
from feast.errors import FeatureNameCollisionError
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import STALE_CUSTOMERS, STALE_MERCHANTS

pytestmark = pytest.mark.integration

CUSTOMERS = [3, 21, 999, 3, 7]  # fresh, stale, missing, duplicate, null tier
MERCHANTS = ["M1", "M9", "nope", "M2", "M3"]
REFS = ["customer_stats:spend", "customer_stats:count", "customer_stats:tier",
        "merchant_risk:fraud_rate"]  # fmt: skip


def _request(**kwargs: object) -> spb.GetOnlineFeaturesRequest:
    entities = {
        "customer_id": RepeatedValue(val=[ValueProto(int64_val=c) for c in CUSTOMERS]),
        "merchant_id": RepeatedValue(val=[ValueProto(string_val=m) for m in MERCHANTS]),
    }
    return spb.GetOnlineFeaturesRequest(entities=entities, **kwargs)  # type: ignore[arg-type]


def _feast_response(store, features, full_feature_names=False):
    return store.get_online_features(
        features=features,
        entity_rows=[
            {"customer_id": c, "merchant_id": m}
            for c, m in zip(CUSTOMERS, MERCHANTS, strict=True)
        ],
        full_feature_names=full_feature_names,
    ).proto


def _assert_same_as_feast(ours, theirs):
    # Feast orders the features of one view by set iteration (differs between
    # processes), so compare by name; our order is pinned in other tests.
    ours_by_name = _by_name(ours)
    theirs_by_name = _by_name(theirs)
    assert len(ours.results) == len(ours_by_name)
    assert ours_by_name.keys() == theirs_by_name.keys()
    for name, a in ours_by_name.items():
        b = theirs_by_name[name]
        assert list(a.values) == list(b.values), name
        assert list(a.event_timestamps) == list(b.event_timestamps), name
        # Feast's Python server never checks the TTL: where it says PRESENT we
        # may say OUTSIDE_MAX_AGE; everything else is identical.
        for ours_status, feast_status in zip(a.statuses, b.statuses, strict=False):
            if ours_status == spb.OUTSIDE_MAX_AGE:
                assert feast_status == spb.PRESENT, name
            else:
                assert ours_status == feast_status, name


@pytest.mark.parametrize("full_feature_names", [False, True])
def test_features_match_feast_sdk(sqlite_served, full_feature_names):
    stub = ServingServiceStub(sqlite_served.channel)

    ours = stub.GetOnlineFeatures(
        _request(
            features=spb.FeatureList(val=REFS), full_feature_names=full_feature_names
        ),
        timeout=10,
    )

    theirs = _feast_response(sqlite_served.store, REFS, full_feature_names)
    _assert_same_as_feast(ours, theirs)
    expected = ["customer_id", "merchant_id"] + [
        r.replace(":", "__") if full_feature_names else r.split(":")[1] for r in REFS
    ]
    assert list(ours.metadata.feature_names.val) == expected


def test_feature_service_matches_feast_sdk(sqlite_served):
    stub = ServingServiceStub(sqlite_served.channel)

    ours = stub.GetOnlineFeatures(_request(feature_service="scoring"), timeout=10)

    service = sqlite_served.store.get_feature_service("scoring")
    _assert_same_as_feast(ours, _feast_response(sqlite_served.store, service))


def test_statuses_present_not_found_outside_max_age(sqlite_served):
    stub = ServingServiceStub(sqlite_served.channel)

    response = stub.GetOnlineFeatures(
        _request(features=spb.FeatureList(val=REFS)), timeout=10
    )

    by_name = _by_name(response)
    assert list(by_name["customer_id"].statuses) == [spb.PRESENT] * len(CUSTOMERS)
    spend = by_name["spend"]
    expected = [
        spb.OUTSIDE_MAX_AGE if c in STALE_CUSTOMERS else spb.NOT_FOUND if c == 999
        else spb.PRESENT
        for c in CUSTOMERS
    ]  # fmt: skip
    assert list(spend.statuses) == expected
    assert spend.values[1].double_val == 21 * 10.0 + 0.5  # stale value still sent
    assert spend.values[2] == ValueProto()
    assert not spend.event_timestamps[2].seconds
    rate = by_name["fraud_rate"]
    assert [s == spb.OUTSIDE_MAX_AGE for s in rate.statuses] == [
        m in STALE_MERCHANTS for m in MERCHANTS
    ]


def test_serving_info_reports_feast_version(sqlite_served):
    from feast.version import get_version

    stub = ServingServiceStub(sqlite_served.channel)
    info = stub.GetFeastServingInfo(spb.GetFeastServingInfoRequest(), timeout=10)
    assert info.version == get_version()


@pytest.mark.parametrize(
    ("request_kwargs", "code", "reason"),
    [
        ({"features": spb.FeatureList(val=["nope:spend"])}, grpc.StatusCode.NOT_FOUND,
         "FEATURE_VIEW_NOT_FOUND"),
        ({"features": spb.FeatureList(val=["customer_stats:nope"])},
         grpc.StatusCode.NOT_FOUND, "FEATURE_NOT_FOUND"),
        ({"feature_service": "nope"}, grpc.StatusCode.NOT_FOUND,
         "FEATURE_SERVICE_NOT_FOUND"),
        ({"features": spb.FeatureList(val=["spend"])}, grpc.StatusCode.INVALID_ARGUMENT,
         "INVALID_FIELD"),
    ],
)  # fmt: skip
def test_bad_references(sqlite_served, request_kwargs, code, reason):
    stub = ServingServiceStub(sqlite_served.channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetOnlineFeatures(_request(**request_kwargs), timeout=10)
    assert caught.value.code() == code
    assert _reason(caught.value) == reason


def test_bad_entities(sqlite_served):
    stub = ServingServiceStub(sqlite_served.channel)
    features = spb.FeatureList(val=REFS)
    cases = [
        (
            {"customer_id": RepeatedValue(val=[ValueProto(int64_val=1)])},
            "JOIN_KEY_MISSING",
        ),
        ({"customer_id": RepeatedValue(val=[ValueProto(string_val="1")]),
          "merchant_id": RepeatedValue(val=[ValueProto(string_val="M1")])},
         "JOIN_KEY_TYPE_MISMATCH"),
        ({}, "INVALID_FIELD"),
    ]  # fmt: skip
    for entities, reason in cases:
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetOnlineFeatures(
                spb.GetOnlineFeaturesRequest(features=features, entities=entities),
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _reason(caught.value) == reason


def _reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


def _by_name(response):
    names = response.metadata.feature_names.val
    return dict(zip(names, response.results, strict=True))


@pytest.mark.parametrize("full_feature_names", [False, True])
def test_a_feature_asked_twice_is_refused_on_both_apis(
    sqlite_served, full_feature_names
):
    # Both answered with one column (silently merged); a training set, and
    # Feast's SDK (FeatureNameCollisionError), refuse it.
    refs = ["customer_stats:spend", "merchant_risk:fraud_rate", "customer_stats:spend"]
    ours = FeatureStoreServiceStub(sqlite_served.channel)
    ids = [common_pb2.Value(int64_value=c) for c in CUSTOMERS]
    merchants = [common_pb2.Value(string_value=m) for m in MERCHANTS]
    entities = {
        "customer_id": common_pb2.ValueList(values=ids),
        "merchant_id": common_pb2.ValueList(values=merchants),
    }
    refused = []
    with pytest.raises(grpc.RpcError) as caught:
        ours.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(
                features=refs, entities=entities, full_feature_names=full_feature_names
            ),
            timeout=10,
        )
    refused.append(caught.value)
    with pytest.raises(grpc.RpcError) as caught:
        ServingServiceStub(sqlite_served.channel).GetOnlineFeatures(
            _request(
                features=spb.FeatureList(val=refs),
                full_feature_names=full_feature_names,
            ),
            timeout=10,
        )
    refused.append(caught.value)
    column = "customer_stats__spend" if full_feature_names else "spend"
    for error in refused:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _reason(error) == "DUPLICATE_COLUMN"
        assert f"output column {column!r} appears twice" in error.details()
    with pytest.raises(FeatureNameCollisionError):
        _feast_response(sqlite_served.store, refs, full_feature_names)
