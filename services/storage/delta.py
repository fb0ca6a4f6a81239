"""Open and read a Delta table with delta-rs at any location, with its options."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from featurestore.services.storage.uri import check_object_uri, to_delta_uri

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa
    from deltalake import DeltaTable

    from featurestore.services.storage.options import StorageOptions

__all__ = [
    "ColumnNotFoundError",
    "data_files",
    "files_not_found",
    "is_delta_table",
    "open_delta",
    "read_delta",
]


class ColumnNotFoundError(KeyError):
    """A column asked of ``read_delta`` is not in the table's schema.

    Attributes:
        column: The column asked for.
        location: The table's URI (never its storage options).
    """

    def __init__(self, column: str, location: str) -> None:
        super().__init__(f"Delta table {location} has no column {column!r}")
        self.column = column
        self.location = location

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def open_delta(
    location: str, storage: StorageOptions | None = None, version: int | None = None
) -> DeltaTable:
    """The delta-rs table at ``location`` (``s3a://`` read as ``s3://``).

    Errors are delta-rs's own (``TableNotFoundError``; ``OSError`` when the
    object store does not answer): each caller translates them into its
    package's errors. Their text never holds the storage options.

    Raises:
        ObjectUriError: an empty, ``.`` or ``..`` segment in a URI.
    """
    from deltalake import DeltaTable

    uri = to_delta_uri(check_object_uri(location))
    options = storage.for_location(uri) if storage is not None else None
    return DeltaTable(uri, version=version, storage_options=options)


def data_files(dt: DeltaTable) -> list[str]:
    """Where the data files of ``dt``'s snapshot are, as a read opens them.

    The log's add paths, percent-decoded: one that is absolute or a URI
    (``/x``, ``file:///x``, ``s3://b/x``) as written, any other under the
    table's root. Not ``DeltaTable.file_uris()``: delta-rs 1.x joins an
    absolute add path under the root there (``<root>/tmp/x``) while its reads
    open ``/tmp/x``, so a check of those URIs would pass a file elsewhere.
    """
    root = dt.table_uri.rstrip("/")
    found = []
    for raw in dt.get_add_actions(flatten=True).column("path").to_pylist():
        path = unquote(raw)
        if path.startswith("/") or _URI.match(path):
            found.append(path)
        else:
            found.append(f"{root}/{path}")
    return found


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def files_not_found(dt: DeltaTable, options: dict[str, str] | None = None) -> bool:
    """Whether the store says a data file of ``dt``'s loaded version is not found.

    A version's log entry outlives its data files (VACUUM removes only the
    files); reading it then fails with the same ``OSError`` as a store that
    does not answer. Asking the store for each file tells the two apart: a
    file the store says is not found is gone (vacuumed, for a version older
    than the table's current one); no answer raises ``OSError`` again.

    Args:
        dt: The table, loaded at the version in question.
        options: delta-rs ``storage_options`` for its location (None: local).

    Raises:
        OSError: The object store did not answer.
    """
    from deltalake.fs import DeltaStorageHandler
    from pyarrow.fs import FileType

    added = dt.get_add_actions(flatten=True).column("path")
    paths = [str(path) for path in added.to_pylist()]
    infos = DeltaStorageHandler(dt.table_uri, options).get_file_info(paths)
    return any(info.type == FileType.NotFound for info in infos)


def is_delta_table(location: str, storage: StorageOptions | None = None) -> bool:
    """Whether ``location`` holds a Delta table.

    Raises:
        ObjectUriError: an empty, ``.`` or ``..`` segment in a URI.
    """
    from deltalake import DeltaTable

    uri = to_delta_uri(check_object_uri(location))
    options = storage.for_location(uri) if storage is not None else None
    return bool(DeltaTable.is_deltatable(uri, storage_options=options))


def read_delta(
    table: DeltaTable, columns: Sequence[str] | None = None, where: str | None = None
) -> pa.Table:
    """The live rows of ``table``'s loaded version, scanned by delta-rs itself.

    The one way the serving side reads Delta rows: delta-rs's DataFusion scan,
    never ``to_pyarrow_table``/``to_pyarrow_dataset``. Those read through a
    pyarrow dataset over delta-rs's Python file system with pre-buffering:
    the Parquet reader's read cache holds buffers owned by Python and may be
    freed on an Arrow pool thread after the read has returned. If the
    interpreter is finalising by then, that thread, taking the GIL to free a
    buffer, is ended by Python (``pthread_exit``) inside a C++ destructor and
    the process aborts in ``std::terminate``, exit 134 (apache/arrow#34314).
    A script that read a table and exited aborted in 3 to 8 of 12 runs.

    Rows come in the table's file order, the order the pyarrow dataset gave,
    and with its types: the Delta schema's Arrow types (``string``, not
    DataFusion's ``string_view``), nullability included.

    Args:
        table: The table, loaded at the version to read.
        columns: Only these columns, in this order (all, in schema order, when
            None).
        where: A DataFusion SQL predicate over the table's columns; rows for
            which it is not true are left out. Never built from client text.

    Returns:
        The rows as one Arrow table.

    Raises:
        ColumnNotFoundError: A column of ``columns`` is not in the schema.
        OSError: A data file could not be read (missing, unreadable, or the
            object store did not answer).
    """
    import pyarrow as pa
    from deltalake import QueryBuilder

    schema = pa.schema(table.schema().to_arrow())
    names = schema.names if columns is None else list(columns)
    missing = [name for name in names if name not in schema.names]
    if missing:
        raise ColumnNotFoundError(missing[0], table.table_uri)
    wanted = pa.schema([schema.field(name) for name in names])
    selected = names or schema.names[:1]  # SQL selects at least one column
    sql = f"SELECT {', '.join(map(_quoted, selected))} FROM t"
    if where is not None:
        sql += f" WHERE {where}"
    query = QueryBuilder()
    # One partition: DataFusion then reads the files one after another, so the
    # rows keep the table's file order; with more, batches interleave and the
    # order changes from run to run.
    query.execute("SET datafusion.execution.target_partitions = 1").read_all()
    try:
        scanned = query.register("t", table).execute(sql).read_all()
    except Exception as exc:
        if type(exc) is not Exception:  # delta-rs's own errors pass
            raise
        # DataFusion's errors (a file missing or unreadable, the object store
        # down) come as bare Exception; as OSError, like pyarrow's reads.
        raise OSError(f"cannot scan the Delta table at {table.table_uri}") from exc
    # Not pa.table(): it looks for a pandas frame, importing pandas (seconds).
    rows = pa.RecordBatchReader.from_stream(scanned).read_all()
    if not names:  # no columns asked for: the row count alone
        return rows.drop_columns(rows.column_names)
    return rows.cast(wanted)


_OS_ERROR = re.compile(r"\(os error (\d+)\)|\bOs \{ code: (\d+)")
"""How delta-rs quotes the operating system's error: a DeltaError carries no
errno and no cause, only the io error's text (``No space left on device (os
error 28)``, or its debug form ``Os { code: 30, kind: ReadOnlyFilesystem``)."""


def os_errno(exc: BaseException | None) -> int | None:
    """The errno of the first ``OSError`` in ``exc``'s chain, or the last
    ``(os error N)`` a delta-rs error's text quotes; None when neither."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno:
            return exc.errno
        quoted = _OS_ERROR.findall(str(exc))
        if quoted:
            return int("".join(quoted[-1]))
        exc = exc.__cause__ or exc.__context__
    return None


def delta_error_detail(exc: BaseException) -> str:
    """The first line of a delta-rs error, for a one-line message (a Rust
    backtrace may follow it); "unknown error" when it has no text."""
    return (str(exc).strip().splitlines() or ["unknown error"])[0]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
