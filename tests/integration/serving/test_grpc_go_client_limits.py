"""Metadata over the server's limits from a grpc-go client (grpcurl), directly
and through fs-front, as the README's Security limits say."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.serving._repo import Served

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
GRPCURL = REPO / ".cache" / "go" / "bin" / "grpcurl"
ONLINE = json.dumps(
    {
        "features": ["customer_stats:spend"],
        "entities": {"customer_id": {"values": [{"int64_value": 3}]}},
    }
)


def _grpcurl(served: Served, *headers: str) -> subprocess.CompletedProcess[str]:
    if served.front is None:
        target = f"127.0.0.1:{served.server.port}"
    else:
        args = list(served.front.args)  # type: ignore[arg-type]
        target = args[args.index("--listen") + 1]
    return subprocess.run(
        [str(GRPCURL), "-plaintext",
         "-import-path", str(REPO / "proto"),
         "-proto", "featurestore/v1/feature_store_service.proto",
         "-import-path", str(REPO / "proto" / "third_party"),
         "-proto", "google/rpc/error_details.proto",
         *(a for h in headers for a in ("-H", h)),
         "-d", ONLINE, target,
         "featurestore.v1.FeatureStoreService/GetOnlineFeatures"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.skipif(not GRPCURL.exists(), reason="grpcurl not built: run make test")
def test_oversized_metadata_from_a_grpc_go_client(
    sqlite_served: Served, transport: bool
) -> None:
    fits = _grpcurl(sqlite_served, "x-pad: " + "a" * 4000)
    assert fits.returncode == 0, fits.stderr
    refused = _grpcurl(sqlite_served, "x-pad: " + "a" * 17_000)
    assert refused.returncode != 0
    if transport:
        assert "Code: ResourceExhausted" in refused.stderr
        assert '"reason": "REQUEST_TOO_LARGE"' in refused.stderr
    else:
        # grpc-go will not send a header list over the 16 KiB grpc-python
        # announces: the status is the client's own.
        assert "Code: Internal" in refused.stderr
        assert "violates the maximum size (16384 bytes) set by server" in (
            refused.stderr
        )
