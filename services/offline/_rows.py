"""The output of a point-in-time join, taken from its inputs one chunk at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["JoinedRows"]

DEFAULT_BATCH_ROWS = 65_536


class JoinedRows:
    """Entity rows with, per view, the index of the feature row that won.

    Holds only the inputs and one int64 per entity row per view; the output
    columns are taken batch by batch, so a caller streaming or writing the
    result holds one batch of output at a time, never the whole table.
    """

    def __init__(
        self,
        entity: pa.Table,
        sources: Sequence[pa.Table],
        output_names: Sequence[Sequence[str]],
        winners: Sequence[npt.NDArray[np.int64]],
    ) -> None:
        """Wrap a finished join.

        Args:
            entity: The entity rows, in output order.
            sources: Per joined view, in output order, its feature columns
                (the columns to output, in order).
            output_names: Per view, the output names of those columns.
            winners: Per view, the winning feature row index for each
                entity row (int64), or -1 where no row qualifies.
        """
        self._entity = entity
        self._sources = [
            _Source(table, names)
            for table, names in zip(sources, output_names, strict=True)
        ]
        self._winners = list(winners)
        fields = list(entity.schema)
        for source in self._sources:
            fields += source.fields
        self._schema = pa.schema(fields, metadata=entity.schema.metadata)

    @property
    def schema(self) -> pa.Schema:
        """Entity columns, then each view's features under their output names."""
        return self._schema

    @property
    def num_rows(self) -> int:
        """One output row per entity row."""
        return int(self._entity.num_rows)

    def batches(self, max_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Yield the output in order, ``max_rows`` rows at most per batch.

        Raises:
            ValueError: ``max_rows`` is not positive.
        """
        if max_rows <= 0:
            raise ValueError(f"max_rows must be positive, got {max_rows}")
        for start in range(0, self.num_rows, max_rows):
            yield self._batch(start, min(start + max_rows, self.num_rows))

    def reader(self, max_rows: int = DEFAULT_BATCH_ROWS) -> pa.RecordBatchReader:
        """Return the batches as a ``RecordBatchReader`` (for writers)."""
        return pa.RecordBatchReader.from_batches(self._schema, self.batches(max_rows))

    def to_table(self) -> pa.Table:
        """Materialise the whole output as one table."""
        return pa.Table.from_batches(list(self.batches()), schema=self._schema)

    def _batch(self, start: int, stop: int) -> pa.RecordBatch:
        columns = list(self._entity.slice(start, stop - start).columns)
        for source, winners in zip(self._sources, self._winners, strict=True):
            columns += source.take(winners[start:stop]).columns
        arrays = [
            pa.concat_arrays(c.chunks) if isinstance(c, pa.ChunkedArray) else c
            for c in columns
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)


class _Source:
    """A view's feature columns, split into record batches for cheap takes."""

    def __init__(self, table: pa.Table, names: Sequence[str]) -> None:
        self.fields = [
            pa.field(name, f.type) for name, f in zip(names, table.schema, strict=True)
        ]
        self._schema = pa.schema(self.fields)
        # Output names and nullable fields: a row with no match is null even
        # where the source column is not.
        self._batches = [
            pa.RecordBatch.from_arrays(b.columns, schema=self._schema)
            for b in table.to_batches()
            if b.num_rows
        ]
        lengths = [b.num_rows for b in self._batches]
        self._starts = np.cumsum([0, *lengths[:-1]], dtype=np.int64)

    def take(self, rows: npt.NDArray[np.int64]) -> pa.Table:
        """Rows ``rows`` (-1 for a null row), without concatenating the source.

        Arrow's ``take`` on a multi-chunk table concatenates the chunks
        first, which costs a full copy of the view per call; here each
        source batch serves its own rows, then one small take restores order.
        """
        if len(self._batches) == 1:
            return pa.Table.from_batches(
                [self._batches[0].take(pa.array(rows, mask=rows < 0))]
            )
        chunk = np.searchsorted(self._starts, rows, side="right") - 1
        chunk[rows < 0] = -1
        order = np.argsort(chunk, kind="stable")
        pieces = []
        bounds = np.searchsorted(chunk[order], np.arange(-1, len(self._batches) + 1))
        for k, (lo, hi) in enumerate(pairwise(bounds), -1):
            if hi == lo:
                continue
            picked = rows[order[lo:hi]]
            if k < 0:
                pieces.append(_nulls(self._schema, hi - lo))
            else:
                local = pa.array(picked - self._starts[k])
                pieces.append(self._batches[k].take(local))
        if not pieces:
            return self._schema.empty_table()
        gathered = pa.Table.from_batches(pieces, schema=self._schema)
        position = np.empty(len(rows), dtype=np.int64)
        position[order] = np.arange(len(rows), dtype=np.int64)
        return gathered.take(pa.array(position))


def _nulls(schema: pa.Schema, n: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.nulls(n, f.type) for f in schema], schema=schema
    )
