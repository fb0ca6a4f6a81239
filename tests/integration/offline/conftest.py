"""Fixtures for the offline-store unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

# The project is not installed into the venv and pytest's rootdir insertion
# only adds the test folder, so make `services` importable from the repo root.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from datetime import UTC, datetime, timedelta  # noqa: E402

import pyarrow as pa  # noqa: E402
import pytest  # noqa: E402
from deltalake import CommitProperties, write_deltalake  # noqa: E402

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
CONTRACT_STAMP = '{"contract": "card_merchant@2", "contract_name": "card_merchant"}'


def txn_rows(rows):
    """Rows (card, merchant, e_minutes, c_minutes, amount) -> Arrow table."""
    return pa.table(
        {
            "card_id": pa.array([r[0] for r in rows], pa.int64()),
            "merchant_id": pa.array([r[1] for r in rows], pa.int64()),
            "event_time": pa.array([T0 + timedelta(minutes=r[2]) for r in rows], TS),
            "created_time": pa.array([T0 + timedelta(minutes=r[3]) for r in rows], TS),
            "amount": pa.array([r[4] for r in rows], pa.float64()),
        }
    )


REPO_PY = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)
merchant = Entity(
    name="merchant", join_keys=["merchant_id"], value_type=ValueType.INT64
)
card_merchant_source = FileSource(
    name="card_merchant",
    path="data/card_merchant",
    file_format=DeltaFormat(),
    timestamp_field="event_time",
    created_timestamp_column="created_time",
)
card_merchant_view = FeatureView(
    name="card_merchant",
    entities=[card, merchant],
    ttl=timedelta(minutes=30),
    schema=[Field(name="amount", dtype=Float64)],
    source=card_merchant_source,
)
"""

YAML = """project: offline_it
registry: {registry}
provider: local
online_store:
  type: sqlite
  path: {online}
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
materialization:
  pull_latest_features: {pull_latest}
"""


@pytest.fixture
def feast_repo(tmp_path, request):
    """A Feast repo with one Delta-backed view over a multi-column key."""
    from feast import FeatureStore

    pull_latest = getattr(request, "param", True)
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        YAML.format(
            registry=tmp_path / "registry.db",
            online=tmp_path / "online.db",
            pull_latest=str(pull_latest).lower(),
        )
    )
    (repo / "definitions.py").write_text(REPO_PY)
    write_deltalake(
        str(repo / "data" / "card_merchant"),
        txn_rows(
            [
                (1, 12, 0, 0, 1.0),
                (11, 2, 0, 0, 2.0),
                (1, 12, 10, 10, 3.0),
                (1, 12, 10, 20, 4.0),  # same e, later c: wins unless as-known-at
                (11, 2, 40, 40, 5.0),
            ]
        ),
        commit_properties=CommitProperties(
            custom_metadata={"userMetadata": CONTRACT_STAMP}
        ),
    )
    ns: dict = {}
    exec(compile(REPO_PY, str(repo / "definitions.py"), "exec"), ns)
    store = FeatureStore(repo_path=str(repo))
    store.apply([ns["card"], ns["merchant"], ns["card_merchant_view"]])
    return store, repo
