"""The audit log: one JSON line per call, written in batches off the request thread."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from prometheus_client import Counter

from featurestore.services.auth._rotating import SharedRotatingFile
from featurestore.services.auth.errors import AuthConfigError

log = logging.getLogger(__name__)

_MAX_BYTES = 100 * 1024 * 1024
_BACKUPS = 5
_FRAGMENTS_LIMIT = 4096
_MAX_UNWRITTEN = 100_000
"""Records held for retry while the file cannot be written (~20 MB); beyond
this, records are dropped and counted as lost (refusals first, see ``_hold``)."""

REFUSED = "refused"
"""The decision of a call refused because the audit cannot be written."""

OnFailure = Literal["refuse", "serve"]
"""What a server does while its audit cannot be written (auditd's
``disk_full_action``): refuse new guarded calls, or serve on."""

WRITE_FAILURES = Counter(
    "featurestore_audit_write_failures_total",
    "Attempts to append audit records that failed (full disk, I/O error).",
)
RECORDS_LOST = Counter(
    "featurestore_audit_records_lost_total",
    "Audit records never written: dropped beyond the retry bound, or still "
    "unwritten when the server stopped.",
)

Queued = tuple[float, str, str, str, Sequence[str], str, str, float]
"""What a call queues: ``time.perf_counter()`` at its end, request id,
principal, method, resources, decision, code, ``perf_counter()`` at its start."""
_DECISION = 5
"""Where a ``Queued`` entry holds the decision."""


class AuditLog:
    """Appends audit records to ``path``, rotated at 100 MiB keeping 5 files.

    When the file cannot be written (a full disk), the records are held and
    retried every interval (at most ``max_unwritten``; beyond, the newest
    refusals are dropped first, then the oldest records, and counted as lost:
    the refusals a full disk brings never push out the records of calls that
    were served), one WARNING names the file and the error, and
    ``failing`` is true until a write succeeds; with ``on_failure="refuse"``
    the guard refuses new calls meanwhile (``refusing``). ``close`` returns
    how many records were never written.

    A call only reads the monotonic clock and appends a tuple to a deque
    (atomic, no lock); a writer thread turns the clock readings into the time
    and the duration, formats what gathered and appends it every
    ``interval`` seconds, as one write (under a file lock: the server's
    processes share the file and its rotation, see ``SharedRotatingFile``).
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
        on_failure: OnFailure = "refuse",
        max_unwritten: int = _MAX_UNWRITTEN,
        retry_seconds: float = 1.0,
    ) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Every worker process of a server audits to this one path.
            self._file = SharedRotatingFile(path, max_bytes, backups)
        except OSError as exc:
            raise AuthConfigError(
                f"audit log {path} cannot be written ({exc.strerror or exc}): "
                "set --audit-log (FS_AUDIT_LOG) to a file in a folder the "
                "server may write",
                audit_log=str(path),
            ) from exc
        self.path, self.on_failure = path, on_failure
        self.on_failing: Callable[[], None] | None = None
        """Called (on the writer thread) when a failure episode begins."""
        self._max_unwritten, self._retry_seconds = max_unwritten, retry_seconds
        self._retry_at = 0.0
        self._unwritten: list[tuple[str, bool]] = []
        """Formatted lines held for the next write, each with whether it
        records a refusal."""
        self._lost = 0
        self._failing = False
        self._pending: deque[Queued] = deque()
        self._lines = _LineFormat()
        self._closed = threading.Event()
        self._file_closed = False
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
        (``time.perf_counter()``); the writer formats it. A call ending after
        ``close`` wrote the last batch (a long call or a stream outliving the
        server's stop) is not written: it is counted as lost (in ``close``'s
        result while ``close`` runs, else in the metric, with a WARNING)."""
        self._pending.append(
            (
                time.perf_counter(), request_id, principal, method, resources,
                decision, code, started,
            )
        )  # fmt: skip
        # Checked after the append: close sets the flag, then drains; what it
        # missed was appended after the flag was set, so its caller sees it.
        if self._file_closed:
            self._lose_late()

    @property
    def failing(self) -> bool:
        """True from a failed write until a write succeeds."""
        return self._failing

    @property
    def refusing(self) -> bool:
        """True while new guarded calls are to be refused (policy ``refuse``)."""
        return self._failing and self.on_failure == "refuse"

    def close(self) -> int:
        """Write every queued record and close the file; the number of
        records never written (lost beyond the retry bound, unwritable now, or
        of calls ending while it closed). Later records are lost: see
        ``record``."""
        self._closed.set()
        self._writer.join()
        self._retry_at = 0.0  # a last attempt, whenever the previous one was
        self._flush()
        self._file.close()
        self._file_closed = True
        # Records appended since the last batch was taken (see ``record``).
        unwritten = len(self._unwritten) + self._drain_pending()
        RECORDS_LOST.inc(unwritten)
        self._unwritten = []
        return self._lost + unwritten

    def _drain_pending(self) -> int:
        """Drop what is queued (the file is closed); how many records."""
        dropped = 0
        while True:
            try:
                self._pending.popleft()
            except IndexError:
                return dropped
            dropped += 1

    def _lose_late(self) -> None:
        late = self._drain_pending()
        if late:  # another caller may have drained this record already
            RECORDS_LOST.inc(late)
            log.warning(
                "audit log %s is closed: %d records of calls that ended after "
                "the server stopped were not written",
                self.path,
                late,
            )

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
            # old, so the two clocks cannot drift apart in between. Formatted
            # once: a record held for retry keeps the time of its call.
            lines = self._lines.lines(entries, time.time() - time.perf_counter())
            refused = (entry[_DECISION] == REFUSED for entry in entries)
            self._hold(zip(lines, refused, strict=True))
        if not self._unwritten or (
            # While failing, retry every retry_seconds, not every interval:
            # up to max_unwritten lines are joined for each attempt.
            self._failing and time.monotonic() < self._retry_at
        ):
            return
        # One write per batch (rotation happens between batches); it lands
        # whole or not at all, so a retry neither loses nor repeats a line.
        try:
            text = "\n".join(line for line, _ in self._unwritten)
            self._file.append((text + "\n").encode())
        except OSError as exc:
            self._failed(exc)
            return
        written, self._unwritten = len(self._unwritten), []
        if self._failing:
            self._failing = False
            log.warning(
                "audit log %s can be written again: %d held records written",
                self.path,
                written,
            )

    def _hold(self, lines: Iterable[tuple[str, bool]]) -> None:
        """Hold ``lines`` (each with whether it is a refusal) for the next
        write; beyond ``max_unwritten`` drop the newest refusals, then the
        oldest records. While refusing, every unauthenticated call adds a
        refusal: dropping the oldest first let them push out the records of
        the calls served before the disk filled, which refusing protects."""
        held = self._unwritten
        held.extend(lines)
        excess = len(held) - self._max_unwritten
        if excess <= 0:
            return
        refusals = sum(refused for _, refused in held)
        keep = refusals - min(excess, refusals)  # the first refusals stay
        if keep < refusals:
            kept = []
            for line, refused in held:
                if refused:
                    if not keep:
                        continue
                    keep -= 1
                kept.append((line, refused))
            held = self._unwritten = kept
        del held[: len(held) - self._max_unwritten]
        self._lost += excess
        RECORDS_LOST.inc(excess)

    def _failed(self, exc: OSError) -> None:
        WRITE_FAILURES.inc()
        self._retry_at = time.monotonic() + self._retry_seconds
        if self._failing:
            return  # one warning per episode
        self._failing = True
        log.warning(
            "audit log %s cannot be written (errno %s, %s): %d records held "
            "and retried; %s until a write succeeds (audit_on_failure=%s)",
            self.path,
            exc.errno,
            exc.strerror or exc,
            len(self._unwritten),
            "new calls are refused" if self.on_failure == "refuse" else "serving on",
            self.on_failure,
        )
        if self.on_failing is not None:
            self.on_failing()


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
