"""The audit log: one JSON line per call, written in batches off the request thread."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from featurestore.services.auth._rotating import SharedRotatingFileHandler

_MAX_BYTES = 100 * 1024 * 1024
_BACKUPS = 5
_FRAGMENTS_LIMIT = 4096

Queued = tuple[float, str, str, str, Sequence[str], str, str, float]
"""What a call queues: ``time.perf_counter()`` at its end, request id,
principal, method, resources, decision, code, ``perf_counter()`` at its start."""


class AuditLog:
    """Appends audit records to ``path``, rotated at 100 MiB keeping 5 files.

    A call only reads the monotonic clock and appends a tuple to a deque
    (atomic, no lock); a writer thread turns the clock readings into the time
    and the duration, formats what gathered and hands it to the standard
    library's RotatingFileHandler every ``interval`` seconds, as one write
    (under a file lock: the server's processes share the file and its
    rotation, see ``SharedRotatingFileHandler``).
    One record per write cost the request path ~60 us (a thread wake-up and
    the GIL per call); a batch costs it ~1 us. ``close`` writes what is left.
    Records never carry credentials: callers pass the principal's name, never
    a token.

    Each line is ``{"time", "request_id", "principal", "method", "resources",
    "decision", "code", "duration_ms"}`` in that order, as ``json.dumps``
    writes it; the writer encodes the fields that repeat from call to call
    (principal to code) once per distinct combination.
    """

    def __init__(
        self,
        path: Path,
        interval: float = 0.1,
        max_bytes: int = _MAX_BYTES,
        backups: int = _BACKUPS,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Every worker process of a server audits to this one path.
        self._handler = SharedRotatingFileHandler(path, max_bytes, backups)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._pending: deque[Queued] = deque()
        self._lines = _LineFormat()
        self._closed = threading.Event()
        self._writer = threading.Thread(
            target=self._write_every, args=(interval,), name="audit", daemon=True
        )
        self._writer.start()

    def record(
        self,
        request_id: str,
        principal: str,
        method: str,
        resources: Sequence[str],
        decision: str,
        code: str,
        started: float,
    ) -> None:
        """Queue the record of a call ending now that began at ``started``
        (``time.perf_counter()``); the writer formats it."""
        self._pending.append(
            (
                time.perf_counter(), request_id, principal, method, resources,
                decision, code, started,
            )
        )  # fmt: skip

    def close(self) -> None:
        """Write every queued record and close the file."""
        self._closed.set()
        self._writer.join()
        self._flush()
        self._handler.close()

    def _write_every(self, interval: float) -> None:
        while not self._closed.wait(interval):
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        # popleft per entry: appends racing with the drain are kept for the
        # next batch, never lost.
        entries = [pending.popleft() for _ in range(len(pending))]
        if entries:
            # perf_counter -> wall clock; the entries are at most one interval
            # old, so the two clocks cannot drift apart in between.
            batch = self._lines.lines(entries, time.time() - time.perf_counter())
            # One record holding the batch: one write, one flush, and the
            # handler's size check (rotation happens between batches).
            self._handler.handle(
                logging.LogRecord(
                    "audit", logging.INFO, "", 0, "\n".join(batch), None, None
                )
            )


class _LineFormat:
    """Formats entries as JSON lines, reusing what repeats (writer thread only)."""

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""
        self._fragments: dict[tuple[object, ...], str] = {}

    def lines(self, entries: Sequence[Queued], offset: float) -> list[str]:
        """The JSON lines of ``entries`` (what ``json.dumps`` of each one's dict
        writes), their clock readings turned into wall time by ``offset``.

        One loop with everything it uses local: the writer formats every
        call's line, ~1 us each, holding the GIL the request threads need.
        """
        fragments, out = self._fragments, []
        second, stamp = self._second, self._stamp
        for (
            ended,
            request_id,
            principal,
            method,
            resources,
            decision,
            code,
            started,
        ) in entries:
            when = ended + offset
            if int(when) != second:
                second = int(when)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
            key = (principal, method, tuple(resources), decision, code)
            fragment = fragments.get(key)
            if fragment is None:
                fragment = self._fragment(key)
            # A duration is a difference of two finite clock readings: finite,
            # and json writes a finite float as its repr.
            out.append(
                f'{{"time":"{stamp}.{int(when * 1000) % 1000:03d}Z",'
                f'"request_id":{_encode_string(request_id)},{fragment},'
                f'"duration_ms":{round((ended - started) * 1000, 3)!r}}}'
            )
        self._second, self._stamp = second, stamp
        return out

    def _fragment(self, key: tuple[Any, ...]) -> str:
        principal, method, resources, decision, code = key
        fragment = _ENCODER.encode(
            {
                "principal": principal,
                "method": method,
                "resources": list(resources),
                "decision": decision,
                "code": code,
            }
        )[1:-1]
        if len(self._fragments) >= _FRAGMENTS_LIMIT:
            self._fragments.clear()
        self._fragments[key] = fragment
        return fragment


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
_encode_string = json.encoder.encode_basestring_ascii
"""What the encoder writes for a str (ensure_ascii), minus its Python-level call."""
