"""Training sets written by GetHistoricalFeatures, and what they may replace.

A training set this service wrote carries its manifest: a Parquet file in its
footer (key ``featurestore.training_set``), a Delta table in a
``_featurestore_training_set.json`` file in its folder (Delta ignores files
starting with ``_``). Only such a training set may be replaced, and only with
``overwrite``; a feature table, a quarantine table, the registry or any other
file is never touched. Every check runs before the join, and a failed write
removes what it created, so a refused request leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.services.offline import JoinedRows
from featurestore.services.server.errors import FailedPreconditionError, RequestError
from featurestore.services.server.paths import is_uri

MARKER = "_featurestore_training_set.json"
"""The manifest inside a Delta training set's folder."""
PARQUET_KEY = b"featurestore.training_set"
"""The manifest's key in a Parquet training set's footer."""
WRITE_BATCH_ROWS = 65_536
"""Rows per Parquet row group / Delta write batch, whatever the stream's size."""
PARQUET, DELTA = "parquet", "delta"


def check_output(path: str, fmt: str, overwrite: bool, root: str) -> None:
    """Refuse, before any work, an output that may not be written.

    Args:
        path: The resolved output (inside ``root``, see ``PathPolicy``).
        fmt: ``parquet`` or ``delta``.
        overwrite: The request's overwrite flag.
        root: The resolved training-set root.

    Raises:
        RequestError: the output is a URI (UNSUPPORTED_OUTPUT_URI).
        FailedPreconditionError: something there is not a training set
            (OUTPUT_NOT_A_TRAINING_SET), is one of the other format
            (OUTPUT_FORMAT_CHANGED) or exists without overwrite
            (OUTPUT_EXISTS); a folder on the way is a file or a table
            (OUTPUT_INSIDE_FILE).
    """
    if is_uri(path):
        raise RequestError(
            "output_path",
            "output_path: only local training-set roots are written so far",
            reason="UNSUPPORTED_OUTPUT_URI",
        )
    target, top = Path(path), Path(root)
    for folder in [*reversed(target.parents[: _depth(target, top)]), top]:
        if folder.exists() and (not folder.is_dir() or _is_delta(folder)):
            raise _refused(
                "OUTPUT_INSIDE_FILE",
                "a folder on the way to output_path is a file or a table",
            )
    if not os.path.lexists(target):
        return
    kind = training_set_kind(target)
    if kind is None:
        if fmt == DELTA and target.is_dir() and not any(target.iterdir()):
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


def write_training_set(
    path: str, fmt: str, rows: JoinedRows, manifest_json: str, root: str
) -> None:
    """Write ``rows`` to ``path`` with its manifest, one batch at a time.

    Folders are created inside ``root`` only (``root`` itself when its
    parent exists). On failure, whatever this call created is removed.

    Raises:
        FailedPreconditionError: the root's parent is missing
            (OUTPUT_ROOT_MISSING) or the write failed (OUTPUT_NOT_WRITABLE).
    """
    target, top = Path(path), Path(root)
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


def _refused(reason: str, message: str, **metadata: str) -> FailedPreconditionError:
    return FailedPreconditionError(
        message,
        reason=reason,
        subject="output_path",
        field="output_path",
        setting="training_set_root",
        **metadata,
    )
