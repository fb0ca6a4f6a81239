"""Errors raised by the lineage package, each with a stable reason and metadata."""

from __future__ import annotations

from enum import StrEnum

from featurestore.services.storage import unreadable_because


class LineageErrorReason(StrEnum):
    """Stable, machine-readable reasons carried by every `LineageError`."""

    TABLE_NOT_FOUND = "TABLE_NOT_FOUND"
    """No Delta table exists at the path."""
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    """The object store holding the table did not answer or refused."""
    PROJECT_NOT_FOUND = "PROJECT_NOT_FOUND"
    """A table name, but no project (nor data root) to locate it in."""
    TABLE_UNREADABLE = "TABLE_UNREADABLE"
    """A Delta table is there, but delta-rs cannot read its log."""


class LineageError(Exception):
    """Base class of every error raised by `featurestore.services.lineage`.

    Attributes:
        reason: Stable reason code; callers branch on it, never on the message.
        metadata: The dynamic values that appear in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: LineageErrorReason,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class TableNotFoundError(LineageError, LookupError):
    """There is no Delta table at the given path."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"no Delta table at {path}",
            reason=LineageErrorReason.TABLE_NOT_FOUND,
            metadata={"path": path},
        )


class TableUnreadableError(LineageError):
    """A Delta table whose log delta-rs cannot read (a corrupt commit file)."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"cannot read the Delta log of {path}: {detail}",
            reason=LineageErrorReason.TABLE_UNREADABLE,
            metadata={"path": path, "detail": detail},
        )


class StorageUnavailableError(LineageError, ConnectionError):
    """The store did not answer (or a local table lost a file); the message
    never holds the storage options."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"cannot read {path}: {unreadable_because(path)}",
            reason=LineageErrorReason.STORAGE_UNAVAILABLE,
            metadata={"path": path},
        )


class DataRootNotFoundError(LineageError, LookupError):
    """A bare table name with no project and no data root to find it under."""

    def __init__(self, table: str, folder: str) -> None:
        super().__init__(
            f"no feature_store.yaml in {folder} to locate table {table!r}: run in "
            "a project folder, pass --repo DIR (or $FS_REPO_PATH) or --data-dir, "
            "or give the table's path",
            reason=LineageErrorReason.PROJECT_NOT_FOUND,
            metadata={"table": table, "folder": folder},
        )
