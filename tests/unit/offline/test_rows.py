"""JoinedRows: the output, batch by batch, equals Arrow's take on the whole table."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.services.offline import JoinedRows

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SOURCE_SCHEMA = pa.schema(
    [
        pa.field("k", pa.int64(), nullable=False),
        pa.field("e", pa.timestamp("us", tz="UTC")),
        pa.field("f", pa.float64()),
        pa.field("s", pa.string()),
        pa.field("l", pa.list_(pa.int32())),
    ]
)


def _source(n: int) -> pa.Table:
    return pa.table(
        {
            "k": pa.array(range(n), pa.int64()),
            "e": pa.array([T0] * n, SOURCE_SCHEMA.field("e").type),
            "f": pa.array([None if i % 5 == 0 else i / 2 for i in range(n)]),
            "s": pa.array([f"s{i}" if i % 3 else None for i in range(n)]),
            "l": pa.array([[i] * (i % 3) for i in range(n)], pa.list_(pa.int32())),
        },
        schema=SOURCE_SCHEMA,
    )


def _chunked(table: pa.Table, cuts: list[int]) -> pa.Table:
    """The same rows in chunks split at ``cuts`` (empty chunks included)."""
    bounds = [0, *sorted(min(c, table.num_rows) for c in cuts), table.num_rows]
    pieces = [table.slice(a, b - a) for a, b in pairwise(bounds)]
    return pa.concat_tables(pieces)


def _view(table: pa.Table, features: list[str], names: list[str]) -> pa.Table:
    """What the join hands JoinedRows: the view's output columns, in order."""
    del names
    return table.select(features)


def _expected(entity, tables, features, names, winners) -> pa.Table:
    out = entity
    for table, feats, outs, rows in zip(tables, features, names, winners, strict=True):
        taken = table.select(feats).take(pa.array(rows, mask=rows < 0))
        for name, column in zip(outs, taken.columns, strict=True):
            out = out.append_column(name, column)
    return out


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n_entity=st.integers(1, 40),
    n_feature=st.integers(0, 30),
    cuts=st.lists(st.integers(0, 30), max_size=5),
    max_rows=st.integers(1, 50),
)
def test_batches_concatenate_to_arrows_take(data, n_entity, n_feature, cuts, max_rows):
    entity = pa.table(
        {
            "id": pa.array(range(n_entity), pa.int64()),
            "tag": pa.array([f"r{i}" for i in range(n_entity)]),
        }
    )
    entity = _chunked(entity, [n_entity // 3, n_entity // 2])
    source = _chunked(_source(n_feature), cuts)
    pick = st.integers(-1, n_feature - 1)
    winners = [
        np.array(data.draw(st.lists(pick, min_size=n_entity, max_size=n_entity)))
        for _ in range(2)
    ]
    features = [["f", "s", "l"], ["s", "e"]]
    names = [["a_f", "a_s", "a_l"], ["b_s", "b_e"]]
    views = [_view(source, f, n) for f, n in zip(features, names, strict=True)]
    rows = JoinedRows(entity, views, names, winners)

    batches = list(rows.batches(max_rows))

    assert len(batches) == math.ceil(n_entity / max_rows)
    assert all(0 < b.num_rows <= max_rows for b in batches)
    assert all(b.schema == rows.schema for b in batches)
    got = pa.Table.from_batches(batches, schema=rows.schema)
    want = _expected(entity, [source, source], features, names, winners)
    assert got.equals(want)
    assert rows.to_table().equals(want)
    assert rows.num_rows == n_entity


def test_output_fields_are_nullable_and_renamed():
    entity = pa.table({"id": [1, 2]})
    view = _view(_source(3), ["k"], ["key"])
    rows = JoinedRows(entity, [view], [["key"]], [np.array([2, -1])])
    assert rows.schema.field("key").nullable
    assert rows.to_table().column("key").to_pylist() == [2, None]


def test_empty_entity_gives_the_schema_and_no_batches():
    entity = pa.table({"id": pa.array([], pa.int64())})
    view = _view(_source(3), ["s"], ["s"])
    rows = JoinedRows(entity, [view], [["s"]], [np.array([], np.int64)])
    assert list(rows.batches(10)) == []
    assert rows.to_table().schema == rows.schema
    assert rows.reader(10).read_all().num_rows == 0


def test_max_rows_must_be_positive():
    rows = JoinedRows(pa.table({"id": [1]}), [], [], [])
    with pytest.raises(ValueError, match="positive"):
        next(rows.batches(0))


def test_batches_are_assembled_one_at_a_time():
    # Arrow's allocation counter is exact (not RSS, not timing): while one
    # batch is alive, the bytes allocated since the join stay far below
    # the size of the whole output.
    n = 100_000
    entity = pa.table({"id": pa.array(np.arange(n))})
    source = pa.table(
        {"k": pa.array(np.arange(n)), "e": pa.array([T0] * n, SOURCE_SCHEMA[1].type)}
    )
    view = _view(source, ["k"], ["key"])
    rows = JoinedRows(entity, [view], [["key"]], [np.arange(n)[::-1].copy()])
    before = pa.total_allocated_bytes()
    peak = 0
    for batch in rows.batches(1_000):
        peak = max(peak, pa.total_allocated_bytes() - before)
        del batch
    whole = rows.to_table().nbytes
    assert 0 < peak < whole / 20


def test_a_non_nullable_source_column_spread_over_chunks():
    source = _chunked(_source(6), [2, 4])
    view = _view(source, ["k"], ["key"])
    winners = np.array([5, -1, 0, 3])
    rows = JoinedRows(pa.table({"id": [1, 2, 3, 4]}), [view], [["key"]], [winners])
    assert rows.to_table().column("key").to_pylist() == [5, None, 0, 3]


def test_rows_module_imports_nothing_from_the_join():
    # The join imports JoinedRows; the reverse import made a cycle.
    import ast
    import inspect

    from featurestore.services.offline import _rows

    tree = ast.parse(inspect.getsource(_rows))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not any(name.startswith("featurestore.services") for name in imported)
