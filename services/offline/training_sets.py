"""Training sets on disk, and the one rule for what an output may replace.

A training set carries its manifest: a Parquet file in its footer (key
``featurestore.training_set``), a Delta table in a
``_featurestore_training_set.json`` file in its folder (Delta ignores files
starting with ``_``) and in its newest commit (read first: the file is
written after the commit). Only such a training set may be replaced, only in its
own format and only with an explicit overwrite; a feature table, a
quarantine table, the registry or any other file is never touched, and no
output goes inside a file or a Delta table.

Both writers of training sets apply this rule through this module: the gRPC
service (GetHistoricalFeatures ``output_path``, confined to its
``training_set_root``; ``services/server/training_sets.py`` turns a refusal
into FAILED_PRECONDITION) and ``featurestore training-set --out`` (anywhere;
a refusal is a usage error). Every check runs before the join, and a failed
write removes what it created, so a refused call leaves nothing behind. On an
object store the same rules hold over key prefixes, through pyarrow's file
system and delta-rs with the project's storage options; a store that does not
answer or refuses is STORAGE_UNAVAILABLE, as for feature tables.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from featurestore.services.offline._publication import (
    STAGING_PREFIX,
    STAGING_SUFFIX,
    OutputTakenError,
    is_staging,
    publish_file,
    publish_staged_folder,
    remove_stale_staging,
    remove_uncommitted_prefix,
    staging_path,
    write_text_whole,
)
from featurestore.services.offline.errors import storage_unavailable
from featurestore.services.storage import (
    StorageOptions,
    is_local,
    local_path,
    os_errno,
    read_delta,
    to_delta_uri,
)

if TYPE_CHECKING:
    from deltalake import CommitProperties

__all__ = [
    "DELTA",
    "MARKER",
    "PARQUET",
    "PARQUET_KEY",
    "WRITE_BATCH_ROWS",
    "Naming",
    "OutputRefusedError",
    "check_output",
    "stored_manifest",
    "training_set_kind",
    "write_training_set",
]

MARKER = "_featurestore_training_set.json"
"""The manifest inside a Delta training set's folder."""
PARQUET_KEY = b"featurestore.training_set"
"""The manifest's key in a Parquet training set's footer."""
WRITE_BATCH_ROWS = 65_536
"""Rows per Parquet row group / Delta write batch, whatever the stream's size."""
PARQUET, DELTA = "parquet", "delta"
COMMIT_KEY = "featurestore.training_set"
"""The manifest's key in a Delta training set's commit (its custom metadata)."""


@dataclass(frozen=True)
class Naming:
    """How a caller's user names the output and its overwrite switch, for messages.

    Attributes:
        output: The output's name (``output_path``, ``--out``).
        overwrite: How to ask for a replacement (``set overwrite``).
        root: The setting naming the root, quoted when a root confines outputs.
    """

    output: str = "output_path"
    overwrite: str = "set overwrite"
    root: str = "training_set_root"


class OutputRefusedError(Exception):
    """An output that may not be written, or could not be.

    Attributes:
        reason: OUTPUT_INSIDE_FILE, OUTPUT_NOT_A_TRAINING_SET,
            OUTPUT_FORMAT_CHANGED, OUTPUT_EXISTS, OUTPUT_NAME_RESERVED,
            OUTPUT_ROOT_MISSING, OUTPUT_NOT_WRITABLE or OUTPUT_NO_SPACE (a
            full disk or quota).
        metadata: Extra values for the caller's error (``errno``).
    """

    def __init__(self, reason: str, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata = metadata


def check_output(
    path: str,
    fmt: str,
    overwrite: bool,
    root: str | None,
    storage: StorageOptions | None = None,
    naming: Naming = Naming(),
) -> None:
    """Refuse, before any work, an output that may not be written.

    Args:
        path: The output, absolute (inside ``root`` when there is one).
        fmt: ``parquet`` or ``delta``.
        overwrite: Whether the caller asked to replace a training set.
        root: The one folder outputs go under (the server's resolved
            training-set root); None: anywhere, every existing folder on the
            way checked.
        storage: Object-store options, for a URI.
        naming: How messages name the output and the overwrite switch.

    Raises:
        OutputRefusedError: the name is a staging entry's
            (OUTPUT_NAME_RESERVED); something there is not a training set
            (OUTPUT_NOT_A_TRAINING_SET), is one of the other format
            (OUTPUT_FORMAT_CHANGED) or exists without ``overwrite``
            (OUTPUT_EXISTS); a folder on the way is a file or a table
            (OUTPUT_INSIDE_FILE).
        StorageUnavailableError: the object store did not answer or refused
            (STORAGE_UNAVAILABLE): the store's failure, not the output's.
    """
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if is_staging(Path(name)):
        # Such an entry is hidden from listings and removed after an hour.
        raise OutputRefusedError(
            "OUTPUT_NAME_RESERVED",
            f"{naming.output} is named as the service's staging entries "
            f"({STAGING_PREFIX}*{STAGING_SUFFIX}); choose another name",
        )
    if not is_local(path):
        with storage_unavailable(path):
            _check_object_output(
                path, fmt, overwrite, root, storage or StorageOptions(), naming
            )
        return
    target = Path(local_path(path))
    if root is None:
        on_the_way = list(reversed(target.parents))
    else:
        top = Path(local_path(root))
        on_the_way = [*reversed(target.parents[: _depth(target, top)]), top]
    for folder in on_the_way:
        if folder.exists() and (not folder.is_dir() or _is_delta(folder)):
            raise _inside_file(naming)
    if not os.path.lexists(target):
        return
    kind = training_set_kind(target)
    empty = fmt == DELTA and target.is_dir() and not any(target.iterdir())
    _check_existing(kind, fmt, overwrite, empty, naming)


def _inside_file(naming: Naming) -> OutputRefusedError:
    return OutputRefusedError(
        "OUTPUT_INSIDE_FILE",
        f"a folder on the way to {naming.output} is a file or a Delta table; "
        "choose a path outside it",
    )


def _check_existing(
    kind: str | None, fmt: str, overwrite: bool, empty: bool, naming: Naming
) -> None:
    if kind is None:
        if empty:
            return  # an empty folder holds nothing to lose
        raise OutputRefusedError(
            "OUTPUT_NOT_A_TRAINING_SET",
            f"{naming.output} holds a table or file that is not a training set "
            "(no training-set manifest inside); it is never replaced: choose "
            "another path",
        )
    if kind != fmt:
        raise OutputRefusedError(
            "OUTPUT_FORMAT_CHANGED",
            f"{naming.output} holds a {kind} training set; write {fmt} elsewhere",
        )
    if not overwrite:
        raise _exists(naming)


def _exists(naming: Naming) -> OutputRefusedError:
    return OutputRefusedError(
        "OUTPUT_EXISTS",
        f"{naming.output} holds a training set; {naming.overwrite} to replace it",
    )


def training_set_kind(path: Path) -> str | None:
    """``parquet`` or ``delta`` for a training set (its manifest inside), else None.

    A staging entry is none yet: the console lists what this finds, and a
    writer killed between its marker and its publication leaves a complete
    looking table under a staging name.
    """
    if is_staging(path):
        return None
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
    carries: its Parquet footer, or its Delta table's latest commit (the
    marker file for a table written before commits carried it).

    Raises:
        OSError, pyarrow.ArrowException, KeyError: unreadable, or not ours.
    """
    if kind == PARQUET:
        metadata = pq.read_schema(path).metadata or {}
        return bytes(metadata[PARQUET_KEY]).decode("utf-8")
    from deltalake import DeltaTable

    # The latest commit's copy first: it cannot disagree with the data, while
    # the marker lags a replacement whose writer died right after the commit.
    try:
        last = DeltaTable(str(path)).history(1)
    except _delta_error():  # an unreadable log: the marker still names the set
        last = []
    committed = last[0].get(COMMIT_KEY) if last else None
    if isinstance(committed, str):
        return committed
    return (path / MARKER).read_text(encoding="utf-8")


def write_training_set(
    path: str,
    fmt: str,
    rows: pa.RecordBatchReader,
    manifest_json: str,
    root: str | None,
    storage: StorageOptions | None = None,
    naming: Naming = Naming(),
    *,
    overwrite: bool = False,
) -> None:
    """Write ``rows`` to ``path`` with its manifest, one batch at a time.

    Call ``check_output`` first. Folders are created inside ``root`` only
    (``root`` itself when its parent exists), anywhere when ``root`` is None.
    On failure, whatever this call created is removed.

    Locally a new output is written in a hidden staging file or folder
    beside it (``.fs-*.tmp``) and published whole: a crash leaves only the
    staging entry, which a later write to the same folder removes once stale
    (an hour). Without ``overwrite`` publication never replaces anything:
    when a concurrent call published first, this one is refused
    (OUTPUT_EXISTS) and nothing of it remains.

    Args:
        path: The output, checked by ``check_output``.
        fmt: ``parquet`` or ``delta``.
        rows: The training set's rows.
        manifest_json: The manifest it carries.
        root: The one folder outputs go under; None: anywhere.
        storage: Object-store options, for a URI.
        naming: How messages name the output and the overwrite switch.
        overwrite: Whether the caller asked to replace a training set.

    Raises:
        OutputRefusedError: the root's parent is missing
            (OUTPUT_ROOT_MISSING), a concurrent call published a training
            set there first and ``overwrite`` is off (OUTPUT_EXISTS) or the
            write failed (OUTPUT_NOT_WRITABLE; OUTPUT_NO_SPACE on a full disk
            or quota), naming the operating system's error.
        StorageUnavailableError: the object store did not answer before the
            write began (STORAGE_UNAVAILABLE).
    """
    if not is_local(path):
        store = storage or StorageOptions()
        _write_object(path, fmt, rows, manifest_json, store, root, naming, overwrite)
        return
    target = Path(local_path(path))
    top = Path(local_path(root)) if root is not None else None
    created = _make_folders(target.parent, top, naming)
    remove_stale_staging(target.parent)
    try:
        _WRITERS[fmt](target, rows, manifest_json, overwrite)
    except BaseException as exc:
        _remove(created)  # whatever failed: an OS error, the rows, a cancel
        if isinstance(exc, OutputTakenError):
            raise _exists(naming) from exc
        if not isinstance(exc, OSError | _delta_error()):
            raise
        raise _not_written(exc, root, naming) from exc


NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
"""The errors of a full file system or an exhausted quota: OUTPUT_NO_SPACE."""


def _not_written(
    exc: BaseException, root: str | None, naming: Naming
) -> OutputRefusedError:
    """OUTPUT_NOT_WRITABLE naming the operating system's error, or
    OUTPUT_NO_SPACE on a full disk or quota (RESOURCE_EXHAUSTED on the
    server): never the path, which the caller may not know."""
    number = os_errno(exc)
    code = errno.errorcode.get(number or 0, "")
    cause = f": {code} ({os.strerror(number)})" if number and code else ""
    if number in NO_SPACE:
        return OutputRefusedError(
            "OUTPUT_NO_SPACE",
            f"{naming.output} could not be written{_under(root, naming)}{cause}: "
            "free space there (or raise the quota), or write elsewhere",
            errno=code,
        )
    return OutputRefusedError(
        "OUTPUT_NOT_WRITABLE",
        f"{naming.output} could not be written{_under(root, naming)}{cause}",
        errno=code,
    )


SERVER_COPY_LIMIT = 5 * 1024**3
"""Bytes S3's CopyObject copies in one request; a larger object is copied
through this process instead."""


def _move_object(fs: pafs.FileSystem, staging: str, key: str) -> None:
    """Move the written object ``staging`` to ``key``: a server-side copy up
    to ``SERVER_COPY_LIMIT``, else streamed through this process (a copy cut
    short lacks the Parquet footer: unreadable, never a short valid file, and
    it is removed)."""
    size = fs.get_file_info(staging).size
    if size is not None and size <= SERVER_COPY_LIMIT:
        fs.move(staging, key)
        return
    try:
        with (
            fs.open_input_stream(staging) as source,
            fs.open_output_stream(key) as sink,
        ):
            while chunk := source.read(64 << 20):
                sink.write(chunk)
    except BaseException:
        with suppress(OSError):
            fs.delete_file(key)
        raise
    fs.delete_file(staging)


def _under(root: str | None, naming: Naming) -> str:
    if root is None:
        return ""
    return f" under the training-set root (setting {naming.root})"


def _make_folders(folder: Path, top: Path | None, naming: Naming) -> list[Path]:
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    if top is not None:
        missing = [p for p in missing if p == top or top in p.parents]
        if not top.parent.is_dir():
            raise OutputRefusedError(
                "OUTPUT_ROOT_MISSING",
                "the training-set root's parent folder does not exist "
                f"(setting {naming.root})",
            )
    created = []
    try:
        for p in reversed(missing):
            try:
                p.mkdir()
            except FileExistsError:
                if not p.is_dir():
                    raise
                continue  # a concurrent call made it: not ours to remove
            created.append(p)
    except OSError as exc:
        _remove(created)
        setting = f" (setting {naming.root})" if top is not None else ""
        raise OutputRefusedError(
            "OUTPUT_NOT_WRITABLE",
            f"{naming.output}'s folder could not be created{setting}",
        ) from exc
    return created


def _with_manifest(schema: pa.Schema, manifest_json: str) -> pa.Schema:
    return schema.with_metadata(
        {**(schema.metadata or {}), PARQUET_KEY: manifest_json.encode()}
    )


def _write_parquet(
    path: Path, rows: pa.RecordBatchReader, manifest_json: str, overwrite: bool
) -> None:
    schema = _with_manifest(rows.schema, manifest_json)
    partial = staging_path(path)
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for batch in rows:
                writer.write_batch(batch)
        if overwrite:
            os.replace(partial, path)  # atomic: readers see one file or the other
        else:
            publish_file(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write_delta(
    path: Path, rows: pa.RecordBatchReader, manifest_json: str, overwrite: bool
) -> None:
    if overwrite and _is_delta(path):
        _overwrite_delta(path, rows, manifest_json)
        return
    from deltalake import DeltaTable, write_deltalake

    def write(staged: Path) -> None:
        # delta-rs pulls the reader batch by batch. On a full or read-only disk
        # it prints "thread 'tokio-rt-worker' panicked ... Already shut down" to
        # stderr and still raises its DeltaError: after the failed close its
        # writer calls object_store's BufWriter::abort, which panics once
        # shut down (object_store 0.13 buffered.rs; apache/arrow-rs-object-store
        # #810, fix #856 open). A bare write_deltalake does it too: not ours.
        write_deltalake(str(staged), rows, commit_properties=_commit(manifest_json))
        write_text_whole(staged / MARKER, manifest_json)

    def taken(staged: Path) -> None:
        if not (overwrite and training_set_kind(path) == DELTA):
            raise OutputTakenError
        # A concurrent call published first; this one was asked to replace a
        # training set: replace it, from the staged copy (read whole, as the
        # joined rows it was written from are held).
        copy = read_delta(DeltaTable(str(staged)))
        _overwrite_delta(path, copy.to_reader(WRITE_BATCH_ROWS), manifest_json)

    publish_staged_folder(path, write, taken)


def _overwrite_delta(
    path: Path, rows: pa.RecordBatchReader, manifest_json: str
) -> None:
    """Replace a Delta training set in place: a new version, history kept.

    The manifest goes into the commit itself (``stored_manifest`` reads it
    from there), so a crash before the marker file is rewritten leaves a
    table whose manifest still matches its data.
    """
    from deltalake import write_deltalake

    write_deltalake(
        str(path),
        rows,
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=_commit(manifest_json),
    )
    write_text_whole(path / MARKER, manifest_json)


def _commit(manifest_json: str) -> CommitProperties:
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={COMMIT_KEY: manifest_json})


_WRITERS: dict[str, Callable[[Path, pa.RecordBatchReader, str, bool], None]] = {
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
    # Empty ones only: what this call wrote went into its staging entry
    # (removed already); anything else there is a concurrent call's.
    for folder in reversed(created):
        with suppress(OSError):
            folder.rmdir()


def _check_object_output(
    path: str,
    fmt: str,
    overwrite: bool,
    root: str | None,
    storage: StorageOptions,
    naming: Naming,
) -> None:
    # Object stores have no folders: a "folder on the way" is a key prefix,
    # refused when it is a table (or an object of its own). Without a root,
    # every prefix up to the bucket is checked.
    fs, target = storage.filesystem(path)
    top = storage.filesystem(root)[1].rstrip("/") if root is not None else None
    prefix = target
    while prefix.rstrip("/") != top and "/" in prefix:
        prefix = prefix.rsplit("/", 1)[0]
        if _object_kind(fs, prefix) == "file" or _is_object_delta(fs, prefix):
            raise _inside_file(naming)
    found = _object_kind(fs, target)
    if found is None:
        return
    kind = _object_training_set_kind(fs, target, found)
    empty = found == "dir" and not fs.get_file_info(
        pafs.FileSelector(target, recursive=False)
    )
    _check_existing(kind, fmt, overwrite, fmt == DELTA and empty, naming)


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
    path: str,
    fmt: str,
    rows: pa.RecordBatchReader,
    manifest_json: str,
    storage: StorageOptions,
    root: str | None,
    naming: Naming,
    overwrite: bool,
) -> None:
    # No staging on an object store: it has no rename, let alone one that
    # refuses to replace. A Parquet object is moved into place (the last
    # writer wins, also without overwrite). A new Delta table is refused to
    # all but one writer by delta-rs's commit of version 0 (a conditional put,
    # as atomic as the store's), and a crash before it leaves data files but
    # no table (blocking the path: remove the prefix).
    fs, key = storage.filesystem(path)
    with storage_unavailable(path):
        new = _object_kind(fs, key) is None
    staging = staging_path(PurePosixPath(key)).as_posix()
    try:
        if fmt == PARQUET:
            # Written beside it, then moved into place (a server-side copy):
            # readers see the whole object or the previous one. Written in
            # place, a write that failed midway still closed the Parquet
            # writer and completed the upload: a short but valid file,
            # manifest included, where the training set should be.
            schema = _with_manifest(rows.schema, manifest_json)
            try:
                with (
                    fs.open_output_stream(staging) as sink,
                    pq.ParquetWriter(sink, schema) as writer,
                ):
                    for batch in rows:
                        writer.write_batch(batch)
                _move_object(fs, staging, key)
            except BaseException:
                with suppress(OSError):  # the store may be what failed
                    fs.delete_file(staging)
                raise
            return
        _write_object_delta(path, rows, manifest_json, storage, overwrite)
        with fs.open_output_stream(f"{key}/{MARKER}") as sink:
            sink.write(manifest_json.encode())
    except OutputTakenError as exc:
        raise _exists(naming) from exc  # the prefix is the winner's: kept
    except (OSError, pa.ArrowException, _delta_error()) as exc:
        if new and fmt == DELTA:
            remove_uncommitted_prefix(path, storage)
        raise OutputRefusedError(
            "OUTPUT_NOT_WRITABLE",
            f"{naming.output} could not be written{_under(root, naming)}",
        ) from exc


def _write_object_delta(
    path: str,
    rows: pa.RecordBatchReader,
    manifest_json: str,
    storage: StorageOptions,
    overwrite: bool,
) -> None:
    """Commit ``rows`` as a Delta table at ``path`` on an object store.

    Raises:
        OutputTakenError: without ``overwrite``, another writer committed a
            table there first (delta-rs would otherwise retry the commit as
            an append to it: both sets in one table).
    """
    from deltalake import CommitProperties, write_deltalake

    uri = to_delta_uri(path)
    options = storage.for_location(uri)
    if overwrite:
        write_deltalake(
            uri,
            rows,
            mode="overwrite",
            schema_mode="overwrite",
            storage_options=options,
            commit_properties=_commit(manifest_json),
        )
        return
    try:
        write_deltalake(
            uri,
            rows,
            mode="error",
            storage_options=options,
            commit_properties=CommitProperties(
                custom_metadata={COMMIT_KEY: manifest_json}, max_commit_retries=0
            ),
        )
    except _delta_error() as exc:
        fs, key = storage.filesystem(path)
        if _is_object_delta(fs, key):  # not ours: this commit failed
            raise OutputTakenError from exc
        raise
