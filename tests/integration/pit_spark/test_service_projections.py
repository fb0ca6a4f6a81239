"""A feature service's projections (with_join_key_map, with_name) in both joins.

Feast hands its offline store views with the service's projection applied;
our entry points resolved a service to the registered views instead, so a
join-key map was dropped (the join used customer_id where the service said
sender_id: another customer's row, silently) and an alias was an unknown
view. The oracle is a dictionary lookup: one feature row per customer.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from featurestore.services.offline import HistoricalRequest, get_historical_features

pytestmark = [pytest.mark.spark, pytest.mark.integration]

TS = pa.timestamp("us", tz="UTC")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
F1 = {1: 10.0, 2: 20.0, 3: 30.0}
"""The oracle: customer -> f1 (one row each, at T0)."""

DEFINITIONS = """\
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64
from featurestore.services.project import table_ref

customer = Entity(
    name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
)
spend = FeatureView(
    name="spend", entities=[customer], ttl=timedelta(0),
    schema=[Field(name="f1", dtype=Float64)],
    source=FileSource(name="spend", path=table_ref("spend"), file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
by_sender = FeatureService(
    name="by_sender", features=[spend.with_join_key_map({"customer_id": "sender_id"})]
)
both = FeatureService(name="both", features=[
    spend.with_name("sender").with_join_key_map({"customer_id": "sender_id"}),
    spend.with_name("receiver").with_join_key_map({"customer_id": "receiver_id"}),
])
plain = FeatureService(name="plain", features=[spend])
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    from feast import FeatureStore

    root = tmp_path_factory.mktemp("projections")
    repo, data = root / "repo", root / "data"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        textwrap.dedent(f"""\
            project: projections
            provider: local
            registry: {data}/registry.db
            offline_store: {{type: featurestore.services.offline.DeltaOfflineStore}}
            online_store: {{type: sqlite, path: {data}/online.db}}
            entity_key_serialization_version: 3
            auth: {{type: no_auth}}
            """)
    )
    (repo / "featurestore.yaml").write_text(f"data_dir: {data}\n")
    (repo / "definitions.py").write_text(DEFINITIONS)
    write_deltalake(
        str(data / "features" / "spend"),
        pa.table(
            {
                "customer_id": pa.array(list(F1), pa.int64()),
                "event_timestamp": pa.array([T0] * len(F1), TS),
                "created_timestamp": pa.array([T0] * len(F1), TS),
                "f1": list(F1.values()),
            }
        ),
    )
    feast = Path(sys.executable).parent / "feast"
    subprocess.run([str(feast), "apply"], cwd=repo, check=True, capture_output=True)
    return FeatureStore(repo_path=str(repo))


def _entity() -> pa.Table:
    # customer_id is there too: a join that ignores the map reads it.
    return pa.table(
        {
            "customer_id": pa.array([1, 2, 3], pa.int64()),
            "sender_id": pa.array([2, 3, 1], pa.int64()),
            "receiver_id": pa.array([3, 1, 2], pa.int64()),
            "event_timestamp": pa.array([T0 + timedelta(minutes=5)] * 3, TS),
        }
    )


def _expected(service: str, full_names: bool) -> dict[str, list[float]]:
    entity = _entity().to_pydict()
    if service == "by_sender":
        name = "spend__f1" if full_names else "f1"
        return {name: [F1[c] for c in entity["sender_id"]]}
    if service == "both":
        return {
            "sender__f1": [F1[c] for c in entity["sender_id"]],
            "receiver__f1": [F1[c] for c in entity["receiver_id"]],
        }
    return {"spend__f1" if full_names else "f1": [F1[c] for c in entity["customer_id"]]}


CASES = [("by_sender", False), ("by_sender", True), ("both", True), ("plain", False)]


@pytest.mark.parametrize(("service", "full_names"), CASES)
def test_the_duckdb_join_applies_the_services_projections(store, service, full_names):
    request = HistoricalRequest(
        entity=_entity(), features=service, full_feature_names=full_names
    )
    result = get_historical_features(store, request)
    got = result.table.to_pydict()
    for column, values in _expected(service, full_names).items():
        assert got[column] == values, column
    # Feast's own API (its projections, our offline store) agrees.
    feast = store.get_historical_features(
        entity_df=_entity().to_pandas(),
        features=store.get_feature_service(service),
        full_feature_names=full_names,
    ).to_df()
    for column, values in _expected(service, full_names).items():
        assert feast[column].tolist() == values, column
    # The replay manifest records the mapped key: replaying gives the same.
    from featurestore.services.offline.historical import replay

    assert replay(result.manifest, _entity()).to_pydict() == got


@pytest.mark.parametrize(("service", "full_names"), CASES)
def test_the_spark_join_applies_the_services_projections(
    spark, to_spark, store, service, full_names
):
    from featurestore.spark_jobs.pit.training_set import build_training_set_spark

    built = build_training_set_spark(
        spark, store, to_spark(_entity()), service, full_feature_names=full_names
    )
    rows = sorted(built.df.collect(), key=lambda r: r["customer_id"])
    for column, values in _expected(service, full_names).items():
        assert [r[column] for r in rows] == values, column
