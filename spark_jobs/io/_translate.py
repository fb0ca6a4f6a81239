"""Delta's and the object store's failures, re-raised as ours (``from exc``)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException

from featurestore.services.storage import delta_error_detail, is_local, os_errno
from featurestore.spark_jobs.errors import (
    SparkJobError,
    StorageUnavailableError,
    TableNotWritableError,
    WriteConflictError,
)

# Importing delta.exceptions makes PySpark raise these (Python) classes for Delta's
# Scala concurrent-commit errors; every one of them means "retry on a new snapshot".
from delta.exceptions import (  # isort: skip
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)

_CONFLICTS = (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)


@contextmanager
def conflicts_translated(location: str) -> Iterator[None]:
    """Re-raise Delta's concurrent-commit errors as WriteConflictError."""
    try:
        yield
    except _CONFLICTS as exc:
        raise WriteConflictError(location, first_line(exc)) from exc
    except Exception as exc:
        # Older paths (e.g. a first commit racing another) surface as a plain
        # Py4J error naming the Scala class.
        if (
            "Concurrent" in type(exc).__name__
            or "io.delta.exceptions.Concurrent" in (str(exc)[:500])
        ):
            raise WriteConflictError(location, first_line(exc)) from exc
        raise


@contextmanager
def store_reached(location: str) -> Iterator[None]:
    """Re-raise an object store's failure (no answer, refused, no such bucket)
    as StorageUnavailableError naming ``location``: delta-rs's ``OSError``, or
    a JVM ``IOException`` (S3A's) anywhere in Spark's cause chain. Neither is
    chained: their text quotes request ids and the server's answer."""
    if is_local(location):  # a local file system's failure is no store's
        yield
        return
    try:
        yield
    except SparkJobError:
        raise
    except OSError as exc:  # delta-rs: "Generic S3 error" and the server's XML
        head = delta_error_detail(exc).split(":", 1)[0].strip()
        raise StorageUnavailableError(location, head or "OSError") from None
    except (Py4JJavaError, CapturedException) as exc:
        java = exc.java_exception if isinstance(exc, Py4JJavaError) else exc._origin
        failed = _io_failure(java)
        if failed is None:
            raise
        raise StorageUnavailableError(location, failed) from None


_REFUSALS = {
    errno.ENOSPC: "free space on its file system, then run the job again",
    errno.EDQUOT: "free space or raise the quota, then run the job again",
    errno.EACCES: "let the job's user write its folders and files",
    errno.EPERM: "let the job's user write its folders and files",
    errno.EROFS: "its file system is mounted read-only: remount it writable "
    "or publish elsewhere",
}
"""The operating system's errors that refuse a table write, and what to do."""

_NO_FOLDER = "Mkdirs failed to create"
"""How Hadoop's local file system reports a folder it could not create: no
errno, and the OS error is not asked (a folder not writable, mostly)."""


@contextmanager
def table_written(location: str) -> Iterator[None]:
    """Re-raise a local file system's refusal to write the table at
    ``location`` (full disk, no permission, read-only) as TableNotWritableError.

    Spark reports it as a JVM ``IOException`` somewhere in its cause chain
    whose message holds the operating system's text for the error (``No space
    left on device``, ``/x/part-0.parquet (Read-only file system)``); Python
    as an ``OSError`` (the commit lock), delta-rs as an error quoting it
    (``... (os error 28)``, profiles' ``append_arrow``). Only the error's name and
    words are kept: the Java text quotes file names and a JVM stack.
    """
    if not is_local(location):  # an object store's failure: store_reached
        yield
        return
    try:
        yield
    except SparkJobError:
        raise
    except (Py4JJavaError, CapturedException) as exc:
        java = exc.java_exception if isinstance(exc, Py4JJavaError) else exc._origin
        refused = _refused_write(java)
        if refused is None:
            raise
        raise _not_writable(location, refused) from exc
    except Exception as exc:  # OSError, or delta-rs's DeltaError quoting one
        number = os_errno(exc)
        if number not in _REFUSALS:
            raise
        raise _not_writable(location, number) from exc


def _not_writable(location: str, number: int) -> TableNotWritableError:
    if number == 0:
        return TableNotWritableError(
            location,
            "Hadoop could not create a folder in it",
            "check that the job's user may write there and the disk has room",
        )
    name = errno.errorcode[number]
    cause = f"{name} ({os.strerror(number)})"
    return TableNotWritableError(location, cause, _REFUSALS[number], errno=name)


def _refused_write(java: Any) -> int | None:
    """The errno of the first ``IOException`` in ``java``'s cause chain that
    quotes one of ``_REFUSALS`` (0: Hadoop's folder creation failed), else None."""
    texts = {os.strerror(n): n for n in _REFUSALS}
    for _, message in _io_exceptions(java):
        for text, number in texts.items():
            if text in message:
                return number
        if message.startswith(_NO_FOLDER):
            return 0
    return None


def _io_failure(java: Any) -> str | None:
    """The class of the first ``java.io.IOException`` in ``java``'s cause
    chain (``org.apache.hadoop.fs.s3a.UnknownStoreException``), else None."""
    for kind, _ in _io_exceptions(java):
        return kind
    return None


def _io_exceptions(java: Any) -> Iterator[tuple[str, str]]:
    """Class name and message of each ``java.io.IOException`` in ``java``'s
    cause chain (at most 10 deep), outermost first; none once the gateway is
    gone."""
    try:
        for _ in range(10):
            if java is None:
                return
            kind = java.getClass()
            while kind is not None:
                if kind.getName() == "java.io.IOException":
                    name = str(java.getClass().getName())
                    yield name, str(java.getMessage() or "")
                    break
                kind = kind.getSuperclass()
            java = java.getCause()
    except Exception:  # the gateway is gone: nothing known of the failure
        return


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
