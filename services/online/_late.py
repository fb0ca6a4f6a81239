"""Which entities got rows before a window since a Delta version (late rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.services.storage.delta import delta_error_detail

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["LateRowsUnreadableError", "before", "late_keys"]

# Rows a commit added: its inserts, and the new side of a CDC file's updates.
_ADDED = ("insert", "update_postimage")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class LateRowsUnreadableError(Exception):
    """The rows added since a version cannot be read (its log or files gone)."""


def late_keys(
    table: DeltaTable, since: int, keys: list[str], event: str, start: datetime
) -> pa.Table:
    """The distinct ``keys`` of rows added after version ``since`` up to
    ``table``'s loaded version whose ``event`` time is before ``start``.

    Read with delta-rs's change data feed reader, which needs no
    ``delta.enableChangeDataFeed``: without CDC files it takes a commit's
    added data files as its inserts (through the same scan as a snapshot
    read: partition values, deletion vectors, the store's options), and it
    skips commits that change no data (OPTIMIZE). A file an ``overwrite`` or
    ``merge`` rewrote counts as added, whole: more keys, never fewer.
    Rows with a null key name no entity and are left out, as the offline
    store's pull leaves them out. Without ``keys`` (an entity-less view) the
    result has one row when any late row was added, else none.

    Raises:
        LateRowsUnreadableError: A commit or data file of those versions is
            gone (its log cleaned up, or VACUUM removed a file a later commit
            removed), so the rows added cannot be told.
    """
    columns = [*keys, event, "_change_type"]
    try:
        reader = table.load_cdf(
            starting_version=since + 1,
            ending_version=table.version(),
            columns=columns,
        )
        changes = pa.RecordBatchReader.from_stream(reader).read_all()
    except Exception as exc:  # delta-rs raises DeltaError, Arrow ArrowInvalid
        raise LateRowsUnreadableError(delta_error_detail(exc)) from exc
    changes = _without_views(changes)
    kinds = changes.column("_change_type")
    mask = pc.and_(pc.is_in(kinds, pa.array(_ADDED)), before(changes[event], start))
    for key in keys:
        mask = pc.and_(mask, pc.is_valid(changes.column(key)))
    late = changes.filter(mask)
    if not keys:
        return pa.table({"late": pa.array([True] * min(late.num_rows, 1))})
    distinct: pa.Table = late.select(keys).group_by(keys).aggregate([])
    return distinct


def _without_views(table: pa.Table) -> pa.Table:
    """``table`` with DataFusion's ``string_view``/``binary_view`` columns as
    ``string``/``binary``, which every Arrow kernel takes (``take`` does not)."""
    plain = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
    return table.cast(
        pa.schema([f.with_type(plain.get(f.type, f.type)) for f in table.schema])
    )


def before(times: pa.ChunkedArray | pa.Array, moment: datetime) -> pa.ChunkedArray:
    """Whether each time is before ``moment`` (null stays null), compared in
    microseconds as Delta keeps them, with or without a time zone (UTC)."""
    micros = pc.cast(pc.cast(times, pa.timestamp("us"), safe=False), pa.int64())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    bound = (moment - _EPOCH) // _MICROSECOND
    result: pa.ChunkedArray = pc.less(micros, pa.scalar(bound, pa.int64()))
    return result
