"""Rows a command reads: a local file or folder, or an object URI read with the
project's storage options. Parquet (a file or a folder of files), a Delta
table (its current snapshot, through the log) or CSV: one reader for every
command that takes rows (``contracts validate FILE``, ``training-set
--entities``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from featurestore.services.cli._common import usage_error

if TYPE_CHECKING:
    from featurestore.services.contracts import Contract
    from featurestore.services.storage import StorageOptions


def read_rows(
    location: str,
    storage: StorageOptions,
    *,
    named: str,
    contract: Contract | None = None,
    text: Collection[str] = (),
    integers: Collection[str] = (),
) -> pa.Table:
    """The rows at ``location``.

    A CSV file's contract columns are read as the jobs' Spark reads them with
    the contract's types; without a contract (entity rows) the ``text``
    columns stay text and the others are inferred. Anything else is Parquet.

    Args:
        location: A path, or a URI (``s3://bucket/key``) read with ``storage``.
        storage: The project's object-store options.
        named: How the user named the location (``--entities X``), for errors.
        contract: The contract whose columns a CSV is read by, if any.
        text: Columns a CSV keeps as text (string join keys).
        integers: Columns a CSV reads as int64 (integer join keys): a cell
            that is not one is a usage error naming its column, row and value.

    Raises:
        click.exceptions.Exit: through ``usage_error``: nothing there, or not
            rows of the kind its name says.
        StorageUnavailableError: the object store did not answer or refused.
        ObjectUriError: a URI with an empty, ``.`` or ``..`` path segment.
    """
    from featurestore.services.storage import is_local, local_path, read_parquet

    if not is_local(location):
        return _read_object(location, storage, named, contract, text, integers)
    path = Path(local_path(location))
    if not path.exists():
        raise usage_error(f"{named}: no such file or folder")
    if (path / "_delta_log").is_dir():
        return _read_delta(str(path), None)
    try:
        if path.suffix.lower() == ".csv":
            return _read_csv(path.read_bytes(), location, contract, text, integers)
        return _as(location, "Parquet", lambda: read_parquet(str(path)))
    except OSError as exc:  # unreadable: permissions, a folder of non-files
        kind = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
        raise usage_error(f"cannot read {location} as {kind}: {exc}") from exc


def _read_object(
    location: str,
    storage: StorageOptions,
    named: str,
    contract: Contract | None,
    text: Collection[str],
    integers: Collection[str],
) -> pa.Table:
    import pyarrow.fs as pafs

    from featurestore.services.offline.errors import storage_unavailable
    from featurestore.services.storage import parquet_dataset, read_parquet_dataset

    fs, where = storage.filesystem(location)  # ObjectUriError: its own line
    # The store's OSErrors (down, refused) are STORAGE_UNAVAILABLE.
    with storage_unavailable(location):
        kind = fs.get_file_info(where).type
        if kind == pafs.FileType.NotFound:
            raise usage_error(f"{named}: no such file or folder")
        if kind == pafs.FileType.Directory:
            log = fs.get_file_info(f"{where.rstrip('/')}/_delta_log").type
            if log == pafs.FileType.Directory:
                return _read_delta(location, storage)
        elif where.lower().endswith(".csv"):
            with fs.open_input_stream(where) as source:
                raw = bytes(source.read())
            return _read_csv(raw, location, contract, text, integers)
        return _as(
            location,
            "Parquet",
            lambda: read_parquet_dataset(parquet_dataset(where, fs)),
        )


def _read_csv(
    raw: bytes,
    location: str,
    contract: Contract | None,
    text: Collection[str],
    integers: Collection[str] = (),
) -> pa.Table:
    import pyarrow.csv as pa_csv

    from featurestore.services.cli._spark_csv import CsvUnlikeSparkError, read_csv

    if contract is None:
        options = csv_options(None, text, integers)
        try:
            return pa_csv.read_csv(pa.py_buffer(raw), convert_options=options)
        except ValueError as exc:
            bad = _not_int64(raw, text, integers)
            if bad is None:
                raise usage_error(f"cannot read {location} as CSV: {exc}") from exc
            raise usage_error(f"cannot read {location}: {bad}") from exc
    try:
        return _as(location, "CSV", lambda: read_csv(raw, contract, text))
    except CsvUnlikeSparkError as exc:
        raise usage_error(
            f"cannot read {location} as the jobs' Spark would: {exc}"
        ) from exc


def _as(location: str, kind: str, read: Callable[[], pa.Table]) -> pa.Table:
    """``read()``, its ValueError (ArrowInvalid: not ``kind``) one usage line."""
    from featurestore.services.cli._spark_csv import CsvUnlikeSparkError

    try:
        return read()
    except CsvUnlikeSparkError:
        raise
    except ValueError as exc:
        raise usage_error(f"cannot read {location} as {kind}: {exc}") from exc


def _read_delta(location: str, storage: StorageOptions | None) -> pa.Table:
    # Through the Delta log: the files of removed versions are not rows.
    from deltalake.exceptions import DeltaError

    from featurestore.services.offline import OfflineStoreError, read_snapshot
    from featurestore.services.storage import delta_error_detail

    try:
        return read_snapshot(location, storage=storage).table
    except OfflineStoreError as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    except DeltaError as exc:  # a corrupt commit file, a gap in the log
        # The words `featurestore lineage` uses for the same table.
        detail = delta_error_detail(exc)
        raise usage_error(
            f"TABLE_UNREADABLE: cannot read the Delta log of {location}: {detail}"
        ) from exc
    except OSError as exc:
        if storage is not None:
            raise  # the object store's: STORAGE_UNAVAILABLE
        raise usage_error(f"cannot read the Delta table {location}: {exc}") from exc


_INTEGER = re.compile(r"[+-]?[0-9]+")
"""An integer as Arrow's CSV reader takes one (no spaces, no ``_``)."""


def _not_int64(
    raw: bytes, text: Collection[str], integers: Collection[str]
) -> str | None:
    """The first cell of an ``integers`` column that is no int64 (a value past
    its range, a fraction), said with its column, row and value; None if the
    CSV's problem is another."""
    import pyarrow.csv as pa_csv

    options = csv_options(None, [*text, *integers])
    try:
        table = pa_csv.read_csv(pa.py_buffer(raw), convert_options=options)
    except ValueError:
        return None
    for name in integers:
        if name not in table.column_names:
            continue
        for row, cell in enumerate(table.column(name).to_pylist(), start=2):
            if not cell:  # a blank cell: null in the int64 read
                continue
            if _INTEGER.fullmatch(cell) and -(2**63) <= int(cell) < 2**63:
                continue
            return (
                f"column {name!r}, line {row}: {cell!r} is not an int64, the "
                f"type of the join key {name!r} (-2**63 to 2**63-1)"
            )
    return None


def csv_options(
    contract: Contract | None,
    text: Collection[str] = (),
    integers: Collection[str] = (),
) -> Any:
    """Without a contract (an entity file): the ``text`` columns read as text,
    the ``integers`` as int64, the others as Arrow infers them; only an
    unquoted blank is null."""
    import pyarrow.csv as pa_csv

    columns = contract.columns if contract is not None else []
    types = {c: pa.int64() for c in integers}
    return pa_csv.ConvertOptions(
        column_types=types
        | {c: pa.string() for c in [*text, *(c.name for c in columns)]},
        null_values=[""],
        strings_can_be_null=contract is not None,
        quoted_strings_can_be_null=False,
    )


def project_storage(repo: Path | None) -> StorageOptions:
    """The project's object-store options; none without a project (a replay
    needs no registry, and object stores then read the ``AWS_*`` variables)."""
    from featurestore.services.project import Project, ProjectError
    from featurestore.services.storage import StorageOptions

    try:
        return Project.discover(repo).storage_options
    except ProjectError:
        return StorageOptions()
