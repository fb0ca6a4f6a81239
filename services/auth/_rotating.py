"""A size-rotated log file that several processes may append to at once."""

from __future__ import annotations

import fcntl
import io
import logging
import logging.handlers
import os
from pathlib import Path


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The standard library's RotatingFileHandler, safe across processes.

    The server's worker processes all audit to one path. The plain handler
    decides to rotate from the size of the file it has open and renames files
    under the others: they keep appending to the renamed file, rotate it again
    (renaming the first one's fresh file away) and race on the renames, where
    a lost race drops the batch being written. Here each write holds an
    exclusive ``flock`` on ``<path>.lock``; under it the handler reopens the
    path if another process rotated it (as WatchedFileHandler does), then
    the standard logic runs on the file as it is: rotate when full, append.
    New files are created readable by their owner only (0600).
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self._lock_fd = os.open(
            f"{self.baseFilename}.lock", os.O_RDWR | os.O_CREAT, 0o600
        )

    def _open(self) -> io.TextIOWrapper:
        """The log file, created readable by its owner only (an audit names
        who read what; the umask's usual 0644 would show it to every user),
        on first open and on each rotation."""
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._reopen_if_moved()
            super().emit(record)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        super().close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _reopen_if_moved(self) -> None:
        if self.stream is None:
            return  # opened by emit
        try:
            current = os.stat(self.baseFilename)
        except FileNotFoundError:
            current = None
        opened = os.fstat(self.stream.fileno())
        if current is None or (current.st_dev, current.st_ino) != (
            opened.st_dev,
            opened.st_ino,
        ):
            self.stream.close()
            self.stream = self._open()
