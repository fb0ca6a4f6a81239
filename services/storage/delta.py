"""Open a Delta table with delta-rs at any location, with the options it needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.services.storage.uri import to_delta_uri

if TYPE_CHECKING:
    from deltalake import DeltaTable

    from featurestore.services.storage.options import StorageOptions

__all__ = ["is_delta_table", "open_delta"]


def open_delta(
    location: str, storage: StorageOptions | None = None, version: int | None = None
) -> DeltaTable:
    """The delta-rs table at ``location`` (``s3a://`` read as ``s3://``).

    Errors are delta-rs's own (``TableNotFoundError``; ``OSError`` when the
    object store does not answer): each caller translates them into its
    package's errors. Their text never holds the storage options.
    """
    from deltalake import DeltaTable

    uri = to_delta_uri(location)
    options = storage.for_location(uri) if storage is not None else None
    return DeltaTable(uri, version=version, storage_options=options)


def is_delta_table(location: str, storage: StorageOptions | None = None) -> bool:
    """Whether ``location`` holds a Delta table."""
    from deltalake import DeltaTable

    uri = to_delta_uri(location)
    options = storage.for_location(uri) if storage is not None else None
    return bool(DeltaTable.is_deltatable(uri, storage_options=options))
