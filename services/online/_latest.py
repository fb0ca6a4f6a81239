"""Keep the latest row per entity of an Arrow batch, keyed by Feast's entity key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from feast.feature_view import DUMMY_ENTITY_ID

from featurestore.services.offline.join import latest_per_key
from featurestore.services.offline.store import with_dummy_key
from featurestore.services.online._keys import encode_entity_keys
from featurestore.services.online.errors import (
    InvalidEntityRowsError,
    UnsupportedOnlineStoreError,
)
from featurestore.services.online.model import JoinKeyType, key_fields

if TYPE_CHECKING:
    from feast import FeatureView


@dataclass(frozen=True, slots=True)
class LatestRows:
    """The latest row per entity, ordered by serialised entity key.

    Attributes:
        keys: Serialised entity key per row (Feast's ``serialize_entity_key``),
            ascending, so SQLite inserts walk its primary key in order.
        table: The view's feature columns, aligned with ``keys``.
        event_us: Event time per row, epoch microseconds.
        created_us: Created time per row, or None without a created column.
    """

    keys: list[bytes]
    table: pa.Table
    event_us: list[int]
    created_us: list[int] | None

    def batches(self, size: int) -> Iterator[LatestRows]:
        """Consecutive slices of at most ``size`` rows (bounded memory)."""
        for start in range(0, len(self.keys), size):
            yield self.slice(start, size)

    def slice(self, start: int, size: int) -> LatestRows:
        """Rows ``start`` to ``start + size`` (fewer at the end)."""
        stop = start + size
        return LatestRows(
            self.keys[start:stop],
            self.table.slice(start, size),
            self.event_us[start:stop],
            None if self.created_us is None else self.created_us[start:stop],
        )


def latest_rows(view: FeatureView, table: pa.Table, key_version: int) -> LatestRows:
    """Keep the latest row of each entity, by the offline store's rule.

    The greatest event time wins, then the greatest created time, then the
    greatest tuple of feature values (``services.offline.join.latest_per_key``),
    so materialisation stores the row historical retrieval picks.

    Args:
        view: The feature view; its batch source names the timestamp columns.
        table: Rows with the join keys, features and timestamp columns.
        key_version: Feast ``entity_key_serialization_version``.

    Returns:
        One row per entity, ordered by serialised entity key.

    Raises:
        InvalidEntityRowsError: A join key, feature or timestamp column is missing.
        UnsupportedOnlineStoreError: The view has no batch source.
    """
    source = view.batch_source
    if source is None:
        raise UnsupportedOnlineStoreError("view", f"{view.name} has no batch source")
    ts_col = source.timestamp_field
    created_col = source.created_timestamp_column or None
    key_columns = key_fields(view)
    join_keys = tuple(c.name for c in key_columns)
    features = [f.name for f in view.features]
    times = [ts_col, *([created_col] if created_col else [])]
    if join_keys == (DUMMY_ENTITY_ID,) and DUMMY_ENTITY_ID not in table.column_names:
        table = with_dummy_key(table)  # an entity-less view's rows
    for name in [*join_keys, *features, *times]:
        if name not in table.column_names:
            raise InvalidEntityRowsError(f"table has no column {name!r}", column=name)
    # One rule for "latest", the offline store's: greatest event time, then
    # created time, then feature values (not input order); ranked only where
    # a key repeats, so snapshot-style batches skip the DuckDB pass.
    if _repeats(table, list(join_keys)):
        table = latest_per_key(table, join_keys, ts_col, created_col, features)
    order = pc.sort_indices(table, sort_keys=[(t, "ascending") for t in times])
    key_table = table.select(list(join_keys)).take(order)
    keys = encode_entity_keys(
        join_keys,
        tuple(JoinKeyType(c.dtype.to_value_type().value) for c in key_columns),
        {k: key_table.column(k).to_pylist() for k in join_keys},
        key_version,
    )
    # Ascending time: the last position stored per key is its latest row.
    last = sorted(dict(zip(keys, range(len(keys)), strict=True)).items())
    rows = order.take(pa.array([i for _, i in last], pa.int64()))
    picked = table.select([*features, *times]).take(rows)
    return LatestRows(
        keys=[k for k, _ in last],
        table=picked.select(features),
        event_us=_epoch_us(picked, ts_col),
        created_us=_epoch_us(picked, created_col) if created_col else None,
    )


def _repeats(table: pa.Table, keys: list[str]) -> bool:
    if not keys:  # an entity-less view: all rows are one group
        return bool(table.num_rows > 1)
    # Arrow groups nulls as a key value, as latest_per_key does.
    distinct: int = table.select(keys).group_by(keys).aggregate([]).num_rows
    rows: int = table.num_rows
    return distinct < rows


def _epoch_us(table: pa.Table, column: str) -> list[int]:
    col = table.column(column)
    micros = pc.cast(
        pc.cast(col, pa.timestamp("us", tz=col.type.tz), safe=False), pa.int64()
    )
    values: list[int] = micros.to_pylist()
    return values
