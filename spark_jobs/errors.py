"""Errors raised by the Spark jobs; each carries a stable reason and its metadata."""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    """Stable, machine-readable reasons for job failures."""

    CONFIG_INVALID = "CONFIG_INVALID"
    INPUT_NOT_FOUND = "INPUT_NOT_FOUND"
    SCHEMA_MISMATCH = "SCHEMA_MISMATCH"
    FAILURE_RATIO_EXCEEDED = "FAILURE_RATIO_EXCEEDED"
    TOO_FEW_ROWS = "TOO_FEW_ROWS"
    """The batch has fewer rows than its contract's ``min_rows``."""
    WRITE_CONFLICT = "WRITE_CONFLICT"
    DRIFT = "DRIFT"
    """A feature drifted past its fail threshold under ``on_drift: block``."""
    BASELINE_INVALID = "BASELINE_INVALID"
    """The contract's drift baseline names nothing readable."""
    TABLE_NOT_WRITABLE = "TABLE_NOT_WRITABLE"
    """The local file system refused to write a table (full disk, no permission,
    read-only): nothing was committed to it."""
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    """The file system or object store holding an input or a table did not answer
    or refused."""
    JAVA_UNAVAILABLE = "JAVA_UNAVAILABLE"
    """No usable Java to start Spark with (Spark 4 needs Java 17 or later)."""
    JARS_UNAVAILABLE = "JARS_UNAVAILABLE"
    """Spark's jars (Delta Lake, S3A) could not be resolved on a first start."""
    BATCH_FAILED = "BATCH_FAILED"
    """Spark could not compute the batch: the job's own transform failed on its
    input (a failed cast, a division by zero, ``raise_error``)."""
    CONTRACT_VERSION_OLDER = "CONTRACT_VERSION_OLDER"
    """Rows would be added under an older version of the contract that stamped
    the table's current rows."""
    MAJOR_BUMP_REQUIRED = "MAJOR_BUMP_REQUIRED"
    """The contract breaks the one before it in its registry without a major
    version bump (``contracts check`` reports the same)."""
    VERSION_NOT_INCREASED = "VERSION_NOT_INCREASED"
    """The contract's version is not above the one before it in its registry."""


class SparkJobError(Exception):
    """Base class: a job failure a caller can act on."""

    def __init__(self, reason: Reason, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata: dict[str, str] = metadata


class ConfigError(SparkJobError, ValueError):
    """A job argument or setting is invalid."""

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(Reason.CONFIG_INVALID, message, **metadata)


class InputNotFoundError(SparkJobError, LookupError):
    """An input path does not exist or holds no data."""

    def __init__(self, path: str) -> None:
        super().__init__(Reason.INPUT_NOT_FOUND, f"input not found: {path}", path=path)


class StorageUnavailableError(SparkJobError, OSError):
    """An input or a table could not be reached: the object store did not
    answer, refused the credentials or has no such bucket, or the file system
    failed. ``error`` is the Java exception's class, or the head of delta-rs's
    message (``Generic S3 error``): the rest can quote request details, so it
    is not repeated."""

    def __init__(self, path: str, error: str) -> None:
        super().__init__(
            Reason.STORAGE_UNAVAILABLE,
            f"cannot read {path}: the storage did not answer or refused ({error}); "
            "check storage_options in featurestore.yaml",
            path=path,
            error=error,
        )


class TableNotWritableError(SparkJobError, OSError):
    """The local file system refused a write to a table: ``errno`` names the
    operating system's error (``ENOSPC``, ``EACCES``, ``EROFS``; absent when
    Hadoop reported none), ``cause`` says it in words. The write committed
    nothing: the table stays at its previous version."""

    def __init__(self, table: str, cause: str, hint: str, errno: str = "") -> None:
        super().__init__(
            Reason.TABLE_NOT_WRITABLE,
            f"cannot write {table}: {cause}; nothing was committed to it "
            f"(it stays at its previous version): {hint}",
            table=table,
            **({"errno": errno} if errno else {}),
        )


class InputSchemaError(SparkJobError, ValueError):
    """A raw input lacks columns the job reads (SCHEMA_MISMATCH); ``missing``
    names them, comma-separated."""

    def __init__(self, path: str, missing: list[str]) -> None:
        names = ", ".join(missing)
        super().__init__(
            Reason.SCHEMA_MISMATCH,
            f"{path} lacks the column(s) the job reads: {names}",
            path=path,
            missing=names,
        )


class SparkUnavailableError(SparkJobError, RuntimeError):
    """Spark could not start: an unusable setup, not a failed job (exit 2)."""


class JavaUnavailableError(SparkUnavailableError):
    """No Java where ``JAVA_HOME`` or ``PATH`` says, or one that exits at once
    (older than 17)."""

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(Reason.JAVA_UNAVAILABLE, message, **metadata)


class JarsUnavailableError(SparkUnavailableError):
    """A first start could not resolve Spark's jars (Maven Central unreachable,
    an Ivy cache that cannot be written): Java itself is usable."""

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(Reason.JARS_UNAVAILABLE, message, **metadata)


class ContractViolationError(SparkJobError):
    """The output breaks its contract badly enough that nothing is published."""


class WriteConflictError(SparkJobError):
    """A concurrent Delta commit won; the job may be retried."""

    def __init__(self, table: str, detail: str, *, attempts: int = 1) -> None:
        tried = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(
            Reason.WRITE_CONFLICT,
            f"concurrent write to {table}{tried}: {detail}",
            table=table,
            attempts=str(attempts),
        )
        self.table = table
        self.detail = detail


class BatchFailedError(SparkJobError):
    """Spark failed computing the batch handed to ``publish``: the job's
    transform, run lazily by the contract check, raised on some row.
    ``error`` is Spark's error class (``CAST_INVALID_INPUT``); the message is
    the first line of Spark's (no JVM stack)."""

    def __init__(self, table: str, error: str, detail: str) -> None:
        super().__init__(
            Reason.BATCH_FAILED,
            f"Spark could not compute the batch for {table}, nothing was "
            f"published: {detail}",
            table=table,
            error=error,
        )
