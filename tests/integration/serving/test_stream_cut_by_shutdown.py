"""A stream the server's shutdown grace cuts is logged as such, not as a
client's cancellation."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.serving._repo import (
    NOW,
    TS,
    make_repo,
    serve,
    sqlite_online,
    wait_for,
    write_online,
)

pytestmark = pytest.mark.integration

_LOGGER = "featurestore.services.server.interceptors"


def test_a_stream_cut_by_the_shutdown_grace_says_the_server_was_stopping(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The log said "the client cancelled, its deadline passed, or the
    # response could not be delivered" when SIGTERM's grace ended the stream.
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    served = serve(store, False, audit_log=tmp_path / "audit.jsonl")
    entity = pa.table(
        {
            "customer_id": pa.array([3] * 5000, pa.int64()),
            "event_timestamp": pa.array([NOW] * 5000, TS),
        }
    )
    request = pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity),
        features=["customer_stats:spend"],
        batch_size=1,
    )
    stream = pb_grpc.FeatureStoreServiceStub(served.channel).GetHistoricalFeatures(
        request, metadata=(("x-request-id", "cut-1"),)
    )
    next(stream)  # then read no more: the server waits to send the rest
    with caplog.at_level(logging.INFO, logger=_LOGGER):
        served.server.stop(0.2)
        wait_for(lambda: "cut-1" in caplog.text)
    (said,) = [r.getMessage() for r in caplog.records if "cut-1" in r.getMessage()]
    assert "the server was stopping and its shutdown grace" in said, said
    assert "client cancelled" not in said
    with pytest.raises(grpc.RpcError):
        list(stream)
    served.channel.close()


def test_a_stream_the_client_cancels_still_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    served = serve(store, False, audit_log=tmp_path / "audit.jsonl")
    entity = pa.table(
        {
            "customer_id": pa.array([3] * 5000, pa.int64()),
            "event_timestamp": pa.array([NOW] * 5000, TS),
        }
    )
    request = pb.GetHistoricalFeaturesRequest(
        entity_rows_arrow=write_ipc(entity),
        features=["customer_stats:spend"],
        batch_size=1,
    )
    try:
        with caplog.at_level(logging.INFO, logger=_LOGGER):
            stream = pb_grpc.FeatureStoreServiceStub(
                served.channel
            ).GetHistoricalFeatures(request, metadata=(("x-request-id", "cancel-2"),))
            next(stream)
            stream.cancel()
            wait_for(lambda: "cancel-2" in caplog.text)
        (said,) = [
            r.getMessage() for r in caplog.records if "cancel-2" in r.getMessage()
        ]
        assert "the client cancelled" in said and "server was stopping" not in said
    finally:
        served.stop()
