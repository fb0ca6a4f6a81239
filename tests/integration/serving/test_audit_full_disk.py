"""An audit log on a full disk: noticed, calls refused (or served on, by
setting), records held and written once when there is room, direct and via
fs-front."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

from featurestore.v1 import feature_store_service_pb2_grpc as pb_grpc
from tests.full_disk import full_tmpfs
from tests.integration.serving._repo import (
    Served,
    health_status,
    make_repo,
    online_request,
    serve,
    sqlite_online,
    wait_for,
    write_online,
)

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with full_tmpfs(tmp_path / "disk") as folder:
        yield folder


def _served(tmp_path: Path, disk: Path, transport: bool, policy: str) -> Served:
    store = make_repo(tmp_path, sqlite_online(tmp_path))
    write_online(store)
    return serve(
        store,
        transport,
        audit_log=disk / "audit.jsonl",
        audit_on_failure=policy,
        registry_refresh_seconds=0.2,
    )


def _read(served: Served, request_id: str) -> None:
    pb_grpc.FeatureStoreServiceStub(served.channel).GetOnlineFeatures(
        online_request(), metadata=(("x-request-id", request_id),), timeout=10
    )


def _audited(disk: Path) -> list[str]:
    lines = (disk / "audit.jsonl").read_text().splitlines()
    return [json.loads(line)["request_id"] for line in lines]


def test_a_full_audit_disk_refuses_calls_until_it_has_room(
    tmp_path: Path, disk: Path, transport: bool
) -> None:
    # Calls used to be served on a full disk with every audit line lost
    # (dumped into stderr by logging), health SERVING, nothing noticed.
    served = _served(tmp_path, disk, transport, "refuse")
    try:
        # Served until the writer finds it cannot write their records (it
        # tries every 0.1 s), then refused.
        during: list[str] = []
        with pytest.raises(grpc.RpcError) as refused:
            for n in range(10_000):
                _read(served, f"during-{n}")
                during.append(f"during-{n}")
        refused_id = f"during-{len(during)}"
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "audit log cannot be written" in refused.value.details()
        assert str(disk) not in refused.value.details()  # no server path
        status = rpc_status.from_call(refused.value)
        info = error_details_pb2.ErrorInfo()
        assert status is not None and status.details[0].Unpack(info)
        assert info.reason == "AUDIT_UNAVAILABLE"
        wait_for(lambda: health_status(served.channel) == NOT_SERVING)
        assert refused_id not in _audited(disk)

        (disk / "filler").unlink()
        wait_for(lambda: health_status(served.channel) == SERVING)
        _read(served, "after")
        wait_for(lambda: "after" in _audited(disk))
        # Held records written once, in order; the refusal audited too.
        assert _audited(disk) == [*during, refused_id, "after"]
        lines = [json.loads(x) for x in (disk / "audit.jsonl").read_text().splitlines()]
        assert (lines[-2]["decision"], lines[-2]["code"]) == ("refused", "UNAVAILABLE")
    finally:
        _stop_front(served)
        lost = served.server.stop(0)
    assert lost == 0


def test_serve_on_failure_keeps_serving_and_counts_the_lost_records(
    tmp_path: Path, disk: Path, transport: bool
) -> None:
    served = _served(tmp_path, disk, transport, "serve")
    try:
        _read(served, "one")
        wait_for(lambda: served.server.guard.audit.failing)  # type: ignore[union-attr]
        _read(served, "two")
        assert health_status(served.channel) == SERVING
    finally:
        _stop_front(served)
        lost = served.server.stop(0)
    assert lost == 2
    assert (disk / "audit.jsonl").read_text() == ""


def _stop_front(served: Served) -> None:
    served.channel.close()
    if served.front is not None:
        served.front.terminate()
        served.front.wait(timeout=30)
