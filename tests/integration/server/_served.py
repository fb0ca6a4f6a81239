"""Shared pieces of the server tests: the served repo, its rows, constants."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pyarrow as pa

from featurestore.services.server.app import RunningServer

REPO = Path(__file__).resolve().parents[3]
FEAST = str(Path(sys.executable).parent / "feast")
NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ServedRepo:
    """A Feast repo copy with data, applied and materialised, and its server."""

    repo: Path
    data: Path
    server: RunningServer
    address: str
    channel: grpc.Channel


def customer_spend_rows() -> pa.Table:
    """Customer 1 fresh, customer 2 past the 7-day TTL, customer 3 twice."""
    times = [
        NOW - timedelta(hours=1),
        NOW - timedelta(days=9),
        NOW - timedelta(days=2),
        NOW - timedelta(hours=3),
    ]
    return pa.table(
        {
            "customer_id": pa.array([1, 2, 3, 3], pa.int64()),
            "event_timestamp": pa.array(times, TS),
            "created_timestamp": pa.array(times, TS),
            "spend_1h": [10.0, 20.0, 30.0, 31.0],
            "count_1h": pa.array([1, 1, 1, 2], pa.int64()),
            "spend_24h": [11.0, 21.0, 32.0, 33.0],
            "count_24h": pa.array([2, 2, 2, 3], pa.int64()),
            "spend_7d": [12.0, 22.0, 34.0, 35.0],
            "count_7d": pa.array([3, 3, 3, 4], pa.int64()),
        }
    )


def merchant_risk_rows() -> pa.Table:
    """Merchant M0001 fresh."""
    times = [NOW - timedelta(hours=5)]
    return pa.table(
        {
            "merchant_id": ["M0001"],
            "event_timestamp": pa.array(times, TS),
            "created_timestamp": pa.array(times, TS),
            "txn_count_30d": pa.array([40], pa.int64()),
            "fraud_count_30d": pa.array([2], pa.int64()),
            "fraud_rate_30d": [0.05],
        }
    )


def feast_cli(*args: str, repo: Path, env: dict[str, str]) -> None:
    """Run the real feast CLI in ``repo``; fail the test on a non-zero exit."""
    proc = subprocess.run(
        [FEAST, *args], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
