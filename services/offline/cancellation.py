"""A signal, set from another thread, that stops a read or join between stages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from featurestore.services.offline.errors import RequestCancelledError

__all__ = ["Cancellation", "keyboard_interrupts"]


_INTERRUPTED = "Query interrupted"
"""What DuckDB's Python module raises (a RuntimeError) when a Ctrl-C lands
while it fetches a result: it takes the KeyboardInterrupt's place."""


@contextmanager
def keyboard_interrupts() -> Iterator[None]:
    """Give back the Ctrl-C DuckDB took: its ``InterruptException``, or the
    ``RuntimeError("Query interrupted")`` it raises for a signal that lands
    while it fetches a result, becomes ``KeyboardInterrupt`` again.

    Without it a Ctrl-C in a long query was an "unexpected RuntimeError" and
    the work went on (``featurestore materialize`` moved to the next view,
    exit 1). Inside ``Cancellation.interrupting`` a cancel is still
    ``RequestCancelledError``: only an interrupt nobody asked for is a
    Ctrl-C (a signal reaches the main thread only).
    """
    try:
        yield
    except (duckdb.InterruptException, RuntimeError) as exc:
        if not _duckdb_interrupt(exc):
            raise
        raise KeyboardInterrupt from exc


def _duckdb_interrupt(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.InterruptException) or (
        type(exc) is RuntimeError and str(exc) == _INTERRUPTED
    )


class Cancellation:
    """One-way: once ``cancel`` is called, the work it was given to stops.

    The work calls ``raise_if_cancelled`` between stages and runs its DuckDB
    queries inside ``interrupting``, so a query in flight is interrupted
    rather than run to its end. A new ``Cancellation`` is never cancelled:
    callers with nobody to lose (the CLI, Feast's offline store) pass none.
    ``cancel`` is safe from any thread, at any time, any number of times (a
    gRPC termination callback calls it when the call ends, however it ends).
    """

    def __init__(self) -> None:
        # The lock makes "cancelled, or registered to be interrupted" atomic,
        # and keeps a connection open until an interrupt sent to it returns
        # (interrupting a closed connection raises).
        self._lock = threading.Lock()
        self._cancelled = False
        self._running: list[duckdb.DuckDBPyConnection] = []

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Stop the work: interrupt its running query; later checks raise."""
        with self._lock:
            self._cancelled = True
            for con in self._running:
                con.interrupt()

    def raise_if_cancelled(self) -> None:
        """Return if not cancelled.

        Raises:
            RequestCancelledError: ``cancel`` was called.
        """
        if self._cancelled:
            raise RequestCancelledError()

    @contextmanager
    def interrupting(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Run the block's queries on ``con`` so that ``cancel`` interrupts them.

        Raises:
            RequestCancelledError: cancelled before the block, during it (the
                query's ``duckdb.InterruptException`` becomes this error) or
                by its end.
        """
        with self._lock:
            self.raise_if_cancelled()
            self._running.append(con)
        try:
            yield
        except (duckdb.InterruptException, RuntimeError) as exc:
            if not _duckdb_interrupt(exc):
                raise
            if self._cancelled:
                raise RequestCancelledError() from exc
            raise KeyboardInterrupt from exc  # a Ctrl-C, not our cancel
        finally:
            with self._lock:
                self._running.remove(con)
        # DuckDB clears a pending interrupt when a query starts
        # (ClientContext::InitialCleanup): a cancel landing just before a
        # query, or between two, lets that query run to its end; it is seen here.
        self.raise_if_cancelled()
