"""Arrow batches for the writer tests, plus Feast's own write path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
from feast.utils import _convert_arrow_to_proto

from tests.unit.online import _world as w


def driver_table(n: int, minutes_ago: int = 5, offset: int = 0) -> pa.Table:
    """driver_stats rows with nulls, NaN and sub-second, tz-aware timestamps."""
    ts = w.NOW - timedelta(minutes=minutes_ago, microseconds=250_001)
    ids = list(range(offset, offset + n))
    return pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            "conv_rate": pa.array(
                [None if i % 7 == 0 else i / 3 for i in ids], pa.float32()
            ),
            "acc_rate": pa.array(
                [float("nan") if i % 5 == 0 else i * 0.1 for i in ids], pa.float64()
            ),
            "trips": pa.array([None if i % 11 == 0 else -i for i in ids], pa.int64()),
            "label": pa.array([None if i % 13 == 0 else f"é{i}" for i in ids]),
            "event_timestamp": pa.array([ts] * n, pa.timestamp("us", tz="UTC")),
        }
    )


def feast_write(store: Any, config: Any, view: Any, table: pa.Table) -> None:
    """Feast's own materialisation path: arrow -> protos -> online_write_batch."""
    join_keys = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
    rows = _convert_arrow_to_proto(table, view, join_keys)
    store.online_write_batch(config, view, rows, None)
