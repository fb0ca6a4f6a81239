"""A Feast registry cut short or gone under a running server (a concurrent
`feast apply` rewrites the file in place): UNAVAILABLE saying to retry, never
INTERNAL, and the server serves again once the file is whole."""

from __future__ import annotations

import shutil

import grpc
import pyarrow as pa
import pytest

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import NOW, TS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _training_set(stub: pb_grpc.FeatureStoreServiceStub) -> list[object]:
    entity = pa.table(
        {
            "customer_id": pa.array([3], pa.int64()),
            "event_timestamp": pa.array([NOW], TS),
        }
    )
    request = pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity), features=["customer_stats:spend"]
    )
    return list(stub.GetHistoricalFeatures(request, timeout=60))


@pytest.mark.parametrize("damage", ["cut short", "gone"])
def test_a_registry_cut_short_or_gone_is_unavailable_then_served(
    sqlite_served, tmp_path, damage
) -> None:
    stub = pb_grpc.FeatureStoreServiceStub(sqlite_served.channel)
    assert _training_set(stub)
    registry = tmp_path / "registry.db"
    whole = tmp_path / "registry.whole"
    shutil.copy2(registry, whole)
    if damage == "gone":
        registry.unlink()
    else:
        registry.write_bytes(whole.read_bytes()[:100])
    with pytest.raises(grpc.RpcError) as refused:
        _training_set(stub)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "registry cannot be read" in refused.value.details()
    assert str(tmp_path) not in refused.value.details()
    shutil.copy2(whole, registry)
    assert _training_set(stub)
