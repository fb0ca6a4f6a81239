"""Ctrl-C in a Spark job: cancel its Spark jobs, and silence the JVM after it."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import py4j
from pyspark import SparkContext

_INTERRUPTED = threading.Event()
"""Set by the first Ctrl-C; the JVM's output is dropped from then on."""

_PY4J_DIR = Path(py4j.__file__).parent


def jvm_stderr() -> int:
    """A pipe's write end for the JVM's stderr; a thread relays what comes
    through it to this process's stderr until the first Ctrl-C.

    The JVM inherited fd 2 before: after a Ctrl-C it printed a hundred lines
    there (the cancelled job's "Aborting job" and InterruptedException
    stacks, its tasks' errors, its shutdown after this process exited), which
    no Python logging setting reaches. Through the pipe they stop at the
    interrupt. The caller closes the returned descriptor once the JVM holds it.
    """
    read_end, write_end = os.pipe()
    relay = threading.Thread(
        target=_relay, args=(read_end,), name="jvm-stderr", daemon=True
    )
    relay.start()
    return write_end


def _relay(read_end: int) -> None:
    # Reads to the end whatever happens: a JVM whose stderr pipe is full would
    # block in its next log line.
    with open(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            if not _INTERRUPTED.is_set():
                _write_stderr(chunk)


def _write_stderr(chunk: bytes) -> None:
    try:
        while chunk:
            chunk = chunk[os.write(2, chunk) :]
    except OSError:  # stderr closed: the JVM's output has nowhere to go
        pass


def cancel_on_interrupt(context: SparkContext) -> None:
    """Make Ctrl-C cancel ``context``'s jobs and raise KeyboardInterrupt,
    without the Py4J tracebacks PySpark's own SIGINT handler prints; from
    then on the JVM's output (see :func:`jvm_stderr`) and Py4J's records of
    the broken call are dropped, for as long as this process lives.

    PySpark's handler calls ``cancelAllJobs`` on the thread the signal
    interrupted, usually in the middle of a Py4J call on the same connection
    ("reentrant call"), and Py4J logs the KeyboardInterrupt itself with its
    traceback. Here the cancel runs on a thread of its own (its own
    connection), and nothing waits for it: the KeyboardInterrupt reaches the
    caller at once, which says it in one line.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread

    def cancel_and_interrupt(signum: int, frame: FrameType | None) -> None:
        _INTERRUPTED.set()
        threading.Thread(target=_cancel_all_jobs, args=(context,), daemon=True).start()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, cancel_and_interrupt)
    if sys.unraisablehook is not _redeliver_swallowed:
        global _previous_unraisablehook
        _previous_unraisablehook = sys.unraisablehook
        sys.unraisablehook = _redeliver_swallowed
    # Py4J logs on the root logger ("KeyboardInterrupt while sending command.")
    # and on its own (a connection it could not shut down): filters apply
    # only where a record is made.
    for logger in (logging.getLogger(), logging.getLogger("py4j.clientserver")):
        if not any(isinstance(f, _Py4JInterruptFilter) for f in logger.filters):
            logger.addFilter(_Py4JInterruptFilter())


_previous_unraisablehook = sys.unraisablehook


def _redeliver_swallowed(unraisable: sys.UnraisableHookArgs) -> None:
    """Deliver a KeyboardInterrupt Python swallowed again, after this hook.

    A Ctrl-C while a finalizer runs (Py4J's weakref callbacks that free JVM
    objects run on whichever line made the garbage) raised the
    KeyboardInterrupt inside it: Python printed "Exception ignored in" with
    its traceback and went on, into a Spark job nobody would cancel any more.
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _INTERRUPTED.is_set():
        _signal_main_thread_after_this()
    else:
        _previous_unraisablehook(unraisable)


def _signal_main_thread_after_this() -> None:
    # A signal raised here would run the handler here, inside the finalizer's
    # hook, and be swallowed again. A thread sends it once this hook releases
    # ``hook``: the main thread checks for signals again only after a call,
    # and the release is its last; a KeyboardInterrupt that still lands in it
    # is delivered again.
    hook = threading.Lock()
    hook.acquire()
    threading.Thread(target=_signal_main_thread, args=(hook,), daemon=True).start()
    try:
        hook.release()
    except KeyboardInterrupt:
        _signal_main_thread_after_this()


def _signal_main_thread(hook: threading.Lock) -> None:
    with hook:  # the real signal also ends a blocking call (PEP 475)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def _cancel_all_jobs(context: SparkContext) -> None:
    try:
        context.cancelAllJobs()
    except Exception:  # the JVM is already going away: nothing left to cancel
        logging.getLogger(__name__).debug("cancelAllJobs failed", exc_info=True)


class _Py4JInterruptFilter(logging.Filter):
    """Drop Py4J's records of an interrupted call (with their tracebacks):
    any record Py4J makes after a Ctrl-C, or about a KeyboardInterrupt."""

    def filter(self, record: logging.LogRecord) -> bool:
        if Path(record.pathname).parent != _PY4J_DIR:
            return True
        return not (_INTERRUPTED.is_set() or _about_interrupt(record))


def _about_interrupt(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__context__
    return False
