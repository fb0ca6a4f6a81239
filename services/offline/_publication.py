"""Staging a training set beside its output and publishing it whole."""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path, PurePath
from typing import TypeVar

from featurestore.services.storage import StorageOptions, is_delta_table

STAGING_PREFIX, STAGING_SUFFIX = ".fs-", ".tmp"
"""A training set is written under such a hidden name beside its output."""
STALE_STAGING_SECONDS = 3600
"""A staging entry untouched this long belongs to a writer that died."""

_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


class OutputTakenError(Exception):
    """Something appeared at the output between its check and publication."""


_P = TypeVar("_P", bound=PurePath)


def staging_path(path: _P) -> _P:
    """A hidden name beside ``path`` (a local path, or an object key as a
    ``PurePosixPath``) to write it under before publication."""
    return path.with_name(f"{STAGING_PREFIX}{uuid.uuid4().hex}{STAGING_SUFFIX}")


def is_staging(path: Path) -> bool:
    """Whether ``path`` is named as a staging entry (``staging_path``)."""
    return path.name.startswith(STAGING_PREFIX) and path.name.endswith(STAGING_SUFFIX)


def publish_file(staged: Path, final: Path) -> None:
    """Give ``staged`` the name ``final`` unless ``final`` exists, atomically.

    A hard link never replaces its target (unlike a rename), so of two
    writers publishing the same path, across processes, exactly one wins.
    ``staged`` keeps its name too: the caller removes it.

    Raises:
        OutputTakenError: something is at ``final`` already.
    """
    try:
        os.link(staged, final)
    except FileExistsError as exc:
        raise OutputTakenError from exc
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # A file system without hard links: check, then rename; only here a
        # concurrent writer can slip in between.
        if os.path.lexists(final):
            raise OutputTakenError from exc
        os.replace(staged, final)


def publish_folder(staged: Path, final: Path) -> None:
    """Rename the folder ``staged`` to ``final`` unless ``final`` holds anything.

    A folder's rename replaces only a missing or empty folder (which
    ``check_output`` allows: nothing to lose), atomically; the kernel orders
    two renames onto one path, so the second finds the first's table there.

    Raises:
        OutputTakenError: ``final`` is a file or a folder with content.
    """
    try:
        os.rename(staged, final)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise OutputTakenError from exc
        raise


def publish_staged_folder(
    final: Path,
    write: Callable[[Path], None],
    taken: Callable[[Path], None],
) -> None:
    """Write a folder under a staging name beside ``final``, then publish it whole.

    ``write(staged)`` fills the staging folder (a Delta table and its
    marker); ``publish_folder`` gives it the name ``final``. When something
    is there already (a concurrent writer published first) ``taken(staged)``
    decides: it replaces what is there from the staged copy, or raises
    ``OutputTakenError``. The staging entry never outlives the call, so a
    failed write leaves nothing at ``final`` and nothing beside it; only a
    killed writer's entry stays, for ``remove_stale_staging``.
    """
    staged = staging_path(final)
    try:
        write(staged)
        try:
            publish_folder(staged, final)
        except OutputTakenError:
            taken(staged)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def remove_uncommitted_prefix(path: str, storage: StorageOptions) -> None:
    """Remove what a failed first Delta write left at ``path`` on an object store.

    An object store has no staging rename: a new table is written in place,
    and a write failing before its version 0 leaves data files but no table
    (and, from Spark's S3A, empty ``_delta_log`` folder markers), blocking the
    path. Only such leftovers go: a table there (a committed version) is a
    concurrent writer's that committed first. The store may be what failed,
    so its errors here are not raised.
    """
    from deltalake.exceptions import DeltaError

    with suppress(OSError, DeltaError):
        if not is_delta_table(path, storage):
            fs, key = storage.filesystem(path)
            fs.delete_dir(key)


def write_text_whole(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a crash never leaves half a file)."""
    partial = staging_path(path)
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def remove_stale_staging(folder: Path) -> None:
    """Remove staging entries in ``folder`` left by writers that died.

    Stale means untouched for ``STALE_STAGING_SECONDS``. A live writer keeps
    writing into its entry (the rows are joined before the write begins),
    and an age holds across the processes and hosts sharing a folder, where
    a process id would not (another host's, or one reused).
    """
    now = time.time()
    with suppress(OSError), os.scandir(folder) as entries:  # unlistable: nothing
        for entry in entries:
            staged = Path(entry.path)
            if not is_staging(staged):
                continue
            if now - _last_touched(staged) <= STALE_STAGING_SECONDS:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)


def _last_touched(staged: Path) -> float:
    """The latest change to ``staged`` or (a folder) anything directly in it."""
    try:
        times = [staged.lstat().st_mtime]
        if staged.is_dir():
            times += [p.lstat().st_mtime for p in staged.iterdir()]
    except OSError:
        return float("inf")  # going away already: leave it to its owner
    return max(times)
