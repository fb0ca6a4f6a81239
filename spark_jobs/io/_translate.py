"""Delta's and the object store's failures, re-raised as ours (``from exc``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException

from featurestore.services.storage import delta_error_detail, is_local
from featurestore.spark_jobs.errors import (
    SparkJobError,
    StorageUnavailableError,
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


def _io_failure(java: Any) -> str | None:
    """The class of the first ``java.io.IOException`` in ``java``'s cause
    chain (``org.apache.hadoop.fs.s3a.UnknownStoreException``), else None."""
    try:
        for _ in range(10):
            if java is None:
                return None
            kind = java.getClass()
            while kind is not None:
                if kind.getName() == "java.io.IOException":
                    return str(java.getClass().getName())
                kind = kind.getSuperclass()
            java = java.getCause()
    except Exception:  # the gateway is gone: not known to be the store
        return None
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
