"""GetHistoricalFeatures: entity rows in, Arrow IPC chunks and a manifest out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureStore
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb

from services.offline import (
    HistoricalRequest,
    JoinedRows,
    get_historical_features,
    read_snapshot,
)
from services.server.arrow_ipc import ipc_chunks, read_ipc
from services.server.catalog import Catalog
from services.server.errors import NotFoundError, RequestError

DEFAULT_BATCH_ROWS = 65_536
WRITE_BATCH_ROWS = 65_536
"""Rows per Parquet row group / Delta write batch, whatever the stream's size."""


def stream_historical_features(
    request: pb.GetHistoricalFeaturesRequest, store: FeatureStore, catalog: Catalog
) -> Iterator[pb.GetHistoricalFeaturesResponse]:
    """Join, then stream the rows as one Arrow IPC stream in pieces, manifest last.

    The join keeps only the winning feature row per entity row and view; the
    output is assembled one batch at a time for the optional file and again
    for the stream, so the whole training set is never held in memory.

    Raises:
        RequestError: bad entity rows, references, pins or output options.
        NotFoundError: unknown view/feature/service, entity path or pin.
    """
    batch_rows = request.batch_size or DEFAULT_BATCH_ROWS
    if batch_rows < 0:
        raise RequestError("batch_size", "batch_size must not be negative")
    _check_output(request)
    entity = _entity_rows(request)
    # Resolve first so unknown features fail with NOT_FOUND before any I/O.
    catalog.resolve(list(request.features), request.feature_service)
    result = get_historical_features(
        store,
        HistoricalRequest(
            entity=entity,
            features=request.feature_service or list(request.features),
            pins={view: _pin(pin) for view, pin in request.pins.items()},
            as_known_at=request.as_known_at,
            full_feature_names=request.full_feature_names,
            timestamp_column=request.timestamp_column or None,
        ),
    )
    rows = result.rows
    output_path = _write_output(request, rows)
    for piece in ipc_chunks(rows.batches(batch_rows), rows.schema):
        yield pb.GetHistoricalFeaturesResponse(arrow_ipc=piece)
    manifest = pb.Manifest(
        row_count=rows.num_rows,
        output_path=output_path,
        manifest_json=result.manifest.to_json(),
        tables=[
            pb.TableRead(
                view=t.view, path=t.path, version=t.version, contract=t.contract or ""
            )
            for t in result.manifest.tables
        ],
    )
    manifest.create_time.GetCurrentTime()
    yield pb.GetHistoricalFeaturesResponse(manifest=manifest)


def _entity_rows(request: pb.GetHistoricalFeaturesRequest) -> pa.Table:
    source = request.WhichOneof("entity_source")
    if source == "entity_rows_arrow":
        table = read_ipc(request.entity_rows_arrow, "entity_rows_arrow")
    elif source == "entity_rows_path":
        table = _read_path(Path(request.entity_rows_path))
    else:
        raise RequestError(
            "entity_rows_arrow",
            "no entity rows: set entity_rows_arrow or entity_rows_path",
        )
    if table.num_rows == 0:
        raise RequestError("entity_rows_arrow", "the entity rows are empty")
    return table


def _read_path(path: Path) -> pa.Table:
    if not path.exists():
        raise NotFoundError("entity path", str(path))
    if (path / "_delta_log").is_dir():
        return read_snapshot(str(path)).table
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RequestError(
            "entity_rows_path", f"{path} is neither a Delta table nor Parquet: {exc}"
        ) from exc


def _pin(pin: common_pb2.TablePin) -> int | datetime:
    which = pin.WhichOneof("pin")
    if which == "version":
        return int(pin.version)
    if which == "timestamp":
        when: datetime = pin.timestamp.ToDatetime(tzinfo=UTC)  # stub returns Any
        return when
    raise RequestError("pins", "a pin needs a version or a timestamp")


def _check_output(request: pb.GetHistoricalFeaturesRequest) -> None:
    fmt = request.output_format
    if not request.output_path and fmt != pb.OUTPUT_FORMAT_UNSPECIFIED:
        raise RequestError("output_path", "output_format needs an output_path")
    if request.output_path and fmt not in _WRITERS:
        raise RequestError(
            "output_format", "output_path needs output_format PARQUET or DELTA"
        )


def _write_output(request: pb.GetHistoricalFeaturesRequest, rows: JoinedRows) -> str:
    """Write the rows to ``output_path`` one batch at a time; return the path."""
    if not request.output_path:
        return ""
    path = Path(request.output_path)
    _WRITERS[request.output_format](path, rows)
    return str(path)


def _write_parquet(path: Path, rows: JoinedRows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, rows.schema) as writer:
        for batch in rows.batches(WRITE_BATCH_ROWS):
            writer.write_batch(batch)


def _write_delta(path: Path, rows: JoinedRows) -> None:
    from deltalake import write_deltalake

    # delta-rs pulls the reader batch by batch.
    write_deltalake(
        str(path),
        rows.reader(WRITE_BATCH_ROWS),
        mode="overwrite",
        schema_mode="overwrite",
    )


_WRITERS: dict[int, Callable[[Path, JoinedRows], None]] = {
    pb.OUTPUT_FORMAT_PARQUET: _write_parquet,
    pb.OUTPUT_FORMAT_DELTA: _write_delta,
}
