"""GetHistoricalFeatures streams: every message fits gRPC's default receive limit."""

from __future__ import annotations

import grpc
import pyarrow as pa
import pytest

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.server._served import NOW, TS, ServedRepo

pytestmark = pytest.mark.integration

DEFAULT_RECEIVE_LIMIT = 4 * 1024 * 1024
"""gRPC's default max_receive_message_length (grpcurl, Go, Java, Python)."""
ROWS = 16_000
NOTE = 500
"""Bytes of the entity rows' passed-through text column: 16,000 rows make one
~8 MB batch under the default batch_size (65,536 rows)."""


def _wide_entities() -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([1 + i % 3 for i in range(ROWS)], pa.int64()),
            "event_timestamp": pa.array([NOW] * ROWS, TS),
            "note": [f"{i:08d}" + "x" * (NOTE - 8) for i in range(ROWS)],
        }
    )


def _request(**fields: object) -> pb.GetHistoricalFeaturesRequest:
    return pb.GetHistoricalFeaturesRequest(
        features=["customer_spend:spend_1h"],
        entity_rows_arrow=write_ipc(_wide_entities()),
        **fields,  # type: ignore[arg-type]
    )


def _read_all(address: str, request: pb.GetHistoricalFeaturesRequest):
    """The stream read over a channel with gRPC's default options."""
    with grpc.insecure_channel(address) as channel:  # 4 MiB receive limit
        stub = pb_grpc.FeatureStoreServiceStub(channel)
        responses = list(stub.GetHistoricalFeatures(request, timeout=120))
    pieces = [r.arrow_ipc for r in responses if r.WhichOneof("chunk") == "arrow_ipc"]
    table = pa.ipc.open_stream(b"".join(pieces)).read_all()
    return table, pieces, responses[-1].manifest


@pytest.mark.parametrize("batch_size", [0, 1_000_000], ids=["default", "huge"])
def test_a_wide_training_set_streams_to_a_client_with_default_limits(
    served_repo: ServedRepo, batch_size: int
) -> None:
    # Each streamed message was one whole batch: ~8 MB here, refused by any
    # client with the default 4 MiB receive limit (RESOURCE_EXHAUSTED).
    table, pieces, manifest = _read_all(
        served_repo.address, _request(batch_size=batch_size)
    )
    assert table.num_rows == manifest.row_count == ROWS
    assert sorted(table.column("note").to_pylist()) == sorted(
        _wide_entities().column("note").to_pylist()
    )
    assert len(pieces) > 2  # the batch went as several slices, then the end
    assert max(map(len, pieces)) < DEFAULT_RECEIVE_LIMIT


def test_batch_size_still_bounds_rows_per_message(served_repo: ServedRepo) -> None:
    table, pieces, _ = _read_all(served_repo.address, _request(batch_size=5_000))
    batches = pa.ipc.open_stream(b"".join(pieces)).read_all().to_batches()
    assert table.num_rows == ROWS
    assert max(b.num_rows for b in batches) <= 5_000
