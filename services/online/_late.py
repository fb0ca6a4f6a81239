"""Which entities got rows before a window since a Delta version (late rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Literal, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.services.offline._views import source_names
from featurestore.services.storage.delta import delta_error_detail

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from feast import FeatureView

    from featurestore.services.online._versions import ReadVersion

__all__ = [
    "ALL",
    "LateRowsUnreadableError",
    "Touched",
    "before",
    "late_keys",
    "touched_entities",
    "version_after_window",
    "window_and_touched",
]

# Rows a commit added: its inserts, and the new side of a CDC file's updates.
_ADDED = ("insert", "update_postimage")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _Every(Enum):
    ALL = "all"


ALL = _Every.ALL
Touched: TypeAlias = pa.Table | Literal[_Every.ALL] | None
"""Entities whose rows before the window are ranked too (join keys as the
table names them), ALL of them, or none."""


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


def touched_entities(
    table: DeltaTable,
    view: FeatureView,
    recorded: ReadVersion | None,
    pinned: ReadVersion,
    start: datetime,
) -> tuple[Touched, str | None]:
    """The entities with late rows since ``recorded`` (join keys as the table
    names them; ALL: every entity), and why every entity is re-derived, if
    it is: no version recorded, the table created again, or the rows added
    since unreadable.
    """
    if recorded is None:
        return ALL, (
            "no Delta version recorded for this view (materialised before "
            "versions were recorded, or by feast alone, or by a window that "
            "left a gap or went back)"
        )
    if recorded.table_id != pinned.table_id or recorded.version > pinned.version:
        return ALL, (
            f"the Delta table was created again since version {recorded.version} "
            "was materialised"
        )
    if recorded.version == pinned.version:
        return None, None
    keys = _source_keys(view)
    try:
        found = late_keys(table, recorded.version, keys, _event_column(view), start)
    except LateRowsUnreadableError:
        return ALL, (
            f"the rows added since version {recorded.version} can no longer be "
            "read (its log cleaned up or its files vacuumed)"
        )
    if not found.num_rows:
        return None, None
    return (found if keys else ALL), None


def version_after_window(
    recorded: ReadVersion | None,
    pinned: ReadVersion,
    prior_end: datetime | None,
    start: datetime,
    end: datetime,
) -> ReadVersion | None:
    """The version to record after an explicit window ``[start, end)``.

    The first materialisation of a view records the version it read, as a
    first incremental run does: both write one window, whose rows then
    stand for that version. Later, a window read no late rows before
    ``start``, so it never advances the version: one that continues or
    overlaps the materialised end (``start <= prior_end <= end``) keeps it;
    one that leaves a gap after it, or goes back before it (SQLite then
    holds older rows), forgets it, so the next incremental run re-derives
    every entity's latest row.
    """
    if prior_end is None:
        return pinned
    if start <= prior_end <= end:
        return recorded
    return None


def window_and_touched(
    rows: pa.Table, touched: pa.Table, keys: list[str], event: str, start: datetime
) -> pa.Table:
    """``rows`` from ``start`` on, and the earlier ones of ``touched`` keys."""
    older = pc.fill_null(before(rows[event], start), False)
    # The change feed's reader may type a key otherwise (string_view).
    wanted = touched.select(keys).cast(pa.schema([rows.schema.field(k) for k in keys]))
    late = rows.filter(older).join(wanted, keys, join_type="left semi")
    return pa.concat_tables(
        [rows.filter(pc.invert(older)), late.select(rows.schema.names)]
    )


def _source_keys(view: FeatureView) -> list[str]:
    columns = source_names(view.batch_source) if view.batch_source else {}
    return [columns.get(c.name, c.name) for c in view.entity_columns]


def _event_column(view: FeatureView) -> str:
    source = view.batch_source
    assert source is not None  # _open_source refused a view without one
    return source_names(source).get(source.timestamp_field, source.timestamp_field)
