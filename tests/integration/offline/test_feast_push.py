"""Feast's push into a view whose batch source is one of our Delta tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from feast import FeatureStore
from feast.data_source import PushMode

from featurestore.services.offline import Reason, UnsupportedSourceError

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
TS = pa.timestamp("us", tz="UTC")

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Int64
from featurestore.services.project import table_ref
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
push_src = PushSource(name="push_src", batch_source=FileSource(
    name="push_stats", path=table_ref("push_stats"), file_format=DeltaFormat(),
    timestamp_field="event_timestamp", created_timestamp_column="created_timestamp"))
push_stats_view = FeatureView(
    name="push_stats", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="clicks", dtype=Int64)], source=push_src)
"""

YAML = """project: pushed
registry: {repo}/registry.db
provider: local
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
"""


@pytest.fixture
def store(tmp_path) -> FeatureStore:
    (tmp_path / "feature_store.yaml").write_text(YAML.format(repo=tmp_path))
    (tmp_path / "featurestore.yaml").write_text("data_dir: data\n")
    write_deltalake(
        str(tmp_path / "data" / "features" / "push_stats"),
        pa.table(
            {
                "customer_id": pa.array([1], pa.int64()),
                "event_timestamp": pa.array([NOW], TS),
                "created_timestamp": pa.array([NOW], TS),
                "clicks": pa.array([5], pa.int64()),
            }
        ),
    )
    ns: dict[str, object] = {}
    exec(DEFINITIONS, ns)
    feast = FeatureStore(repo_path=str(tmp_path))
    feast.apply([ns["customer"], ns["push_src"], ns["push_stats_view"]])
    return feast


def _pushed() -> pd.DataFrame:
    now = pd.Timestamp(NOW)
    return pd.DataFrame(
        {
            "customer_id": [2],
            "event_timestamp": [now],
            "created_timestamp": [now],
            "clicks": [777],
        }
    )


@pytest.mark.parametrize("mode", [PushMode.OFFLINE, PushMode.ONLINE_AND_OFFLINE])
def test_an_offline_push_is_refused_saying_to_publish_through_a_job(
    store, tmp_path, mode
):
    # It was deltalake's "TableNotFoundError: Unknown scheme: featurestore"
    # (Feast's FileSource read the table reference as a path).
    with pytest.raises(UnsupportedSourceError) as err:
        store.push("push_src", _pushed(), to=mode)
    assert err.value.reason is Reason.UNSUPPORTED_SOURCE
    assert err.value.metadata["source"] == "push_stats"
    # Nothing reached the feature table: it still holds its one published row.
    table = DeltaTable(str(tmp_path / "data" / "features" / "push_stats"))
    assert table.version() == 0
    assert table.to_pyarrow_table().column("clicks").to_pylist() == [5]


def test_an_online_push_still_writes_the_online_store(store):
    store.push("push_src", _pushed(), to=PushMode.ONLINE)
    online = store.get_online_features(
        features=["push_stats:clicks"], entity_rows=[{"customer_id": 2}]
    ).to_dict()
    assert online["clicks"] == [777]
