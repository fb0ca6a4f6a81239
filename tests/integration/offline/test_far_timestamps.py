"""Feature rows dated outside 1677..2262 neither fail retrieval nor materialise.

Delta timestamps are microseconds, so a table may hold year 1 or 9999 (a
sentinel, a typo); one such row, even for another key, used to fail the
whole view with TIMESTAMP_OUT_OF_RANGE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from featurestore.services.offline import (
    HistoricalRequest,
    get_historical_features,
)
from featurestore.services.online.materialize import materialize
from tests.delta_repo import delta_repo, pulled

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=6)
TS = pa.timestamp("us", tz="UTC")
YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
YEAR_3000 = datetime(3000, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Int64
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
stats_view = FeatureView(
    name="stats", entities=[customer], ttl=timedelta(0),
    schema=[Field(name="visits", dtype=Int64)],
    source=FileSource(name="stats", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
"""


# (customer_id, event, created, visits)
ROWS = [
    (1, YEAR_9999, T0, 10),  # never qualifies: no entity time reaches it
    (1, T0 - timedelta(hours=1), T0, 11),
    (2, YEAR_1, YEAR_1, 20),  # qualifies: no TTL
    (3, T0 + timedelta(hours=1), YEAR_3000, 30),  # the tie's winner; known in 3000
    (3, T0 + timedelta(hours=1), T0 + timedelta(hours=1), 31),
    (4, T0 + timedelta(hours=2), T0 + timedelta(hours=2), 40),
]


@pytest.fixture
def store(tmp_path):
    (tmp_path / "data").mkdir()
    write_deltalake(
        str(tmp_path / "data" / "stats"),
        pa.table(
            {
                "customer_id": pa.array([r[0] for r in ROWS], pa.int64()),
                "event_timestamp": pa.array([r[1] for r in ROWS], TS),
                "created_timestamp": pa.array([r[2] for r in ROWS], TS),
                "visits": pa.array([r[3] for r in ROWS], pa.int64()),
            }
        ),
    )
    return delta_repo(tmp_path, "far", DEFINITIONS)


def _oracle(customer, t, as_known_at):
    best = None
    for cid, e, c, v in ROWS:
        if cid != customer or e > t or (as_known_at and c > t):
            continue
        if best is None or (e, c, v) > best:
            best = (e, c, v)
    return None if best is None else best[2]


@pytest.mark.parametrize("as_known_at", [False, True])
def test_retrieval_matches_the_oracle(store, as_known_at):
    customers = [1, 2, 3, 4, 1, 3]
    times = [NOW] * 4 + [T0 - timedelta(hours=2), T0 + timedelta(minutes=30)]
    entity = pa.table(
        {
            "customer_id": pa.array(customers, pa.int64()),
            "event_timestamp": pa.array(times, TS),
        }
    )
    result = get_historical_features(
        store,
        HistoricalRequest(
            entity=entity, features=["stats:visits"], as_known_at=as_known_at
        ),
    )
    want = [_oracle(c, t, as_known_at) for c, t in zip(customers, times, strict=True)]
    assert result.table.column("visits").to_pylist() == want
    assert want[:4] == ([11, 20, 31, 40] if as_known_at else [11, 20, 30, 40])


def _pull(store, start, end, latest):
    return pulled(store, "stats", ["customer_id"], start, end, latest=latest)


def test_pulls_compare_bounds_in_the_tables_own_unit(store):
    # Bounds anywhere a datetime reaches, naive (UTC) or not.
    assert _pull(store, YEAR_1, YEAR_9999, latest=False) == [11, 20, 30, 31, 40]
    far_end = YEAR_9999 + timedelta(microseconds=1)
    assert _pull(store, YEAR_1, far_end, latest=False) == [10, 11, 20, 30, 31, 40]
    assert _pull(store, None, None, latest=False) == [10, 11, 20, 30, 31, 40]
    assert _pull(store, YEAR_1 + timedelta(microseconds=1), NOW, latest=False) == [
        11,
        30,
        31,
        40,
    ]
    assert _pull(store, YEAR_1, NOW, latest=True) == [11, 20, 30, 40]
    naive = YEAR_9999.replace(tzinfo=None) + timedelta(microseconds=1)
    assert _pull(store, YEAR_1.replace(tzinfo=None), naive, latest=True) == [
        10,
        20,
        30,
        40,
    ]


def test_materialize_writes_the_other_rows(store):
    assert materialize(store.repo_path, T0 - timedelta(hours=2), NOW) == {"stats": 3}
    online = store.get_online_features(
        features=["stats:visits"],
        entity_rows=[{"customer_id": c} for c in (1, 2, 3, 4)],
    ).to_dict()
    assert online["visits"] == [11, None, 30, 40]
