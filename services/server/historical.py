"""GetHistoricalFeatures: entity rows in, Arrow IPC chunks and a manifest out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake.exceptions import DeltaError
from feast import FeatureStore

from featurestore.services.offline import (
    Cancellation,
    HistoricalRequest,
    get_historical_features,
    read_snapshot,
)
from featurestore.services.offline.errors import (
    OfflineStoreError,
    storage_unavailable,
)
from featurestore.services.offline.training_sets import DELTA, PARQUET
from featurestore.services.project import Project
from featurestore.services.server.arrow_ipc import ipc_chunks, read_ipc
from featurestore.services.server.catalog import Catalog
from featurestore.services.server.errors import (
    NotFoundError,
    RequestError,
    RequestTooLargeError,
    ResourceExhaustedError,
)
from featurestore.services.server.paths import PathPolicy, is_uri
from featurestore.services.server.settings import (
    DEFAULT_STREAM_MESSAGE_BYTES,
    ENVELOPE_BYTES,
    MAX_SEND_BYTES,
)
from featurestore.services.server.training_sets import (
    check_output,
    write_training_set,
)
from featurestore.services.storage import (
    StorageOptions,
    parquet_dataset,
    read_parquet_dataset,
)
from featurestore.v1 import common_pb2
from featurestore.v1 import feature_store_service_pb2 as pb

DEFAULT_BATCH_ROWS = 65_536
ROWS_LIMIT = "max_historical_entity_rows"
_FORMATS = {pb.OUTPUT_FORMAT_PARQUET: PARQUET, pb.OUTPUT_FORMAT_DELTA: DELTA}


@dataclass(frozen=True)
class HistoricalPolicy:
    """What a GetHistoricalFeatures call may touch and how much it may ask for.

    No storage options here: each call reads them from featurestore.yaml, as
    the feature reads do (``_storage``).
    """

    paths: PathPolicy
    max_entity_rows: int
    max_message_bytes: int = DEFAULT_STREAM_MESSAGE_BYTES
    """Most Arrow IPC bytes per streamed message (``max_stream_message_bytes``)."""


class StreamSlots:
    """At most ``limit`` GetHistoricalFeatures streams at once in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold a slot for the block; none free: RESOURCE_EXHAUSTED, no wait.

        Raises:
            ResourceExhaustedError: TOO_MANY_STREAMS naming max_historical_streams.
        """
        if not self._free.acquire(blocking=False):
            raise ResourceExhaustedError(
                f"{self.limit} GetHistoricalFeatures streams are already running "
                "(setting max_historical_streams); retry later",
                reason="TOO_MANY_STREAMS",
                limit=str(self.limit),
                setting="max_historical_streams",
            )
        try:
            yield
        finally:
            self._free.release()


def stream_historical_features(
    request: pb.GetHistoricalFeaturesRequest,
    store: FeatureStore,
    catalog: Catalog,
    policy: HistoricalPolicy,
    cancellation: Cancellation | None = None,
) -> Iterator[pb.GetHistoricalFeaturesResponse]:
    """Join, then stream the rows as one Arrow IPC stream in pieces, manifest last.

    Each piece holds at most ``batch_size`` rows and at most
    ``policy.max_message_bytes`` bytes (a batch larger is sent in row slices).

    The join keeps only the winning feature row per entity row and view; the
    output is assembled one batch at a time for the optional file and again
    for the stream, so the whole training set is never held in memory. Every
    refusal (paths, output, references, pins, limits) comes before the join.
    ``cancellation`` (cancelled when the call ends: its caller cancelled or its
    deadline passed) stops the work before each table read and each view's
    join, interrupts a running join query, and is checked once more before
    the output is written: a cancelled call writes no output. Writing, once
    begun, runs to its end: a writer stopped mid-way closes its Parquet file
    with a valid footer, which an object store then publishes, so the
    caller's output path would hold a short training set. The stream stops
    at the next piece: gRPC sends nothing more to a call that has ended and
    closes this generator.

    Raises:
        RequestCancelledError: ``cancellation`` was cancelled before the
            output was written or the first piece was sent.
        RequestError: bad entity rows, references, pins or output options.
        PermissionDeniedError: a path outside its root, or paths turned off.
        FailedPreconditionError: the output may not be (over)written.
        NotFoundError: unknown view/feature/service, entity path or pin.
        RequestTooLargeError: more entity rows than max_historical_entity_rows.
        ResourceExhaustedError: one row too large for any response message
            (ROW_TOO_LARGE); found while streaming, after any output was written.
        StorageUnavailableError: the object store holding a table, the entity
            rows or the output did not answer or refused.
    """
    batch_rows = request.batch_size or DEFAULT_BATCH_ROWS
    if batch_rows < 0:
        raise RequestError("batch_size", "batch_size must not be negative")
    storage = _storage(store)
    # Permission before existence: both paths are checked first, then the
    # references, so unknown features fail with NOT_FOUND before any I/O.
    output = _output(request, policy.paths, storage)
    entity_path = None
    if request.WhichOneof("entity_source") == "entity_rows_path":
        entity_path = policy.paths.resolve_read(request.entity_rows_path)
    catalog.resolve(list(request.features), request.feature_service)
    pins = {view: _pin(pin) for view, pin in request.pins.items()}
    entity = _entity_rows(request, entity_path, policy, storage)
    cancel = cancellation or Cancellation()
    result = get_historical_features(
        store,
        HistoricalRequest(
            entity=entity,
            features=request.feature_service or list(request.features),
            pins=pins,
            as_known_at=request.as_known_at,
            full_feature_names=request.full_feature_names,
            timestamp_column=request.timestamp_column or None,
        ),
        cancel,
    )
    rows = result.rows
    cancel.raise_if_cancelled()
    if output is not None:
        write_training_set(
            output,
            _FORMATS[request.output_format],
            rows,
            result.manifest.to_json(),
            policy.paths.write_root_resolved,
            storage,
            overwrite=request.overwrite,
        )
    pieces = ipc_chunks(
        rows.batches(batch_rows),
        rows.schema,
        policy.max_message_bytes,
        MAX_SEND_BYTES - ENVELOPE_BYTES,
    )
    for piece in pieces:
        yield pb.GetHistoricalFeaturesResponse(arrow_ipc=piece)
    answered = result.manifest.without_locations()  # no server path leaves
    manifest = pb.Manifest(
        row_count=rows.num_rows,
        output_path=request.output_path,
        manifest_json=answered.to_json(),
        tables=[
            pb.TableRead(view=t.view, version=t.version, contract=t.contract or "")
            for t in answered.tables
        ],
    )
    manifest.create_time.GetCurrentTime()
    yield pb.GetHistoricalFeaturesResponse(manifest=manifest)


def _storage(store: FeatureStore) -> StorageOptions:
    """The object-store options of featurestore.yaml as it reads now.

    Read once per call, from the file the feature reads re-read (never kept
    from startup), so after an operator edits them (a new endpoint, a rotated
    key) the output and the entity rows follow the features' store.
    """
    return Project.load(Path(store.repo_path)).storage_options


def _output(
    request: pb.GetHistoricalFeaturesRequest,
    paths: PathPolicy,
    storage: StorageOptions,
) -> str | None:
    """The resolved output, checked writable before any work; None for none."""
    fmt = request.output_format
    if not request.output_path and fmt != pb.OUTPUT_FORMAT_UNSPECIFIED:
        raise RequestError("output_path", "output_format needs an output_path")
    if not request.output_path:
        return None
    if fmt not in _FORMATS:
        raise RequestError(
            "output_format", "output_path needs output_format PARQUET or DELTA"
        )
    if fmt == pb.OUTPUT_FORMAT_PARQUET and request.output_path.endswith("/"):
        # A folder's name, but PARQUET writes one file (it wrote 'tslash').
        raise RequestError(
            "output_path",
            "a PARQUET output_path is a file: remove the trailing '/' "
            "(DELTA writes a folder)",
        )
    resolved = paths.resolve_write(request.output_path)
    check_output(
        resolved,
        _FORMATS[fmt],
        request.overwrite,
        paths.write_root_resolved,
        storage,
    )
    return resolved


def _entity_rows(
    request: pb.GetHistoricalFeaturesRequest,
    path: str | None,
    policy: HistoricalPolicy,
    storage: StorageOptions,
) -> pa.Table:
    limit = policy.max_entity_rows
    if path is not None:
        table = _read_path(path, request.entity_rows_path, limit, storage, policy.paths)
    elif request.WhichOneof("entity_source") == "entity_rows_arrow":
        table = read_ipc(
            request.entity_rows_arrow, "entity_rows_arrow", limit, ROWS_LIMIT
        )
    else:
        raise RequestError(
            "entity_rows_arrow",
            "no entity rows: set entity_rows_arrow or entity_rows_path",
        )
    if table.num_rows == 0:
        raise RequestError("entity_rows_arrow", "the entity rows are empty")
    return table


def _read_path(
    path: str, given: str, max_rows: int, storage: StorageOptions, paths: PathPolicy
) -> pa.Table:
    """Read a Delta table or Parquet file/folder; errors quote ``given`` only,
    but for an object store that fails, named as feature tables are (its URI).

    Every file read must lie inside an entity root too (``check_read_files``).

    Raises:
        StorageUnavailableError: the object store did not answer or refused.
    """
    field = "entity_rows_path"
    try:
        # On an object store an OSError is the store's failure (unreachable,
        # ACCESS_DENIED), not the client's path: STORAGE_UNAVAILABLE.
        with storage_unavailable(path) if is_uri(path) else nullcontext():
            table = _read_entity_table(path, given, max_rows, storage, paths)
    except OfflineStoreError as exc:
        if isinstance(exc, ConnectionError):
            raise  # STORAGE_UNAVAILABLE: UNAVAILABLE, not the client's fault
        if isinstance(exc, LookupError):
            raise NotFoundError("entity path", given[:200]) from exc
        raise RequestError(
            field, f"{field} is unreadable", reason="ENTITY_PATH_UNREADABLE"
        ) from exc
    except (pa.ArrowException, OSError, DeltaError) as exc:
        raise RequestError(
            field,
            f"{field} is neither a readable Delta table nor Parquet",
            reason="ENTITY_PATH_UNREADABLE",
        ) from exc
    _check_rows(table.num_rows, max_rows)
    return table


def _read_entity_table(
    path: str, given: str, max_rows: int, storage: StorageOptions, paths: PathPolicy
) -> pa.Table:
    fs, inner = storage.filesystem(path)
    if fs.get_file_info(inner).type == pafs.FileType.NotFound:
        raise NotFoundError("entity path", given[:200])
    if fs.get_file_info(f"{inner}/_delta_log").type == pafs.FileType.Directory:
        return read_snapshot(
            path, storage=storage, check_files=paths.check_read_files
        ).table
    # As Spark wrote it: INT96 times are UTC, hive folders are columns.
    dataset = parquet_dataset(inner, fs)
    if not is_uri(path):  # an object store's listing has no links
        paths.check_read_files(dataset.files)
    _check_rows(dataset.count_rows(), max_rows)
    return read_parquet_dataset(dataset)


def _check_rows(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise RequestTooLargeError(
            f"{rows} entity rows exceed the limit of {max_rows} (setting "
            f"{ROWS_LIMIT}); split the request",
            rows=str(rows),
            limit=str(max_rows),
            setting=ROWS_LIMIT,
        )


def _pin(pin: common_pb2.TablePin) -> int | datetime:
    which = pin.WhichOneof("pin")
    if which == "version":
        if pin.version < 0:
            raise RequestError("pins", "a pinned version is 0 or more")
        return int(pin.version)
    if which == "timestamp":
        nanos = pin.timestamp.nanos
        if not 0 <= nanos <= 999_999_999:
            raise RequestError(
                "pins",
                f"a pinned timestamp's nanos must lie in 0..999,999,999, got {nanos}",
                nanos=str(nanos),
            )
        try:
            when: datetime = pin.timestamp.ToDatetime(tzinfo=UTC)  # stub: Any
        except (ValueError, OverflowError) as exc:
            raise RequestError(
                "pins",
                "a pinned timestamp must lie in 0001-01-01..9999-12-31",
                reason="TIMESTAMP_OUT_OF_RANGE",
            ) from exc
        return when
    raise RequestError("pins", "a pin needs a version or a timestamp")
