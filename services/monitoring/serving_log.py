"""Serving logs: sampled online reads written to Delta in Feast's logging schema.

One Delta table per feature view, ``<data_dir>/serving_logs/<view>``, one row
per entity row of a sampled read, partitioned by ``__log_date``. Columns, as
Feast's ``FeatureServiceLoggingSource`` names them: the view's join keys,
then per feature ``<view>__<feature>``, ``<view>__<feature>__timestamp``
(the stored row's event time) and ``<view>__<feature>__status`` (Feast's
``FieldStatus`` number: 1 PRESENT, 3 NOT_FOUND, 4 OUTSIDE_MAX_AGE), then
``__log_timestamp``, ``__log_date`` and ``__request_id``. Features a read did
not ask for are null, status included. A list feature is an Arrow list column
(bytes lists, PDF and image bytes, which Feast's type mapping lacks, binary);
a feature of a type with no Arrow mapping at all is not logged, rather than
losing its view's batch.

The online path only puts a reference to what it already holds on a bounded
queue (never waiting: a full queue counts the read as dropped); a background
thread turns the queued reads into Arrow and appends them every few seconds.
Workers share a view's table: an append that another worker's commit got
ahead of (a schema merge after ``feast apply`` included) is retried on the
table's newer version, a few times, before its rows count as lost.

A feature's log column keeps the type of its first append. A value is only
ever logged as itself: one the column holds unchanged (an integer in a double
column below 2**53, a whole double in an integer column) is cast to it;
otherwise (a feature that turned Int64 -> Float64 serving 2.5) that feature's
three columns stay null in the batch's rows, as for a feature not asked for,
and one warning per view, feature and pair of types says so. Delta's merge
would otherwise cast the batch to the table's types silently (2.5 -> 2).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import Counter

from featurestore.services.online import FeatureStatus
from featurestore.services.storage import join

if TYPE_CHECKING:
    from feast import FeatureView

    from featurestore.services.online import ViewRequest, ViewResult

__all__ = [
    "LOG_DATE",
    "LOG_TIMESTAMP",
    "REQUEST_ID",
    "ServingLog",
    "log_rows",
    "serving_log_uri",
]

log = logging.getLogger(__name__)

LOG_TIMESTAMP = "__log_timestamp"
LOG_DATE = "__log_date"
REQUEST_ID = "__request_id"
_TS = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_CONFIG: dict[str, str | None] = {"delta.dataSkippingStatsColumns": LOG_TIMESTAMP}
"""Statistics on the log time only: a file's stats cover its time range, and the
snapshot of a log of many small files stays small (not 3 columns a feature)."""
_SAFE_VIEW = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_COMMIT_ATTEMPTS = 5
"""Commits tried per view and flush while other writers' commits come first."""

DROPPED = Counter(
    "feature_serving_log_dropped",
    "Sampled online reads not logged because the serving-log queue was full.",
)
LOGGED = Counter(
    "feature_serving_log_rows",
    "Rows appended to the serving logs, by view.",
    ["view"],
)
REFUSED = Counter(
    "feature_serving_log_refused_values",
    "Served values of a feature not logged because its log column holds another "
    "type that would change them, by view.",
    ["view"],
)
FAILED = Counter(
    "feature_serving_log_write_errors",
    "Serving-log appends that failed (the rows are lost), by view.",
    ["view"],
)


def serving_log_uri(data_dir: str, view: str) -> str:
    """Location of ``view``'s serving log: ``<data_dir>/serving_logs/<view>``.

    Raises:
        ValueError: ``view`` cannot be one path component.
    """
    if not _SAFE_VIEW.fullmatch(view) or ".." in view:
        raise ValueError(f"view name {view!r} cannot name a serving-log folder")
    return join(data_dir, "serving_logs", view)


@dataclass(frozen=True, slots=True)
class _Sampled:
    """One sampled online read, as the hot path handed it over."""

    views: Sequence[ViewRequest]
    entity_rows: Mapping[str, Sequence[object]]
    results: Sequence[ViewResult]
    now: datetime
    request_id: str


class ServingLog:
    """A bounded queue of sampled reads and the thread that appends them to Delta.

    Args:
        data_dir: The project's data root (path or URI).
        views: Feature view by name (the server's catalog), for column types.
        request_id: The current call's request id (called on the serving
            thread, only for sampled reads).
        max_queued: Sampled reads held between two flushes; more are dropped.
        flush_seconds: How often queued reads are written.
        storage_options: Object-store options for the Delta writes.
    """

    def __init__(
        self,
        data_dir: str,
        views: Callable[[str], FeatureView],
        request_id: Callable[[], str],
        *,
        max_queued: int = 10_000,
        flush_seconds: float = 60.0,
        storage_options: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir, self._views, self._request_id = data_dir, views, request_id
        self.flush_seconds = flush_seconds
        self.storage_options = dict(storage_options or {})
        self.dropped = 0
        """Sampled reads dropped because the queue was full (this instance)."""
        self._queue: queue.Queue[_Sampled] = queue.Queue(max_queued)
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._tables: dict[str, Any] = {}  # view -> its open DeltaTable
        self._warned: set[tuple[str, str, str, str]] = set()
        self._thread = threading.Thread(
            target=self._run, name="serving-log", daemon=True
        )
        self._thread.start()

    def offer(
        self,
        views: Sequence[ViewRequest],
        entity_rows: Mapping[str, Sequence[object]],
        results: Sequence[ViewResult],
        now: datetime,
    ) -> None:
        """Queue one read for the next flush; when the queue is full, count it
        dropped. Never blocks."""
        try:
            self._queue.put_nowait(
                _Sampled(views, entity_rows, results, now, self._request_id())
            )
        except queue.Full:
            self.dropped += 1
            DROPPED.inc()

    def flush(self) -> int:
        """Append every queued read now; return the rows written."""
        with self._write_lock:
            batch: list[_Sampled] = []
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            return self._write(batch)

    def close(self) -> None:
        """Stop the thread and write what is queued."""
        self._stop.set()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the thread must outlive one bad flush
                log.exception("serving log flush failed")

    def _write(self, batch: list[_Sampled]) -> int:
        per_view: dict[str, list[tuple[_Sampled, ViewResult]]] = defaultdict(list)
        for sampled in batch:
            for request, result in zip(sampled.views, sampled.results, strict=True):
                per_view[request.name].append((sampled, result))
        written = 0
        for name, reads in per_view.items():
            try:
                table = log_rows(self._views(name), reads)
                self._append(name, table)
            except Exception:
                FAILED.labels(name).inc()
                log.exception("serving log of view %r: append failed", name)
                continue
            LOGGED.labels(name).inc(table.num_rows)
            written += table.num_rows
        return written

    def _append(self, view: str, table: pa.Table) -> None:
        from deltalake.exceptions import CommitFailedError

        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                self._commit(view, table)
                return
            except CommitFailedError:
                # Another writer (another worker) committed since this one last
                # read the log. Its schema merge conflicts with any commit made
                # from an older version, so read its commits before retrying.
                if attempt == _COMMIT_ATTEMPTS:
                    raise
                log.info("serving log of view %r: commit conflict, retrying", view)
                cached = self._tables.get(view)
                if cached is not None:
                    cached.update_incremental()

    def _commit(self, view: str, table: pa.Table) -> None:
        from deltalake import DeltaTable, write_deltalake

        # The table stays open between flushes: a write then reads only the
        # commits since (other workers'), not the whole log since the last
        # checkpoint (23 -> 67 ms a commit over 100 commits; 3-7 ms open).
        uri = serving_log_uri(self.data_dir, view)
        target: DeltaTable | None = self._open(uri, view)
        if target is not None:
            table = self._fit(view, uri, pa.schema(target.schema().to_arrow()), table)
        write_deltalake(
            target or uri,
            table,
            mode="append",
            schema_mode="merge",
            partition_by=[LOG_DATE],
            storage_options=None if target is not None else (
                self.storage_options or None
            ),
            configuration=None if target is not None else _CONFIG,
        )  # fmt: skip
        if target is None:
            self._tables[view] = DeltaTable(uri, storage_options=self.storage_options)

    def _open(self, uri: str, view: str) -> Any:
        """The view's log table, kept open; None while it does not exist."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        if view not in self._tables:
            try:
                self._tables[view] = DeltaTable(
                    uri, storage_options=self.storage_options
                )
            except TableNotFoundError:
                return None
        return self._tables[view]

    def _fit(self, view: str, uri: str, logged: pa.Schema, table: pa.Table) -> pa.Table:
        """``table`` in the log's column types where that keeps every value; the
        columns of a feature whose values it would change are nulled (warned)."""
        for field in table.schema:
            status = f"{field.name}__status"
            index = logged.get_field_index(field.name)
            if status not in table.column_names or index < 0:
                continue  # not a feature's value column, or a new one
            column_type = logged.field(index).type
            if field.type == column_type:
                continue
            fitted = _unchanged_as(table[field.name], column_type)
            if fitted is not None:
                table = table.set_column(
                    table.schema.get_field_index(field.name),
                    pa.field(field.name, column_type),
                    fitted,
                )
                continue
            served = pc.sum(pc.is_valid(table[status]).cast(pa.int64())).as_py()
            REFUSED.labels(view).inc(served or 0)
            self._warn(view, uri, field.name, column_type, field.type)
            for name in (field.name, f"{field.name}__timestamp", status):
                i = table.schema.get_field_index(name)
                kind = column_type if name == field.name else table.field(i).type
                table = table.set_column(
                    i, pa.field(name, kind), pa.nulls(table.num_rows, kind)
                )
        return table

    def _warn(
        self, view: str, uri: str, column: str, logged: pa.DataType, served: pa.DataType
    ) -> None:
        key = (view, column, str(logged), str(served))
        if key in self._warned:
            return
        self._warned.add(key)
        feature = column.removeprefix(f"{view}__")
        log.warning(
            "serving log of view %r: feature %r is now served as %s but its log "
            "column %s holds %s, which would change the values; its values are "
            "not logged (null, like a feature not asked for). Move %s aside to "
            "start a log with the view's current types.",
            view, feature, served, column, logged, uri,
        )  # fmt: skip


def _unchanged_as(values: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray | None:
    """``values`` cast to ``to`` when every value survives unchanged, else None.

    Only between numbers, or between string types: a number written as text
    is another value. Arrow's safe cast refuses 2.5 -> int64 and an integer
    beyond 2**53 -> float64 (not exact as a double).
    """
    numeric = (pa.types.is_integer, pa.types.is_floating)
    textual = (pa.types.is_string, pa.types.is_large_string)
    if not any(
        any(k(values.type) for k in kinds) and any(k(to) for k in kinds)
        for kinds in (numeric, textual)
    ):
        return None
    return _cast_exactly(values, to)


def _cast_exactly(values: Any, to: pa.DataType) -> Any:
    """``values`` (an Array or ChunkedArray) cast to ``to`` if every value
    reads back the same, else None. Arrow's safe cast checks integer targets
    (2.5 -> int64 refused) but not a float target's precision or range
    (0.1 -> float32 is 0.10000000149, 1e300 is inf), so those are cast back
    and compared (NaN matching NaN, nulls staying nulls)."""
    try:
        cast = values.cast(to, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not pa.types.is_floating(to) or values.type == to:
        return cast
    back = cast.cast(values.type, safe=False)
    same = pc.equal(back, values)
    if pa.types.is_floating(values.type):
        same = pc.or_kleene(same, pc.and_(pc.is_nan(values), pc.is_nan(back)))
    return cast if pc.all(same).as_py() is not False else None


def log_rows(
    view: FeatureView, reads: Sequence[tuple[_Sampled, ViewResult]]
) -> pa.Table:
    """The serving-log rows of one view's sampled reads (Feast's logging schema).

    Values stay the stored bytes until the whole column is decoded at once
    (``_decode``): a column of doubles is one numpy view, not a parse per value.
    """
    from feast.types import from_feast_to_pyarrow_type

    keys = [(c.name, from_feast_to_pyarrow_type(c.dtype)) for c in view.entity_columns]
    # A feature of a type with no Arrow column here is not logged.
    typed = [(f.name, _log_type(f.dtype)) for f in view.features]
    features = [(name, kind) for name, kind in typed if kind is not None]
    columns: dict[str, list[Any]] = defaultdict(list)
    for sampled, result in reads:
        n = len(result.row_statuses)
        for key, _ in keys:
            columns[key].extend(sampled.entity_rows[key][:n])
        cells = _cells(result)
        # As integers: converting datetimes once per read, not once per feature.
        times = [
            None if t is None else (t - _EPOCH) // _MICRO for t in result.event_times
        ]
        for name, _ in features:
            prefix = f"{view.name}__{name}"
            if name in cells:
                raws, statuses = cells[name]
                columns[prefix].extend(raws)
                columns[f"{prefix}__timestamp"].extend(times)
                columns[f"{prefix}__status"].extend(statuses)
            else:
                for suffix in ("", "__timestamp", "__status"):
                    columns[prefix + suffix].extend([None] * n)
        columns[LOG_TIMESTAMP].extend([sampled.now] * n)
        columns[LOG_DATE].extend([sampled.now.astimezone(UTC).date()] * n)
        columns[REQUEST_ID].extend([sampled.request_id] * n)
    arrays: dict[str, pa.Array] = {}
    fields = [pa.field(key, dtype) for key, dtype in keys]
    for name, dtype in features:
        prefix = f"{view.name}__{name}"
        arrays[prefix] = _decode(columns.pop(prefix), dtype)
        stamps = columns.pop(f"{prefix}__timestamp")
        arrays[f"{prefix}__timestamp"] = pa.array(stamps, pa.int64()).cast(_TS)
        fields += [
            pa.field(prefix, arrays[prefix].type),
            pa.field(f"{prefix}__timestamp", _TS),
            pa.field(f"{prefix}__status", pa.int32()),
        ]
    fields += [
        pa.field(LOG_TIMESTAMP, _TS),
        pa.field(LOG_DATE, pa.date32()),
        pa.field(REQUEST_ID, pa.string()),
    ]
    schema = pa.schema(fields)
    return pa.table(
        {
            f.name: arrays[f.name]
            if f.name in arrays
            else pa.array(columns[f.name], f.type)
            for f in schema
        },
        schema,
    )


def _log_type(dtype: Any) -> pa.DataType | None:
    """The log column type of a feature of Feast type ``dtype``; None when
    Arrow has none here (the feature is not logged)."""
    from feast.types import from_feast_to_pyarrow_type
    from feast.value_type import ValueType

    # Feast's own mapping knows no bytes list, PDF or image bytes (it raised,
    # and the view's whole batch was lost).
    binary = {
        ValueType.BYTES_LIST: pa.list_(pa.binary()),
        ValueType.PDF_BYTES: pa.binary(),
        ValueType.IMAGE_BYTES: pa.binary(),
    }.get(dtype.to_value_type())
    if binary is not None:
        return binary
    try:
        kind: pa.DataType = from_feast_to_pyarrow_type(dtype)
    except ValueError:
        return None
    return kind


def _cells(result: ViewResult) -> dict[str, tuple[list[bytes | None], list[int]]]:
    """Per requested feature: its stored bytes (None: not found) and statuses."""
    out: dict[str, tuple[list[bytes | None], list[int]]] = {
        name: ([], []) for name in result.features
    }
    not_found = int(FeatureStatus.NOT_FOUND)
    columns = [out[name] for name in result.features]
    for raw, row_status in zip(result.raw_values, result.row_statuses, strict=True):
        status = int(row_status)
        for j, (raws, statuses) in enumerate(columns):
            value = None if raw is None else raw[j]
            raws.append(value)
            statuses.append(not_found if value is None else status)
    return out


_DOUBLE_TAG = 0x29
"""A serialised ``ValueProto`` holding ``double_val``: this byte, then 8 bytes."""
_DOUBLE_CELL = np.dtype([("tag", "u1"), ("value", "<f8")])


def _decode(raws: list[bytes | None], dtype: pa.DataType) -> pa.Array:
    """One feature column from stored ``ValueProto`` bytes (None: null).

    Stored doubles (9 bytes, tag 0x29) are read as one numpy view; anything
    else is parsed value by value, as Feast turns values into Python. The
    column has the view's type ``dtype`` when every value survives it
    unchanged, else the stored values' own (the view declares Int64 while the
    store still holds 2.5: the log keeps 2.5, ``_fit`` decides).
    """
    stored = [b for b in raws if b is not None]
    if stored and all(len(b) == 9 and b[0] == _DOUBLE_TAG for b in stored):
        values = np.frombuffer(b"".join(stored), _DOUBLE_CELL)["value"]
        if len(stored) == len(raws):
            doubles = pa.array(values, pa.float64())
        else:
            mask = np.array([b is None for b in raws])
            full = np.zeros(len(raws))
            full[~mask] = values
            doubles = pa.array(full, pa.float64(), mask=mask)
        if doubles.type == dtype:
            return doubles
        cast = _cast_exactly(doubles, dtype)
        return doubles if cast is None else cast
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto
    from feast.type_map import feast_value_type_to_python_type

    parse = ValueProto.FromString
    python = [
        None if b is None else feast_value_type_to_python_type(parse(b)) for b in raws
    ]
    try:
        return pa.array(python, dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(python)
