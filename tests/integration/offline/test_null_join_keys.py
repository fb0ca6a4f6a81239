"""Feature rows with a null join key are never materialised (SQLite and Redis).

Such a row names no entity. It was written online under the key text "None"
(string keys: a client asking for merchant_id="None" got it back PRESENT) or
failed the whole materialise run (int64 keys: exit 2, a garbled message).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import write_deltalake
from feast import FeatureStore

from featurestore.services.cli import cli
from featurestore.services.online import Reason
from featurestore.services.online._keys import encode_entity_keys
from featurestore.services.online.errors import UnsupportedJoinKeyTypeError
from featurestore.services.online.materialize import materialize
from featurestore.services.online.model import JoinKeyType
from tests.delta_repo import delta_repo, pulled
from tests.redis_harness import start_redis_process

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=6)
TS = pa.timestamp("us", tz="UTC")

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Int64
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
merchant = Entity(name="merchant", join_keys=["merchant_id"],
                  value_type=ValueType.STRING)
def view(name, entities):
    return FeatureView(
        name=name, entities=entities, ttl=timedelta(days=1),
        schema=[Field(name="visits", dtype=Int64)],
        source=FileSource(name=name, path=f"data/{name}", file_format=DeltaFormat(),
                          timestamp_field="event_timestamp",
                          created_timestamp_column="created_timestamp"),
    )
by_customer_view = view("by_customer", [customer])
by_merchant_view = view("by_merchant", [merchant])
by_pair_view = view("by_pair", [customer, merchant])
"""


# (customer_id, merchant_id, hours ago, visits): the null-key rows are the
# newest, so a "latest per key" that kept them would pick them.
ROWS = [
    (1, "m1", 5, 10),
    (1, "m1", 3, 11),
    (2, "m2", 4, 20),
    (None, "m2", 1, 90),
    (2, None, 1, 91),
    (None, None, 1, 92),
    (None, "m3", 2, 93),  # m3 and customer 3 only ever with the other key null
    (3, None, 2, 94),
]


def _table(pick):
    return pa.table(
        {
            **pick,
            "visits": pa.array([r[3] for r in ROWS], pa.int64()),
            "event_timestamp": pa.array(
                [NOW - timedelta(hours=r[2]) for r in ROWS], TS
            ),
            "created_timestamp": pa.array(
                [NOW - timedelta(hours=r[2]) for r in ROWS], TS
            ),
        }
    )


CUSTOMER = pa.array([r[0] for r in ROWS], pa.int64())
MERCHANT = pa.array([r[1] for r in ROWS], pa.string())


def _repo(path, online: str) -> FeatureStore:
    data = path / "data"
    data.mkdir(parents=True)
    write_deltalake(str(data / "by_customer"), _table({"customer_id": CUSTOMER}))
    write_deltalake(str(data / "by_merchant"), _table({"merchant_id": MERCHANT}))
    write_deltalake(
        str(data / "by_pair"),
        _table({"customer_id": CUSTOMER, "merchant_id": MERCHANT}),
    )
    return delta_repo(path, "nullkeys", DEFINITIONS, online=online)


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
        return
    server = start_redis_process(tmp_path / "redis")
    try:
        online = f"  type: redis\n  connection_string: {server.host}:{server.port}"
        yield _repo(tmp_path, online)
    finally:
        server.stop()


def _online(store, view, rows):
    return store.get_online_features(
        features=[f"{view}:visits"], entity_rows=rows
    ).to_dict()["visits"]


def test_materialize_skips_null_keys_and_writes_the_others(store):
    # The string view alone first: it used to write the key "None".
    assert materialize(store.repo_path, T0, NOW, ["by_merchant"]) == {"by_merchant": 3}
    assert _online(store, "by_merchant", [{"merchant_id": "None"}]) == [None]
    counts = materialize(store.repo_path, T0, NOW)
    assert counts == {"by_customer": 3, "by_merchant": 3, "by_pair": 2}
    assert _online(store, "by_customer", [{"customer_id": c} for c in (1, 2, 3)]) == [
        11,
        91,
        94,
    ]
    merchants = [{"merchant_id": m} for m in ("m1", "m2", "m3", "None")]
    assert _online(store, "by_merchant", merchants) == [11, 90, 93, None]
    pairs = [
        {"customer_id": 1, "merchant_id": "m1"},
        {"customer_id": 2, "merchant_id": "m2"},
        {"customer_id": 2, "merchant_id": "None"},
    ]
    assert _online(store, "by_pair", pairs) == [11, 20, None]


def test_the_cli_materializes_every_view(tmp_path):
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
    result = CliRunner().invoke(
        cli,
        ["materialize", T0.isoformat(), NOW.isoformat(), "--repo", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "online.db") as conn:
        for view, want in (("by_customer", 3), ("by_merchant", 3), ("by_pair", 2)):
            (keys,) = conn.execute(
                f"SELECT COUNT(DISTINCT entity_key) FROM nullkeys_{view}"
            ).fetchone()
            assert keys == want, view
    # Feast's own materialise reads through the same pulls.
    store.materialize(T0, NOW)
    assert _online(store, "by_merchant", [{"merchant_id": "None"}]) == [None]


@pytest.mark.parametrize("latest", [False, True])
def test_both_pulls_leave_null_keys_out(tmp_path, latest):
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
    got = pulled(
        store, "by_pair", ["customer_id", "merchant_id"], T0, NOW, latest=latest
    )
    want = [10, 11, 20] if not latest else [11, 20]
    assert got == want


@pytest.mark.parametrize(
    "key_type", [JoinKeyType.INT64, JoinKeyType.STRING, JoinKeyType.INT32, None]
)
def test_the_key_encoders_refuse_a_null_key(key_type):
    # The backstop, whoever calls: a null key is an unsupported type "null"
    # (as the server's JOIN_KEY_TYPE_MISMATCH "got null"), never the key
    # text "None" nor int()'s message.
    values = [1, None] if key_type is not JoinKeyType.STRING else ["a", None]
    types = None if key_type is None else (key_type,)
    if key_type is None:
        values = [None, 1]  # the first value drives the type inference
    with pytest.raises(UnsupportedJoinKeyTypeError) as caught:
        encode_entity_keys(("customer_id",), types, {"customer_id": values}, 3)
    assert caught.value.reason is Reason.UNSUPPORTED_JOIN_KEY_TYPE
    assert caught.value.metadata == {"join_key": "customer_id", "type": "null"}
