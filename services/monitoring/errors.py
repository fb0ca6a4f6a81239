"""Errors raised by the monitoring package, each with a stable reason and metadata."""

from __future__ import annotations

from enum import StrEnum


class MonitoringErrorReason(StrEnum):
    """Stable, machine-readable reasons carried by every `MonitoringError`."""

    INVALID_TABLE_NAME = "INVALID_TABLE_NAME"
    """The table name is not a plain identifier."""
    TABLE_NOT_FOUND = "TABLE_NOT_FOUND"
    """No feature table (or version of it) exists where the project says."""
    PROFILE_NOT_FOUND = "PROFILE_NOT_FOUND"
    """The table, or the version asked for, has no profile yet."""
    BASELINE_NOT_FOUND = "BASELINE_NOT_FOUND"
    """The contract's drift baseline names no readable version."""


class MonitoringError(Exception):
    """Base class of every error raised by `featurestore.services.monitoring`.

    Attributes:
        reason: Stable reason code; callers branch on it, never on the message.
        metadata: The dynamic values that appear in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: MonitoringErrorReason,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidTableNameError(MonitoringError, ValueError):
    """A table name that is not a plain identifier (no paths, no dots)."""

    def __init__(self, table: str) -> None:
        super().__init__(
            f"table {table[:80]!r} is not a table name: 1 to 128 ASCII letters, "
            "digits and underscores, not starting with a digit",
            reason=MonitoringErrorReason.INVALID_TABLE_NAME,
            metadata={"table": table[:80]},
        )


class TableNotFoundError(MonitoringError, LookupError):
    """No feature table, or no such version of it."""

    def __init__(self, table: str, version: int | None = None) -> None:
        what = table if version is None else f"{table} version {version}"
        super().__init__(
            f"no feature table {what}",
            reason=MonitoringErrorReason.TABLE_NOT_FOUND,
            metadata={
                "table": table,
                "version": "" if version is None else str(version),
            },
        )


class ProfileNotFoundError(MonitoringError, LookupError):
    """The table, or the version asked for, has no profile.

    ``why`` follows the message: what would profile it, or why nothing will
    (the store decides, knowing the table's log and contracts).
    """

    def __init__(
        self,
        table: str,
        version: int | None = None,
        why: str = "",
        **metadata: str,
    ) -> None:
        what = table if version is None else f"{table} version {version}"
        super().__init__(
            f"no profile for {what}{why}",
            reason=MonitoringErrorReason.PROFILE_NOT_FOUND,
            metadata={
                "table": table,
                "version": "" if version is None else str(version),
                **metadata,
            },
        )


class BaselineNotFoundError(MonitoringError, LookupError):
    """The drift baseline (a version or a training-set manifest) is unusable."""

    def __init__(self, table: str, detail: str) -> None:
        super().__init__(
            f"{table}: drift baseline: {detail}",
            reason=MonitoringErrorReason.BASELINE_NOT_FOUND,
            metadata={"table": table, "detail": detail},
        )
