"""A feature view with no entities joins onto every entity row (real Feast repo)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from featurestore.services.offline import HistoricalRequest, get_historical_features
from tests.delta_repo import delta_repo
from tests.integration.server._served import feast_cli

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
stats_view = FeatureView(
    name="stats", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="spend", dtype=Float64)],
    source=FileSource(name="stats", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
glob_view = FeatureView(
    name="glob", entities=[], ttl=timedelta(days=1),
    schema=[Field(name="gx", dtype=Int64)],
    source=FileSource(name="glob", path="data/glob", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
"""


# (event minutes, created minutes, gx): a tie on event time broken by the
# created time, a backfill (old event, late created), and a row past the TTL
# for the last entity row.
GLOB_ROWS = [(0, 0, 7), (10, 10, 8), (10, 12, 9), (5, 30, 4), (2000, 2000, 1)]


def _table(rows, extra):
    return pa.table(
        {
            **extra,
            "event_timestamp": pa.array(
                [T0 + timedelta(minutes=r[0]) for r in rows], TS
            ),
            "created_timestamp": pa.array(
                [T0 + timedelta(minutes=r[1]) for r in rows], TS
            ),
        }
    )


@pytest.fixture
def store(tmp_path):
    (tmp_path / "data").mkdir()
    write_deltalake(
        str(tmp_path / "data" / "glob"),
        _table(GLOB_ROWS, {"gx": pa.array([r[2] for r in GLOB_ROWS], pa.int64())}),
    )
    stats = [(0, 0), (20, 20)]
    write_deltalake(
        str(tmp_path / "data" / "stats"),
        _table(
            stats,
            {
                "customer_id": pa.array([1, 2], pa.int64()),
                "spend": pa.array([1.5, 2.5], pa.float64()),
            },
        ),
    )
    return delta_repo(tmp_path, "entityless", DEFINITIONS)


ENTITY_MINUTES = [-1, 0, 5, 11, 15, 31, 1450, 3500]


def _entity():
    return pa.table(
        {
            "customer_id": pa.array([1, 2, 3, 1, 2, 3, 1, 2], pa.int64()),
            "event_timestamp": pa.array(
                [T0 + timedelta(minutes=m) for m in ENTITY_MINUTES], TS
            ),
        }
    )


def _oracle(as_known_at):
    """Per entity row, gx of the latest row at or before it within the day."""
    out = []
    for t in ENTITY_MINUTES:
        best = None
        for e, c, gx in GLOB_ROWS:
            if e > t or e < t - 24 * 60 or (as_known_at and c > t):
                continue
            if best is None or (e, c) > best[:2]:
                best = (e, c, gx)
        out.append(best[2] if best else None)
    return out


@pytest.mark.parametrize("as_known_at", [False, True])
def test_an_entity_less_view_joins_like_the_oracle(store, as_known_at):
    result = get_historical_features(
        store,
        HistoricalRequest(
            entity=_entity(),
            features=["glob:gx", "stats:spend"],
            as_known_at=as_known_at,
        ),
    )
    table = result.table
    assert table.column("gx").to_pylist() == _oracle(as_known_at)
    assert table.column("customer_id").to_pylist() == [1, 2, 3, 1, 2, 3, 1, 2]
    assert table.column("spend").to_pylist()[:5] == [None, None, None, 1.5, None]


def test_the_reported_case_and_feasts_own_entry_point(store):
    # The tester's repro: one entity row just after the view's first row.
    entity = pa.table(
        {
            "customer_id": pa.array([1], pa.int64()),
            "event_timestamp": pa.array([T0 + timedelta(minutes=3)], TS),
        }
    )
    result = get_historical_features(
        store, HistoricalRequest(entity=entity, features=["glob:gx"])
    )
    assert result.table.column("gx").to_pylist() == [7]
    df = store.get_historical_features(
        entity_df=_entity().to_pandas(), features=["glob:gx"]
    ).to_df()
    assert [None if v != v else v for v in df["gx"]] == _oracle(False)


def test_feasts_materialize_reads_it_and_feasts_online_read_finds_it(store):
    # It was ValueError "Column __dummy_id not found in table": Feast's own
    # offline stores add the dummy key ("") to an entity-less view's rows.
    rows = [{"customer_id": 1}, {"customer_id": 2}]
    window = (T0 - timedelta(hours=1), T0 + timedelta(minutes=20))
    start, end = (t.strftime("%Y-%m-%dT%H:%M:%S") for t in window)
    feast_cli("materialize", start, end, repo=Path(store.repo_path), env=os.environ)
    got = store.get_online_features(["glob:gx", "stats:spend"], rows).to_dict()
    # The row the join picks in the window: event minute 10, created 12.
    assert got == {"customer_id": [1, 2], "gx": [9, 9], "spend": [1.5, None]}
    # Feast materialises through either pull (all rows, or the latest): it
    # writes every row it gets under the one key, so the latest goes last.
    for latest in (False, True):
        store.config.materialization_config.pull_latest_features = latest
        for (s, e), gx in ((window, 9), ((T0, T0 + timedelta(days=2)), 1)):
            store.materialize(s, e, feature_views=["glob"])
            got = store.get_online_features(["glob:gx"], rows).to_dict()
            assert got == {"customer_id": [1, 2], "gx": [gx, gx]}
