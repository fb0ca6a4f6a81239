"""A source whose field_mapping renames its timestamp columns reads as the same
table without a mapping, in every engine and store.

The oracle is the unmapped table: ``plain`` reads ``event_timestamp`` and
``created_timestamp``; ``mapped_ts`` holds the same rows with the event time
in ``src_ts`` (``timestamp_field="event_timestamp"``,
``field_mapping={"src_ts": "event_timestamp"}``, as Feast reads them) and
``mapped_both`` the created time in ``src_created`` too. Each view's
training sets (the DuckDB join, its manifest's replay, Feast's API over our
offline store, the Spark join), ``featurestore materialize`` and online reads
through the server must answer as ``plain`` does. The rows have ties on event
time (broken by created time, then the features), a row without a created
time, and a TTL that leaves some entity rows without a value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from feast import FeatureStore

from featurestore.services.offline import HistoricalRequest, get_historical_features
from featurestore.services.offline.historical import replay
from featurestore.services.online.materialize import materialize
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb
from featurestore.v1.feature_store_service_pb2_grpc import FeatureStoreServiceStub
from tests.integration.serving._repo import serve

pytestmark = [pytest.mark.spark, pytest.mark.integration]

TS = pa.timestamp("us", tz="UTC")
# Recent, so that online reads judge ages against the TTL: one key's newest
# row is older than 30 min at read time, the other's is not.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=60)
MAPPED = ("mapped_ts", "mapped_both")
COLUMNS = {
    "plain": {},
    "mapped_ts": {"event_timestamp": "src_ts"},
    "mapped_both": {"event_timestamp": "src_ts", "created_timestamp": "src_created"},
}
"""Per view: the table's name for each column the view reads under another."""

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)
merchant = Entity(
    name="merchant", join_keys=["merchant_id"], value_type=ValueType.INT64
)

def view(name, mapping):
    # Feast's convention: the timestamp settings name the view's columns, and
    # field_mapping says which table column each one is read from.
    return FeatureView(
        name=name, entities=[card, merchant], ttl=timedelta(minutes=30),
        schema=[Field(name="amount", dtype=Float64), Field(name="n", dtype=Int64)],
        source=FileSource(
            name=name, path=f"data/{name}", file_format=DeltaFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp", field_mapping=mapping,
        ),
    )

plain_view = view("plain", None)
mapped_ts_view = view("mapped_ts", {"src_ts": "event_timestamp"})
mapped_both_view = view(
    "mapped_both",
    {"src_ts": "event_timestamp", "src_created": "created_timestamp"},
)
"""

YAML = """project: mapped_times
registry: {root}/registry.db
provider: local
online_store:
  type: sqlite
  path: {root}/online.db
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
"""


def _at(minutes: list[int | None]) -> list[datetime | None]:
    return [None if m is None else T0 + timedelta(minutes=m) for m in minutes]


def _rows() -> pa.Table:
    """(card, merchant, event, created, amount, n), minutes after T0."""
    rows = [
        (1, 12, 0, 0, 1.0, 1),
        (11, 2, 0, 0, 2.0, 2),
        (1, 12, 10, 10, 3.0, 3),
        (1, 12, 10, 20, 4.0, 4),
        (1, 12, 10, 20, 4.5, 0),
        (11, 2, 40, 40, 5.0, 5),
        (11, 2, 40, None, 9.0, 9),
    ]
    card, merchant, event, created, amount, n = zip(*rows, strict=True)
    return pa.table(
        {
            "card_id": pa.array(card, pa.int64()),
            "merchant_id": pa.array(merchant, pa.int64()),
            "event_timestamp": pa.array(_at(list(event)), TS),
            "created_timestamp": pa.array(_at(list(created)), TS),
            "amount": pa.array(amount, pa.float64()),
            "n": pa.array(n, pa.int64()),
        }
    )


def _entity() -> pa.Table:
    """Entity rows: before, between and after the feature rows, and beyond TTL."""
    rows = [(1, 12, 5), (11, 2, 5), (1, 12, 15), (1, 12, 25), (11, 2, 45)]
    rows += [(1, 12, 60), (11, 2, 80), (7, 7, 20)]
    card, merchant, minutes = zip(*rows, strict=True)
    return pa.table(
        {
            "request_id": pa.array(range(len(rows)), pa.int64()),
            "card_id": pa.array(card, pa.int64()),
            "merchant_id": pa.array(merchant, pa.int64()),
            "event_timestamp": pa.array(_at(list(minutes)), TS),
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FeatureStore:
    root = tmp_path_factory.mktemp("mapped_times")
    repo = root / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(YAML.format(root=root))
    (repo / "definitions.py").write_text(DEFINITIONS)
    rows = _rows()
    for name, columns in COLUMNS.items():
        table = rows.rename_columns([columns.get(c, c) for c in rows.column_names])
        write_deltalake(str(repo / "data" / name), table)
    ns: dict[str, object] = {}
    exec(compile(DEFINITIONS, str(repo / "definitions.py"), "exec"), ns)
    store = FeatureStore(repo_path=str(repo))
    store.apply([ns["card"], ns["merchant"]] + [ns[f"{n}_view"] for n in COLUMNS])
    return store


def _refs(view: str) -> list[str]:
    return [f"{view}:amount", f"{view}:n"]


def _duckdb(store: FeatureStore, view: str) -> dict[str, list[object]]:
    result = get_historical_features(
        store, HistoricalRequest(entity=_entity(), features=_refs(view))
    )
    rows = result.table.sort_by("request_id")
    # The manifest reads the same columns of the same versions.
    assert replay(result.manifest, _entity()).sort_by("request_id").equals(rows)
    return rows.to_pydict()


@pytest.mark.parametrize("view", MAPPED)
def test_the_duckdb_join_and_its_replay_read_it_as_unmapped(store, view):
    expected = _duckdb(store, "plain")
    assert expected["amount"].count(None) not in (0, len(expected["amount"]))
    assert _duckdb(store, view) == expected


@pytest.mark.parametrize("view", MAPPED)
def test_feasts_api_over_our_offline_store_reads_it_as_unmapped(store, view):
    def read(name: str) -> list[dict[str, object]]:
        frame = store.get_historical_features(
            entity_df=_entity().to_pandas(), features=_refs(name)
        ).to_df()
        frame = frame.sort_values("request_id")[["request_id", "amount", "n"]]
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    assert read(view) == read("plain")


@pytest.mark.parametrize("view", MAPPED)
def test_the_spark_join_reads_it_as_unmapped(spark, to_spark, store, view):
    from featurestore.spark_jobs.pit.training_set import build_training_set_spark

    def read(name: str) -> list[tuple[object, ...]]:
        built = build_training_set_spark(spark, store, to_spark(_entity()), _refs(name))
        rows = built.df.select("request_id", "amount", "n").collect()
        return sorted(tuple(r) for r in rows)

    expected = read("plain")
    assert read(view) == expected
    duckdb = _duckdb(store, "plain")
    assert expected == list(
        zip(duckdb["request_id"], duckdb["amount"], duckdb["n"], strict=True)
    )


def test_materialize_and_online_reads_read_it_as_unmapped(store):
    start, end = T0 - timedelta(days=1), datetime.now(UTC) + timedelta(minutes=1)
    written = materialize(store.repo_path, start, end)
    assert written == {name: 2 for name in COLUMNS}
    served = serve(store)
    try:
        stub = FeatureStoreServiceStub(served.channel)
        keys = {
            key: common_pb2.ValueList(
                values=[common_pb2.Value(int64_value=v) for v in values]
            )
            for key, values in (("card_id", [1, 11, 7]), ("merchant_id", [12, 2, 7]))
        }

        def read(name: str) -> list[tuple[object, ...]]:
            request = pb.GetOnlineFeaturesRequest(features=_refs(name), entities=keys)
            answer = stub.GetOnlineFeatures(request, timeout=20)
            return [
                (c.name, list(c.values), list(c.statuses), list(c.event_times))
                for c in answer.columns
            ]

        expected = read("plain")
        statuses = {s for column in expected for s in column[2]}
        assert len(statuses) == 3  # present, outside max age, not found
        for view in MAPPED:
            assert read(view) == expected, view
    finally:
        served.stop()
