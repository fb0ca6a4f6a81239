"""A temporary Feast repo over Delta tables, and a running server on it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pyarrow as pa
from deltalake import write_deltalake
from feast import FeatureStore
from grpc_health.v1 import health_pb2, health_pb2_grpc

from featurestore.services.server.app import RunningServer, create_server
from featurestore.services.server.settings import ServerSettings
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from tests.redis_harness import free_port

NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")
FRESH_CUSTOMERS = range(1, 21)  # event time NOW - 1 h, TTL 1 day
STALE_CUSTOMERS = range(21, 26)  # NOW - 3 days
FRESH_MERCHANTS = ["M1", "M2", "M3"]  # NOW - 10 min, TTL 2 h
STALE_MERCHANTS = ["M9"]  # NOW - 5 h

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64, String

customer = Entity(
    name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
)
merchant = Entity(
    name="merchant", join_keys=["merchant_id"], value_type=ValueType.STRING
)

customer_stats_source = FileSource(
    name="customer_stats", path="data/customer_stats", file_format=DeltaFormat(),
    timestamp_field="event_timestamp", created_timestamp_column="created_timestamp",
)
merchant_risk_source = FileSource(
    name="merchant_risk", path="data/merchant_risk", file_format=DeltaFormat(),
    timestamp_field="event_timestamp", created_timestamp_column="created_timestamp",
)
customer_stats_view = FeatureView(
    name="customer_stats", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="spend", dtype=Float64), Field(name="count", dtype=Int64),
            Field(name="tier", dtype=String)],
    source=customer_stats_source,
)
merchant_risk_view = FeatureView(
    name="merchant_risk", entities=[merchant], ttl=timedelta(hours=2),
    schema=[Field(name="fraud_rate", dtype=Float64)],
    source=merchant_risk_source,
)
scoring_service = FeatureService(
    name="scoring",
    features=[customer_stats_view[["spend", "tier"]], merchant_risk_view],
)
"""

YAML = """project: serving_it
registry: {registry}
provider: local
online_store:
{online}
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
materialization:
  pull_latest_features: true
"""


def sqlite_online(tmp: Path) -> str:
    """The online_store block for a SQLite file under ``tmp``."""
    return f"  type: sqlite\n  path: {tmp / 'online.db'}"


def redis_online(host: str, port: int) -> str:
    """The online_store block for a plain Redis server."""
    return f"  type: redis\n  connection_string: {host}:{port}"


def customer_rows() -> pa.Table:
    """Two rows per customer (the later one wins), fresh and stale entities."""
    ids, spend, count, tier, ts = [], [], [], [], []
    for cid in [*FRESH_CUSTOMERS, *STALE_CUSTOMERS]:
        latest = NOW - (
            timedelta(hours=1) if cid in FRESH_CUSTOMERS else timedelta(days=3)
        )
        for age, bump in ((timedelta(hours=2), 0.0), (timedelta(0), 0.5)):
            ids.append(cid)
            spend.append(cid * 10.0 + bump)
            count.append(cid + int(bump * 2))
            tier.append(None if cid % 7 == 0 else f"t{cid % 3}")
            ts.append(latest - age)
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "spend": pa.array(spend, pa.float64()),
            "count": pa.array(count, pa.int64()),
            "tier": pa.array(tier, pa.string()),
            "event_timestamp": pa.array(ts, TS),
            "created_timestamp": pa.array(ts, TS),
        }
    )


def merchant_rows() -> pa.Table:
    """One row per merchant."""
    ids = [*FRESH_MERCHANTS, *STALE_MERCHANTS]
    ts = [NOW - timedelta(minutes=10)] * len(FRESH_MERCHANTS) + [
        NOW - timedelta(hours=5)
    ]
    return pa.table(
        {
            "merchant_id": pa.array(ids, pa.string()),
            "fraud_rate": pa.array([0.01 * (i + 1) for i in range(len(ids))]),
            "event_timestamp": pa.array(ts, TS),
            "created_timestamp": pa.array(ts, TS),
        }
    )


def make_repo(root: Path, online: str) -> FeatureStore:
    """Write the repo, its Delta tables and apply it; online store left empty."""
    repo = root / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        YAML.format(registry=root / "registry.db", online=online)
    )
    (repo / "definitions.py").write_text(DEFINITIONS)
    write_deltalake(str(repo / "data" / "customer_stats"), customer_rows())
    write_deltalake(str(repo / "data" / "merchant_risk"), merchant_rows())
    ns: dict[str, object] = {}
    exec(compile(DEFINITIONS, str(repo / "definitions.py"), "exec"), ns)
    store = FeatureStore(repo_path=str(repo))
    store.apply([ns[n] for n in ("customer", "merchant", "customer_stats_view",
                                 "merchant_risk_view", "scoring_service")])  # fmt: skip
    return store


def write_online(store: FeatureStore) -> None:
    """Feast's own write path: the latest row per entity into the online store."""
    store.write_to_online_store(
        "customer_stats", _latest(customer_rows(), "customer_id")
    )
    store.write_to_online_store("merchant_risk", merchant_rows().to_pandas())


def _latest(table: pa.Table, key: str):
    df = table.to_pandas().sort_values("event_timestamp")
    return df.drop_duplicates(key, keep="last")


@dataclass
class Served:
    """A running server on the repo and a channel to it (through fs-front if set)."""

    store: FeatureStore
    server: RunningServer
    channel: grpc.Channel
    settings: ServerSettings
    front: subprocess.Popen[bytes] | None = None
    address: str = ""
    """host:port clients call (the front's, when there is one)."""

    def stop(self) -> None:
        """Close the channel, stop the front (if any), then the server."""
        self.channel.close()
        if self.front is not None:
            self.front.terminate()
            self.front.wait(timeout=30)
        self.server.stop(0)


def serve(
    store: FeatureStore,
    front: bool = False,
    credentials: grpc.ChannelCredentials | None = None,
    **settings: object,
) -> Served:
    """Start our server on the store's repo with a 127.0.0.1 ephemeral port.

    ``front``: clients go through the compiled front (``fs-front``, built by
    ``make front``), which hands online reads to this server over a Unix
    socket and proxies every other call to its gRPC port. TLS settings
    (``tls_cert``, ``tls_key``, ``tls_client_ca``) then go to the front, which
    terminates TLS, and the server behind it listens without, as
    ``--front`` deploys them. ``credentials``: the channel's, for TLS.
    """
    if front:
        settings["online_socket"] = Path(store.repo_path) / "online.sock"
    config = ServerSettings(repo_path=Path(store.repo_path), **settings)  # type: ignore[arg-type]
    target = "127.0.0.1:{}"
    if not front:
        running = create_server(config, "127.0.0.1:0")
        address = target.format(running.port)
        channel = _channel(address, credentials)
        return Served(store, running, channel, config, address=address)
    behind = config.model_copy(
        update={"tls_cert": None, "tls_key": None, "tls_client_ca": None}
    )
    running = create_server(behind, "127.0.0.1:0")
    port = free_port()
    command = [
        str(config.front_binary),
        "--listen", target.format(port),
        "--backend", target.format(running.port),
        "--online-sockets", str(config.online_socket),
        "--max-request-bytes", str(config.max_request_bytes),
        "--max-health-watchers", str(config.max_health_watchers),
    ]  # fmt: skip
    for flag, path in (
        ("--tls-cert", config.tls_cert),
        ("--tls-key", config.tls_key),
        ("--tls-client-ca", config.tls_client_ca),
    ):
        if path is not None:
            command += [flag, str(path)]
    process = subprocess.Popen(command)
    channel = _channel(target.format(port), credentials)
    grpc.channel_ready_future(channel).result(timeout=30)
    return Served(store, running, channel, config, process, target.format(port))


def _channel(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, credentials)


def online_request() -> pb.GetOnlineFeaturesRequest:
    """customer 3 (fresh) and 999 (missing), two features."""
    ids = [common_pb2.Value(int64_value=c) for c in (3, 999)]
    return pb.GetOnlineFeaturesRequest(
        features=["customer_stats:spend", "customer_stats:tier"],
        entities={"customer_id": common_pb2.ValueList(values=ids)},
    )


def wait_for(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Poll ``check`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s}s")


def health_status(channel: grpc.Channel) -> int:
    """The server-wide health status."""
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status)
