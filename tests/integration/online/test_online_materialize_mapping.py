"""materialize of a view whose source renames columns (field_mapping) vs Feast's."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from feast import FeatureStore

from featurestore.services.online.materialize import materialize
from tests.integration.online.test_online_materialize import NOW, T0, T1, YAML, _rows

pytestmark = pytest.mark.integration

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64, String
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
mapped_view = FeatureView(
    name="mapped", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="amount_mapped", dtype=Float64),
            Field(name="visits", dtype=Int64), Field(name="tier", dtype=String)],
    source=FileSource(name="mapped", path="data/mapped", file_format=DeltaFormat(),
                      timestamp_field="ts", created_timestamp_column="cts",
                      field_mapping={"cid": "customer_id",
                                     "amt_raw": "amount_mapped"}),
)
"""

# The stats rows under the source's own names (ties on event time included).
_SOURCE_NAMES = {
    "customer_id": "cid",
    "spend": "amt_raw",
    "event_timestamp": "ts",
    "created_timestamp": "cts",
}


def _repo(path) -> FeatureStore:
    (path / "data").mkdir(parents=True)
    online = f"  type: sqlite\n  path: {path}/online.db"
    (path / "feature_store.yaml").write_text(YAML.format(repo=path, online=online))
    rows: pa.Table = _rows()
    rows = rows.rename_columns([_SOURCE_NAMES.get(c, c) for c in rows.column_names])
    write_deltalake(str(path / "data" / "mapped"), rows)
    ns: dict[str, object] = {}
    exec(DEFINITIONS, ns)
    store = FeatureStore(repo_path=str(path))
    store.apply([ns["customer"], ns["mapped_view"]])
    return store


def _dump(path) -> list[tuple]:
    with sqlite3.connect(path / "online.db") as conn:
        return conn.execute("SELECT * FROM incr_mapped ORDER BY 1, 2").fetchall()


def test_a_field_mapped_view_is_written_as_feast_writes_it(tmp_path):
    # It was "feature table …/mapped has no column 'customer_id'", nothing
    # written: the table was asked for the view's names, not the source's.
    ours, feast = _repo(tmp_path / "ours"), _repo(tmp_path / "feast")
    for start, end, count in ((T0, T1, 30), (T1, NOW, 20)):
        assert materialize(ours.repo_path, start, end) == {"mapped": count}
        feast.materialize(start, end)
        assert _dump(tmp_path / "ours") == _dump(tmp_path / "feast")
    assert len(_dump(tmp_path / "ours")) == 30 * 3
