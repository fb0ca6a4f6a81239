"""A size-rotated append-only file that several processes may append to at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class SharedRotatingFile:
    """Whole-batch appends to ``path``, rotated at ``max_bytes`` keeping
    ``backups`` files (``path.1`` the newest), safe across processes.

    The server's worker processes all audit to one path. Deciding to rotate
    from the size of one's own open file renames files under the others: they
    keep appending to the renamed file, rotate it again and race on the
    renames. Here each append holds an exclusive ``flock`` on ``<path>.lock``;
    under it the file is reopened if another process rotated it, rotated when
    the batch would pass the limit, then appended to.

    An append either lands whole or not at all: it is written unbuffered, and
    when a write fails part-way (a full disk) the file is cut back to where
    the batch began, so a retry neither duplicates nor tears a line. Failures
    raise ``OSError``; nothing is swallowed (the logging handler this
    replaced printed the records to stderr and dropped them).
    Files are created readable by their owner only (0600): an audit names
    who read what.

    Raises:
        OSError: ``path`` (or its lock file) cannot be opened.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = os.path.abspath(path)
        self._max_bytes, self._backups = max_bytes, backups
        self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._fd = self._open()
        except OSError:
            os.close(self._lock_fd)
            raise

    def append(self, data: bytes) -> None:
        """Append ``data`` (whole lines), rotating first when it would pass the
        size limit.

        Raises:
            OSError: it could not be written (ENOSPC, EIO, ...); the file is as
                it was before.
        """
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._reopen_if_moved()
            start = os.fstat(self._fd).st_size
            if start and start + len(data) > self._max_bytes:
                self._rotate()
                start = 0
            self._write_all(data, start)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the file and its lock (idempotent)."""
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _write_all(self, data: bytes, start: int) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            # Under the lock nobody appended after ``start``; if cutting back
            # fails too, the error being raised says what went wrong.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        for n in range(self._backups - 1, 0, -1):
            older = f"{self.path}.{n}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{n + 1}")
        if self._backups > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.remove(self.path)
        self._fd = self._open()

    def _reopen_if_moved(self) -> None:
        if self._fd < 0:
            self._fd = self._open()
            return
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        opened = os.fstat(self._fd)
        if current is None or (current.st_dev, current.st_ino) != (
            opened.st_dev,
            opened.st_ino,
        ):
            os.close(self._fd)
            self._fd = -1
            self._fd = self._open()
