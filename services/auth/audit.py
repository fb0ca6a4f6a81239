"""The audit log: one JSON line per call, written off the request thread."""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import time
from pathlib import Path
from typing import Any

_MAX_BYTES = 100 * 1024 * 1024
_BACKUPS = 5


class AuditLog:
    """Appends audit records to ``path``, rotated at 100 MiB keeping 5 files.

    Records go through a queue to a background writer, so a call never waits
    on the disk; ``close`` flushes what is queued. Records never carry
    credentials: callers pass the principal's name, never a token.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(self._queue, self._handler)
        self._listener.start()

    def record(self, **fields: Any) -> None:
        """Queue one record; ``time`` (UTC, ISO 8601, ms) is added first."""
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        line = json.dumps(
            {"time": f"{stamp}.{int(now * 1000) % 1000:03d}Z", **fields},
            separators=(",", ":"),
            default=str,
        )
        self._queue.put(
            logging.LogRecord("audit", logging.INFO, "", 0, line, None, None)
        )

    def close(self) -> None:
        """Write every queued record and close the file."""
        self._listener.stop()
        self._handler.close()
