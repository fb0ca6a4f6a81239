"""Quarantined rows of a feature table: filter by run and reason, page, export.

The quarantine table (``<table>_quarantine``, written by
``featurestore.spark_jobs.publish``) holds every failing row with the
contract's columns plus ``reasons`` (a list of ``{column, check}``),
``run_id``, ``contract`` and ``quarantined_at``. A reason's label is
``column:check``, the key of ``by_reason`` in the commit's validation summary.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from deltalake.exceptions import DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.lineage.errors import (
    StorageUnavailableError,
    TableNotFoundError,
    TableUnreadableError,
)
from featurestore.services.storage import (
    StorageOptions,
    delta_error_detail,
    open_delta,
    read_delta,
)

REASONS = "reasons"
"""The column holding each row's failures."""
LABELS = "reason_labels"
"""Added by ``read_quarantine``: each row's reasons as ``column:check`` text."""
_CACHED = 4


@dataclass(frozen=True)
class QuarantinePage:
    """One page of quarantined rows and what the filters can choose from."""

    rows: pa.Table
    """The page's rows; ``reasons`` replaced by ``reason_labels`` (text)."""
    total: int
    """Rows matching the filters, over all pages."""
    offset: int
    """Index of the page's first row among the matching rows."""
    runs: list[str]
    """Every run id in the table, sorted."""
    reasons: list[str]
    """Every reason label in the table, sorted."""
    version: int
    """The quarantine table version read."""


class _Snapshots:
    """The last few quarantine snapshots read, by (path, version)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[tuple[str, int], pa.Table] = {}

    def get(self, path: str, storage: StorageOptions | None) -> tuple[pa.Table, int]:
        """The table at ``path`` as of its current version (read once per version).

        Raises:
            TableNotFoundError: No table there.
            TableUnreadableError: delta-rs cannot read its log (a corrupt commit).
            StorageUnavailableError: The object store did not answer or refused.
        """
        try:
            dt = open_delta(path, storage)
            key = (path, dt.version())
            with self._lock:
                table = self._tables.get(key)
            if table is not None:
                return table, key[1]
            table = _with_labels(read_delta(dt))
        except _DeltaTableNotFoundError as exc:
            raise TableNotFoundError(path) from exc
        except OSError as exc:  # delta-rs: the object store did not answer
            raise StorageUnavailableError(path) from exc
        except DeltaError as exc:  # a table whose log delta-rs cannot read
            detail = delta_error_detail(exc)
            raise TableUnreadableError(path, detail) from exc
        with self._lock:
            if len(self._tables) >= _CACHED:
                self._tables.pop(next(iter(self._tables)))
            self._tables[key] = table
        return table, key[1]


_SNAPSHOTS = _Snapshots()


def _with_labels(table: pa.Table) -> pa.Table:
    if REASONS not in table.column_names:
        return table.append_column(
            LABELS, pa.array([[]] * table.num_rows, pa.list_(pa.string()))
        )
    reasons = table.column(REASONS).combine_chunks()
    flat = pc.list_flatten(reasons)
    text = pc.binary_join_element_wise(
        pc.struct_field(flat, "column"), pc.struct_field(flat, "check"), ":"
    )
    labels = pa.ListArray.from_arrays(reasons.offsets, text)
    index = table.column_names.index(REASONS)
    return table.set_column(index, LABELS, labels)


def _matching(table: pa.Table, run_id: str | None, reason: str | None) -> pa.Table:
    mask = None
    if run_id and "run_id" in table.column_names:
        mask = pc.equal(table.column("run_id"), run_id)
    if reason:
        labels = table.column(LABELS).combine_chunks()
        parents = pc.list_parent_indices(labels)
        hit = pc.equal(pc.list_flatten(labels), reason)
        rows = pc.unique(pc.filter(parents, hit))
        has = pc.is_in(pa.array(range(table.num_rows), pa.int64()), value_set=rows)
        mask = has if mask is None else pc.and_(mask, has)
    return table if mask is None else table.filter(pc.fill_null(mask, False))


def _choices(table: pa.Table, column: str) -> list[str]:
    if column not in table.column_names:
        return []
    values = table.column(column)
    if column == LABELS:
        values = pc.list_flatten(values.combine_chunks())
    return sorted(v for v in pc.unique(values).to_pylist() if v is not None)


def read_quarantine(
    path: str | Path,
    *,
    run_id: str | None = None,
    reason: str | None = None,
    offset: int = 0,
    limit: int = 50,
    storage: StorageOptions | None = None,
) -> QuarantinePage:
    """Read one page of the quarantine table at ``path``, newest rows first.

    Args:
        path: The quarantine table (``<table>_quarantine``).
        run_id: Only rows of this run.
        reason: Only rows failing this ``column:check``.
        offset: Rows of the matching set to skip.
        limit: Rows per page.
        storage: Object-store options (the project's); unused for local paths.

    Raises:
        TableNotFoundError: TABLE_NOT_FOUND when there is no table (nothing
            was ever quarantined).
        TableUnreadableError: TABLE_UNREADABLE when its log cannot be read.
        StorageUnavailableError: STORAGE_UNAVAILABLE when the object store
            did not answer or refused.
    """
    table, version = _SNAPSHOTS.get(str(path), storage)
    matching = _newest_first(_matching(table, run_id, reason))
    return QuarantinePage(
        rows=matching.slice(offset, limit),
        total=matching.num_rows,
        offset=offset,
        runs=_choices(table, "run_id"),
        reasons=_choices(table, LABELS),
        version=version,
    )


def _newest_first(table: pa.Table) -> pa.Table:
    if "quarantined_at" not in table.column_names or table.num_rows == 0:
        return table
    return table.sort_by([("quarantined_at", "descending")])


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _defused(table: pa.Table) -> pa.Table:
    # Quarantined text is untrusted: a cell starting like a formula is quoted
    # so a spreadsheet shows it rather than evaluating it (CSV injection).
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            values = table.column(i).to_pylist()
            safe = [
                f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA) else v
                for v in values
            ]
            table = table.set_column(i, field.name, pa.array(safe, field.type))
    return table


def quarantine_csv(
    path: str | Path,
    *,
    run_id: str | None = None,
    reason: str | None = None,
    storage: StorageOptions | None = None,
) -> Iterator[bytes]:
    """The matching rows as CSV (header first), in chunks of bytes.

    Reasons are written as ``column:check`` labels joined by ``;``.

    Raises:
        TableNotFoundError: TABLE_NOT_FOUND when there is no table.
        TableUnreadableError: TABLE_UNREADABLE when its log cannot be read.
        StorageUnavailableError: STORAGE_UNAVAILABLE when the object store
            did not answer or refused.
    """
    table, _ = _SNAPSHOTS.get(str(path), storage)
    matching = _newest_first(_matching(table, run_id, reason))
    labels = matching.column(LABELS).combine_chunks()
    joined = pa.array([";".join(row) for row in labels.to_pylist()], pa.string())
    index = matching.column_names.index(LABELS)
    flat = _defused(matching.set_column(index, LABELS, joined))
    sink = pa.BufferOutputStream()
    pacsv.write_csv(flat, sink)
    data = sink.getvalue().to_pybytes()
    for start in range(0, len(data), 1 << 16):
        yield data[start : start + (1 << 16)]
