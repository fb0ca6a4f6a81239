"""Training sets written by GetHistoricalFeatures, and what they may replace.

A training set this service wrote carries its manifest: a Parquet file in its
footer (key ``featurestore.training_set``), a Delta table in a
``_featurestore_training_set.json`` file in its folder (Delta ignores files
starting with ``_``). Only such a training set may be replaced, and only with
``overwrite``; a feature table, a quarantine table, the registry or any other
file is never touched. Every check runs before the join, and a failed write
removes what it created, so a refused request leaves nothing behind. On an
object store (a URI root) the same rules hold over key prefixes, through
pyarrow's file system and delta-rs with the project's storage options.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from featurestore.services.offline import JoinedRows
from featurestore.services.server.errors import FailedPreconditionError
from featurestore.services.storage import StorageOptions, is_local, local_path

MARKER = "_featurestore_training_set.json"
"""The manifest inside a Delta training set's folder."""
PARQUET_KEY = b"featurestore.training_set"
"""The manifest's key in a Parquet training set's footer."""
WRITE_BATCH_ROWS = 65_536
"""Rows per Parquet row group / Delta write batch, whatever the stream's size."""
PARQUET, DELTA = "parquet", "delta"


def check_output(
    path: str,
    fmt: str,
    overwrite: bool,
    root: str,
    storage: StorageOptions | None = None,
) -> None:
    """Refuse, before any work, an output that may not be written.

    Args:
        path: The resolved output (inside ``root``, see ``PathPolicy``).
        fmt: ``parquet`` or ``delta``.
        overwrite: The request's overwrite flag.
        root: The resolved training-set root.
        storage: Object-store options, for a URI root.

    Raises:
        FailedPreconditionError: something there is not a training set
            (OUTPUT_NOT_A_TRAINING_SET), is one of the other format
            (OUTPUT_FORMAT_CHANGED) or exists without overwrite
            (OUTPUT_EXISTS); a folder on the way is a file or a table
            (OUTPUT_INSIDE_FILE).
    """
    if not is_local(path):
        _check_object_output(path, fmt, overwrite, root, storage or StorageOptions())
        return
    target, top = Path(local_path(path)), Path(local_path(root))
    for folder in [*reversed(target.parents[: _depth(target, top)]), top]:
        if folder.exists() and (not folder.is_dir() or _is_delta(folder)):
            raise _refused(
                "OUTPUT_INSIDE_FILE",
                "a folder on the way to output_path is a file or a table",
            )
    if not os.path.lexists(target):
        return
    kind = training_set_kind(target)
    empty = fmt == DELTA and target.is_dir() and not any(target.iterdir())
    _check_existing(kind, fmt, overwrite, empty)


def _check_existing(kind: str | None, fmt: str, overwrite: bool, empty: bool) -> None:
    if kind is None:
        if empty:
            return  # an empty folder holds nothing to lose
        raise _refused(
            "OUTPUT_NOT_A_TRAINING_SET",
            "output_path holds something this service did not write as a "
            "training set; it is never replaced",
        )
    if kind != fmt:
        raise _refused(
            "OUTPUT_FORMAT_CHANGED",
            f"output_path holds a {kind} training set; write {fmt} elsewhere",
        )
    if not overwrite:
        raise _refused(
            "OUTPUT_EXISTS",
            "output_path holds a training set; set overwrite to replace it",
        )


def training_set_kind(path: Path) -> str | None:
    """``parquet`` or ``delta`` for a training set this service wrote, else None."""
    if path.is_dir():
        return DELTA if _is_delta(path) and (path / MARKER).is_file() else None
    if not path.is_file():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError):
        return None
    return PARQUET if PARQUET_KEY in metadata else None


def stored_manifest(path: Path, kind: str) -> str:
    """The manifest JSON a training set of ``kind`` (``training_set_kind``)
    carries: its Parquet footer or its Delta folder's marker file.

    Raises:
        OSError, pyarrow.ArrowException, KeyError: unreadable, or not ours.
    """
    if kind == PARQUET:
        metadata = pq.read_schema(path).metadata or {}
        return bytes(metadata[PARQUET_KEY]).decode("utf-8")
    return (path / MARKER).read_text(encoding="utf-8")


def write_training_set(
    path: str,
    fmt: str,
    rows: JoinedRows,
    manifest_json: str,
    root: str,
    storage: StorageOptions | None = None,
) -> None:
    """Write ``rows`` to ``path`` with its manifest, one batch at a time.

    Folders are created inside ``root`` only (``root`` itself when its
    parent exists). On failure, whatever this call created is removed.

    Raises:
        FailedPreconditionError: the root's parent is missing
            (OUTPUT_ROOT_MISSING) or the write failed (OUTPUT_NOT_WRITABLE).
    """
    if not is_local(path):
        _write_object(path, fmt, rows, manifest_json, storage or StorageOptions())
        return
    target, top = Path(local_path(path)), Path(local_path(root))
    created = _make_folders(target.parent, top)
    try:
        _WRITERS[fmt](target, rows, manifest_json)
    except (OSError, _delta_error()) as exc:
        _remove(created)
        code = errno.errorcode.get(getattr(exc, "errno", None) or 0, "")
        raise _refused(
            "OUTPUT_NOT_WRITABLE",
            "output_path could not be written under the training-set root "
            f"(setting training_set_root){f': {code}' if code else ''}",
            errno=code,
        ) from exc


def _make_folders(folder: Path, top: Path) -> list[Path]:
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    missing = [p for p in missing if p == top or top in p.parents]
    if not top.parent.is_dir():
        raise _refused(
            "OUTPUT_ROOT_MISSING",
            "the training-set root's parent folder does not exist "
            "(setting training_set_root)",
        )
    created = []
    try:
        for p in reversed(missing):
            p.mkdir()
            created.append(p)
    except OSError as exc:
        _remove(created)
        raise _refused(
            "OUTPUT_NOT_WRITABLE",
            "output_path's folder could not be created (setting training_set_root)",
        ) from exc
    return created


def _write_parquet(path: Path, rows: JoinedRows, manifest_json: str) -> None:
    schema = rows.schema.with_metadata(
        {**(rows.schema.metadata or {}), PARQUET_KEY: manifest_json.encode()}
    )
    partial = path.with_name(f".fs-{uuid.uuid4().hex}.tmp")
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for batch in rows.batches(WRITE_BATCH_ROWS):
                writer.write_batch(batch)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write_delta(path: Path, rows: JoinedRows, manifest_json: str) -> None:
    from deltalake import write_deltalake

    new = not path.exists()
    try:
        # delta-rs pulls the reader batch by batch.
        write_deltalake(
            str(path),
            rows.reader(WRITE_BATCH_ROWS),
            mode="overwrite",
            schema_mode="overwrite",
        )
        (path / MARKER).write_text(manifest_json, encoding="utf-8")
    except BaseException:
        if new:
            shutil.rmtree(path, ignore_errors=True)
        raise


_WRITERS: dict[str, Callable[[Path, JoinedRows, str], None]] = {
    PARQUET: _write_parquet,
    DELTA: _write_delta,
}


def _delta_error() -> type[Exception]:
    from deltalake.exceptions import DeltaError

    return DeltaError


def _is_delta(folder: Path) -> bool:
    return (folder / "_delta_log").is_dir()


def _depth(target: Path, top: Path) -> int:
    """How many of ``target``'s parents lie strictly inside ``top``."""
    return len(target.relative_to(top).parts) - 1


def _remove(created: list[Path]) -> None:
    for folder in reversed(created):
        shutil.rmtree(folder, ignore_errors=True)


def _check_object_output(
    path: str, fmt: str, overwrite: bool, root: str, storage: StorageOptions
) -> None:
    # Object stores have no folders: a "folder on the way" is a key prefix,
    # refused when it is a table (or an object of its own).
    fs, target = storage.filesystem(path)
    _, top = storage.filesystem(root)
    prefix = target
    while prefix.rstrip("/") != top.rstrip("/") and "/" in prefix:
        prefix = prefix.rsplit("/", 1)[0]
        if _object_kind(fs, prefix) == "file" or _is_object_delta(fs, prefix):
            raise _refused(
                "OUTPUT_INSIDE_FILE",
                "a folder on the way to output_path is a file or a table",
            )
    found = _object_kind(fs, target)
    if found is None:
        return
    kind = _object_training_set_kind(fs, target, found)
    empty = found == "dir" and not fs.get_file_info(
        pafs.FileSelector(target, recursive=False)
    )
    _check_existing(kind, fmt, overwrite, fmt == DELTA and empty)


def _object_kind(fs: pafs.FileSystem, key: str) -> str | None:
    kind = fs.get_file_info(key).type
    if kind == pafs.FileType.File:
        return "file"
    return "dir" if kind == pafs.FileType.Directory else None


def _is_object_delta(fs: pafs.FileSystem, key: str) -> bool:
    return _object_kind(fs, f"{key}/_delta_log") == "dir"


def _object_training_set_kind(fs: pafs.FileSystem, key: str, found: str) -> str | None:
    if found == "dir":
        marked = _object_kind(fs, f"{key}/{MARKER}") == "file"
        return DELTA if marked and _is_object_delta(fs, key) else None
    try:
        with fs.open_input_file(key) as handle:
            metadata = pq.read_schema(handle).metadata or {}
    except (pa.ArrowException, OSError):
        return None
    return PARQUET if PARQUET_KEY in metadata else None


def _write_object(
    path: str, fmt: str, rows: JoinedRows, manifest_json: str, storage: StorageOptions
) -> None:
    fs, key = storage.filesystem(path)
    new = _object_kind(fs, key) is None
    try:
        if fmt == PARQUET:
            # A single PUT (or a completed multipart upload): readers see the
            # whole object or the previous one, never a part.
            schema = rows.schema.with_metadata(
                {**(rows.schema.metadata or {}), PARQUET_KEY: manifest_json.encode()}
            )
            with (
                fs.open_output_stream(key) as sink,
                pq.ParquetWriter(sink, schema) as writer,
            ):
                for batch in rows.batches(WRITE_BATCH_ROWS):
                    writer.write_batch(batch)
            return
        from deltalake import write_deltalake

        write_deltalake(
            path,
            rows.reader(WRITE_BATCH_ROWS),
            mode="overwrite",
            schema_mode="overwrite",
            storage_options=storage.for_location(path),
        )
        with fs.open_output_stream(f"{key}/{MARKER}") as sink:
            sink.write(manifest_json.encode())
    except (OSError, pa.ArrowException, _delta_error()) as exc:
        if new and fmt == DELTA:
            fs.delete_dir(key)
        raise _refused(
            "OUTPUT_NOT_WRITABLE",
            "output_path could not be written under the training-set root "
            "(setting training_set_root)",
        ) from exc


def _refused(reason: str, message: str, **metadata: str) -> FailedPreconditionError:
    return FailedPreconditionError(
        message,
        reason=reason,
        subject="output_path",
        field="output_path",
        setting="training_set_root",
        **metadata,
    )
