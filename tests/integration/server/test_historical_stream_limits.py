"""GetHistoricalFeatures streams: every message fits gRPC's default receive
limit, and a stream that ends early counts and logs as CANCELLED."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from grpc_health.v1 import health_pb2
from prometheus_client import REGISTRY

from featurestore.services.server.app import create_server
from featurestore.services.server.arrow_ipc import write_ipc
from featurestore.services.server.settings import ServerSettings
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.integration.server._served import NOW, REPO, TS, ServedRepo
from tests.integration.server.test_server_ops import _start_front_group, _wait_serving
from tests.processes import free_port, stop_process

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


def test_the_front_passes_the_bounded_messages_on_unchanged(
    served_repo: ServedRepo,
) -> None:
    # fs-front proxies the stream message by message (its own send limit is
    # the server's, 64 MiB), so a default client reads it through the front too.
    address = f"127.0.0.1:{free_port()}"
    group = _start_front_group(served_repo, address)
    try:
        assert _wait_serving(address) == health_pb2.HealthCheckResponse.SERVING
        table, pieces, _ = _read_all(address, _request())
    finally:
        stop_process(group, timeout=30)
    assert table.num_rows == ROWS
    assert len(pieces) > 2
    assert max(map(len, pieces)) < DEFAULT_RECEIVE_LIMIT


def test_batch_size_still_bounds_rows_per_message(served_repo: ServedRepo) -> None:
    table, pieces, _ = _read_all(served_repo.address, _request(batch_size=5_000))
    batches = pa.ipc.open_stream(b"".join(pieces)).read_all().to_batches()
    assert table.num_rows == ROWS
    assert max(b.num_rows for b in batches) <= 5_000


@contextmanager
def _audited_server(root: Path, served: ServedRepo) -> Iterator[tuple[str, Path]]:
    audit = root / "audit.jsonl"
    settings = ServerSettings(
        repo_path=served.repo,
        contracts_dir=REPO / "feature_repo" / "contracts",
        data_dir=served.data,
        audit_log=audit,
    )
    running = create_server(settings, "127.0.0.1:0")
    try:
        yield f"127.0.0.1:{running.port}", audit
    finally:
        running.stop(0)  # flushes the audit log


class _Closed(logging.Handler):
    """Sets ``seen`` when the interceptor logs a stream that ended early."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.seen.set()


@contextmanager
def _closed_streams() -> Iterator[_Closed]:
    logger = logging.getLogger("featurestore.services.server.interceptors")
    closed, level = _Closed(), logger.level
    logger.addHandler(closed)
    logger.setLevel(logging.INFO)
    try:
        yield closed
    finally:
        logger.removeHandler(closed)
        logger.setLevel(level)


def _errors(code: str) -> float:
    labels = {"method": "GetHistoricalFeatures", "code": code}
    return REGISTRY.get_sample_value("featurestore_rpc_errors_total", labels) or 0.0


def test_a_stream_cancelled_mid_way_counts_and_audits_as_cancelled(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # It counted as a success (latency only), logged nothing, and the metric
    # disagreed with the audit.
    before = _errors("CANCELLED")
    with (
        _closed_streams() as closed,
        _audited_server(tmp_path, served_repo) as (address, audit),
        grpc.insecure_channel(address) as channel,
    ):
        stub = pb_grpc.FeatureStoreServiceStub(channel)
        # ~8 MB in 1,000-row messages: far more than gRPC buffers, so the
        # server is still sending when the client cancels.
        call = stub.GetHistoricalFeatures(_request(batch_size=1_000))
        assert next(call).WhichOneof("chunk") == "arrow_ipc"
        call.cancel()
        assert closed.seen.wait(60), "the server never saw the stream end"
    assert _errors("CANCELLED") == before + 1
    (line,) = closed.lines
    assert "GetHistoricalFeatures" in line and "CANCELLED" in line
    records = [json.loads(r) for r in audit.read_text().splitlines()]
    (record,) = [r for r in records if r["method"].endswith("GetHistoricalFeatures")]
    assert record["code"] == "CANCELLED"
    assert record["request_id"] in line
