"""A stream feature view is materialised, served and joined from its batch source.

A ``StreamFeatureView`` (over a Kafka source whose ``batch_source`` is a Delta
table) is a ``FeatureView`` with a batch source: ``feast materialize`` writes
it, Feast's SDK serves and joins it, as a batch view. Only the batch views
were listed, so ``featurestore materialize`` skipped it (exit 0, ``{}``), the
server answered NOT_FOUND and ``training-set`` FEATURE_VIEW_NOT_FOUND.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import write_deltalake
from feast import FeatureStore
from feast.protos.feast.serving import ServingService_pb2 as spb
from feast.protos.feast.serving.ServingService_pb2_grpc import ServingServiceStub
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from featurestore.services.cli import cli
from featurestore.services.online.materialize import materialize
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import (
    DEFINITIONS,
    NOW,
    TS,
    Served,
    make_repo,
    serve,
    sqlite_online,
)
from tests.integration.serving.test_serving_feast_api import _assert_same_as_feast

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Stream feature views are experimental"),
]

STREAM = """
from feast import KafkaSource
from feast.data_format import JsonFormat
from feast.stream_feature_view import StreamFeatureView

clicks_source = KafkaSource(
    name="clicks_stream", kafka_bootstrap_servers="localhost:9092", topic="clicks",
    timestamp_field="event_timestamp",
    batch_source=FileSource(
        name="clicks", path="data/clicks", file_format=DeltaFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    ),
    message_format=JsonFormat(
        schema_json="customer_id integer, event_timestamp timestamp, clicks integer"
    ),
)
clicks_sfv = StreamFeatureView(
    name="clicks_sfv", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="clicks", dtype=Int64)], source=clicks_source, online=True,
)
sfv_service = FeatureService(name="sfv_service", features=[clicks_sfv])
"""
START, END = NOW - timedelta(days=5), NOW + timedelta(minutes=1)
TTL = timedelta(days=1)


def _clicks() -> pd.DataFrame:
    """Two rows per customer 1..6 (5 and 2 h old); customer 6's are 3 days old."""
    rows = []
    for cid in range(1, 7):
        base = NOW - (timedelta(days=3) if cid == 6 else timedelta(0))
        for hours, bump in ((5, 0), (2, 1)):
            at = base - timedelta(hours=hours)
            rows.append((cid, cid * 10 + bump, at, at))
    columns = ["customer_id", "clicks", "event_timestamp", "created_timestamp"]
    return pd.DataFrame(rows, columns=columns)


def stream_repo(root: Path) -> FeatureStore:
    """The serving repo plus clicks_sfv and sfv_service, by a real `feast apply`."""
    store = make_repo(root, sqlite_online(root))
    repo = Path(store.repo_path)
    (repo / "definitions.py").write_text(DEFINITIONS + STREAM)
    frame = _clicks()
    write_deltalake(
        str(repo / "data" / "clicks"),
        pa.table(
            {
                "customer_id": pa.array(frame.customer_id, pa.int64()),
                "clicks": pa.array(frame.clicks, pa.int64()),
                "event_timestamp": pa.array(frame.event_timestamp, TS),
                "created_timestamp": pa.array(frame.created_timestamp, TS),
            }
        ),
    )
    feast = Path(sys.executable).parent / "feast"
    subprocess.run([str(feast), "apply"], cwd=repo, check=True, capture_output=True)
    store.refresh_registry()
    return store


def _online_rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / "online.db") as conn:
        return sorted(conn.execute("SELECT * FROM serving_it_clicks_sfv").fetchall())


def _latest_clicks() -> dict[int, int]:
    """The oracle: each customer's newest clicks within the TTL."""
    frame = _clicks().sort_values("event_timestamp")
    latest = frame.drop_duplicates("customer_id", keep="last")
    fresh = latest[latest.event_timestamp > NOW - TTL]
    return dict(zip(fresh.customer_id, fresh.clicks, strict=True))


def test_materialize_writes_it_with_feasts_bytes(tmp_path):
    # It was skipped: {} for every view, "no online feature view named
    # 'clicks_sfv'" when named.
    ours, theirs = stream_repo(tmp_path / "ours"), stream_repo(tmp_path / "feast")
    assert materialize(ours.repo_path, START, END, ["clicks_sfv"]) == {"clicks_sfv": 6}
    theirs.materialize(START, END, ["clicks_sfv"])
    assert _online_rows(tmp_path / "ours") == _online_rows(tmp_path / "feast")
    assert len({row[0] for row in _online_rows(tmp_path / "ours")}) == 6  # keys
    # The whole repo: the stream view beside the batch views.
    written = materialize(ours.repo_path, START, END)
    assert written.keys() == {"customer_stats", "merchant_risk", "clicks_sfv"}


@pytest.fixture
def served(tmp_path: Path, transport: bool) -> Iterator[Served]:
    """The stream repo, materialised by us, served."""
    store = stream_repo(tmp_path)
    assert materialize(store.repo_path, START, END, ["clicks_sfv"])
    running = serve(store, transport, registry_refresh_seconds=0.2)
    yield running
    running.stop()


CUSTOMERS = [1, 4, 6, 999]  # 6: older than the TTL; 999: never stored


def test_both_apis_serve_it_as_the_oracle_and_feasts_sdk(served):
    stub = FeatureStoreServiceStub(served.channel)
    ids = [common_pb2.Value(int64_value=c) for c in CUSTOMERS]
    entities = {"customer_id": common_pb2.ValueList(values=ids)}
    oracle = _latest_clicks()
    want = [oracle.get(c) for c in CUSTOMERS]
    for selection in ({"features": ["clicks_sfv:clicks"]},
                      {"feature_service": "sfv_service"}):  # fmt: skip
        got = stub.GetOnlineFeatures(
            pb.GetOnlineFeaturesRequest(entities=entities, **selection), timeout=10
        )
        clicks = {c.name: c for c in got.columns}["clicks"]
        values = [
            v.int64_value if s == pb.FEATURE_STATUS_PRESENT else None
            for v, s in zip(clicks.values, clicks.statuses, strict=True)
        ]
        assert values == want, selection
    listed = stub.ListFeatureViews(pb.ListFeatureViewsRequest(), timeout=10)
    assert "clicks_sfv" in [v.name for v in listed.feature_views]
    view = stub.GetFeatureView(pb.GetFeatureViewRequest(name="clicks_sfv"), timeout=10)
    assert list(view.feature_view.join_keys) == ["customer_id"]

    feast_stub = ServingServiceStub(served.channel)
    keys = RepeatedValue(val=[ValueProto(int64_val=c) for c in CUSTOMERS])
    ours = feast_stub.GetOnlineFeatures(
        spb.GetOnlineFeaturesRequest(
            feature_service="sfv_service", entities={"customer_id": keys}
        ),
        timeout=10,
    )
    rows = [{"customer_id": c} for c in CUSTOMERS]
    service = served.store.get_feature_service("sfv_service")
    theirs = served.store.get_online_features(service, rows).proto
    _assert_same_as_feast(ours, theirs)  # Feast's SDK never checks the TTL


def test_training_set_joins_it_as_the_oracle(tmp_path):
    # It was FEATURE_VIEW_NOT_FOUND.
    store = stream_repo(tmp_path)
    at = [NOW - timedelta(hours=h) for h in (6, 3, 1)]
    entities = pd.DataFrame(
        [(c, t) for c in (1, 2, 6, 999) for t in at],
        columns=["customer_id", "event_timestamp"],
    )
    entities_path = tmp_path / "entities.parquet"
    entities.to_parquet(entities_path)
    out = tmp_path / "set.parquet"
    result = CliRunner().invoke(
        cli,
        ["training-set", "--repo", str(store.repo_path), "--entities",
         str(entities_path), "--feature-service", "sfv_service", "--out", str(out),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)
    got = pd.read_parquet(out)[["customer_id", "event_timestamp", "clicks"]]
    oracle = pd.merge_asof(
        entities.sort_values("event_timestamp"),
        _clicks()[["customer_id", "event_timestamp", "clicks"]].sort_values(
            "event_timestamp"
        ),
        on="event_timestamp",
        by="customer_id",
        tolerance=TTL,
    )
    key = ["customer_id", "event_timestamp"]
    got = got.sort_values(key).reset_index(drop=True)
    oracle = oracle.sort_values(key).reset_index(drop=True)
    assert got.customer_id.tolist() == oracle.customer_id.tolist()
    assert got.event_timestamp.tolist() == oracle.event_timestamp.tolist()
    assert [None if pd.isna(v) else int(v) for v in got.clicks] == [
        None if pd.isna(v) else int(v) for v in oracle.clicks
    ]
