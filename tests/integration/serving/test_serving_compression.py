"""gzip-compressed calls, directly and through fs-front: every path serves
them, and the request size limit is on the message as decompressed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from grpc_health.v1 import health_pb2, health_pb2_grpc

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import (
    NOW,
    TS,
    Served,
    make_repo,
    online_request,
    serve,
    sqlite_online,
    write_online,
)

pytestmark = pytest.mark.integration

GZIP = grpc.Compression.Gzip
LIMIT = 1 << 20  # max_request_bytes
BOMB = "a" * (64 << 20)  # 64 MiB as decompressed, ~64 KB as gzip sends it


@pytest.fixture
def served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    served = serve(store, transport, max_request_bytes=LIMIT)
    yield served
    served.stop()


def _historical(
    feature: str = "customer_stats:spend",
) -> pb.GetHistoricalFeaturesRequest:
    entity = pa.table(
        {
            "customer_id": pa.array([3], pa.int64()),
            "event_timestamp": pa.array([NOW], TS),
        }
    )
    return pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity), features=[feature]
    )


def test_gzip_calls_are_served_on_every_path(served: Served) -> None:
    """Proxied unary and streaming calls, both online reads and health."""
    ours = FeatureStoreServiceStub(served.channel)
    views = ours.ListFeatureViews(pb.ListFeatureViewsRequest(), compression=GZIP)
    assert {v.name for v in views.feature_views} == {"customer_stats", "merchant_risk"}
    chunks = list(ours.GetHistoricalFeatures(_historical(), compression=GZIP))
    ipc = b"".join(c.arrow_ipc for c in chunks if c.WhichOneof("chunk") == "arrow_ipc")
    table = pa.ipc.open_stream(pa.py_buffer(ipc)).read_all()
    assert table.column("spend").to_pylist() == [30.5]
    online = ours.GetOnlineFeatures(online_request(), compression=GZIP)
    assert [c.name for c in online.columns] == ["customer_id", "spend", "tier"]
    feast = ServingServiceStub(served.channel).GetOnlineFeatures(
        spb.GetOnlineFeaturesRequest(
            features=spb.FeatureList(val=["customer_stats:spend"]),
            entities={"customer_id": RepeatedValue(val=[ValueProto(int64_val=3)])},
        ),
        compression=GZIP,
    )
    assert [v.double_val for v in feast.results[1].values] == [30.5]
    health = health_pb2_grpc.HealthStub(served.channel).Check(
        health_pb2.HealthCheckRequest(), compression=GZIP
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING


CALLS: dict[str, Callable[[grpc.Channel], object]] = {
    "unary": lambda ch: FeatureStoreServiceStub(ch).ListFeatureViews(
        pb.ListFeatureViewsRequest(page_token=BOMB), compression=GZIP
    ),
    "stream": lambda ch: list(
        FeatureStoreServiceStub(ch).GetHistoricalFeatures(
            _historical(BOMB), compression=GZIP
        )
    ),
    "online": lambda ch: FeatureStoreServiceStub(ch).GetOnlineFeatures(
        pb.GetOnlineFeaturesRequest(features=[BOMB]), compression=GZIP
    ),
}


@pytest.mark.parametrize("call", CALLS)
def test_a_gzip_bomb_is_over_the_request_limit(
    served: Served, transport: bool, call: str
) -> None:
    """64 MiB of one letter, sent as ~64 KB: RESOURCE_EXHAUSTED, as an
    uncompressed message over the limit is; the next call is served."""
    with pytest.raises(grpc.RpcError) as caught:
        CALLS[call](served.channel)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    if transport:
        # fs-front (grpc-go) names the limit; grpc-python's own refusal says
        # only "Decompressed message larger than max".
        assert str(LIMIT) in (caught.value.details() or "")
    reply = FeatureStoreServiceStub(served.channel).GetOnlineFeatures(
        online_request(), compression=GZIP
    )
    assert [c.name for c in reply.columns] == ["customer_id", "spend", "tier"]
