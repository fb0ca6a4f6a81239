"""Online reads of a feature service's projections (with_name, with_join_key_map).

The server resolved a service to its views by name only: a join-key map was
dropped (the read wanted customer_id, and the payee's feature vanished) and an
alias did not name the columns. The oracle is the latest row per customer of
the served table; Feast's own SDK read of the same store agrees.
"""

from __future__ import annotations

import grpc
import pytest
from feast import FeatureService
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import (
    DEFINITIONS,
    FRESH_CUSTOMERS,
    customer_rows,
    wait_for,
)

pytestmark = pytest.mark.integration

PAYERS, PAYEES = [3, 5, 999], [5, 999, 3]  # 999: stored for nobody


def _spend() -> dict[int, float]:
    """The oracle: each fresh customer's latest spend."""
    latest: dict[int, tuple[object, float]] = {}
    for row in customer_rows().to_pylist():
        seen = latest.get(row["customer_id"])
        if seen is None or row["event_timestamp"] > seen[0]:
            latest[row["customer_id"]] = (row["event_timestamp"], row["spend"])
    return {c: v for c, (_, v) in latest.items() if c in FRESH_CUSTOMERS}


@pytest.fixture
def projected(sqlite_served):
    views: dict[str, object] = {}
    exec(compile(DEFINITIONS, "definitions", "exec"), views)
    stats = views["customer_stats_view"]
    payments = FeatureService(
        name="payments",
        features=[
            stats.with_name("payer").with_join_key_map({"customer_id": "payer_id"})[
                ["spend"]
            ],
            stats.with_name("payee").with_join_key_map({"customer_id": "payee_id"})[
                ["spend"]
            ],
        ],
    )
    clash = FeatureService(
        name="clash", features=[stats[["spend"]], stats.with_name("again")[["spend"]]]
    )
    sqlite_served.store.apply([payments, clash])
    features = FeatureStoreServiceStub(sqlite_served.channel)

    def applied() -> bool:
        try:
            _ours(features, "payments")
        except grpc.RpcError:
            return False
        return True

    wait_for(applied)
    return sqlite_served


def _ours(stub: FeatureStoreServiceStub, service: str, full: bool = True):
    entities = {
        "payer_id": common_pb2.ValueList(
            values=[common_pb2.Value(int64_value=c) for c in PAYERS]
        ),
        "payee_id": common_pb2.ValueList(
            values=[common_pb2.Value(int64_value=c) for c in PAYEES]
        ),
    }
    request = pb.GetOnlineFeaturesRequest(
        feature_service=service, entities=entities, full_feature_names=full
    )
    return stub.GetOnlineFeatures(request, timeout=10)


def _expected() -> dict[str, list[float | None]]:
    spend = _spend()
    return {
        "payer__spend": [spend.get(c) for c in PAYERS],
        "payee__spend": [spend.get(c) for c in PAYEES],
    }


def test_our_api_reads_each_projection_by_its_own_key_column(projected):
    response = _ours(FeatureStoreServiceStub(projected.channel), "payments")
    columns = {c.name: c for c in response.columns}
    assert list(columns) == ["payer_id", "payee_id", "payer__spend", "payee__spend"]
    for name, expected in _expected().items():
        column = columns[name]
        got = [v.double_value if v.HasField("double_value") else None
               for v in column.values]  # fmt: skip
        assert got == expected, name
        statuses = [
            pb.FEATURE_STATUS_NOT_FOUND if e is None else pb.FEATURE_STATUS_PRESENT
            for e in expected
        ]
        assert list(column.statuses) == statuses, name


def test_feasts_api_and_sdk_agree_with_the_oracle(projected):
    entities = {
        "payer_id": RepeatedValue(val=[ValueProto(int64_val=c) for c in PAYERS]),
        "payee_id": RepeatedValue(val=[ValueProto(int64_val=c) for c in PAYEES]),
    }
    ours = ServingServiceStub(projected.channel).GetOnlineFeatures(
        spb.GetOnlineFeaturesRequest(
            feature_service="payments", entities=entities, full_feature_names=True
        ),
        timeout=10,
    )
    names = list(ours.metadata.feature_names.val)
    assert names == ["payer_id", "payee_id", "payer__spend", "payee__spend"]
    store = projected.store
    sdk = store.get_online_features(
        features=store.get_feature_service("payments"),
        entity_rows=[
            {"payer_id": a, "payee_id": b} for a, b in zip(PAYERS, PAYEES, strict=True)
        ],
        full_feature_names=True,
    ).to_dict()
    for name, expected in _expected().items():
        values = ours.results[names.index(name)].values
        got = [v.double_val if v.HasField("double_val") else None for v in values]
        assert got == expected == sdk[name], name


def test_two_columns_of_one_name_are_refused_on_both_apis(projected):
    # Without full names the service's two projections both answer "spend":
    # Feast raises FeatureNameCollisionError; Feast's API here returned both.
    features = FeatureStoreServiceStub(projected.channel)
    customer = {
        "customer_id": common_pb2.ValueList(values=[common_pb2.Value(int64_value=3)])
    }
    with pytest.raises(grpc.RpcError) as ours:
        features.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(feature_service="clash", entities=customer),
            timeout=10,
        )
    feast_entities = {"customer_id": RepeatedValue(val=[ValueProto(int64_val=3)])}
    with pytest.raises(grpc.RpcError) as feasts:
        ServingServiceStub(projected.channel).GetOnlineFeatures(
            spb.GetOnlineFeaturesRequest(
                feature_service="clash", entities=feast_entities
            ),
            timeout=10,
        )
    for refused in (ours.value, feasts.value):
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "output column 'spend' appears twice" in refused.details()
    # With full names the two are told apart.
    both = features.GetOnlineFeatures(
        pb.GetOnlineFeaturesRequest(
            feature_service="clash", entities=customer, full_feature_names=True
        ),
        timeout=10,
    )
    assert [c.name for c in both.columns] == [
        "customer_id", "customer_stats__spend", "again__spend",
    ]  # fmt: skip
