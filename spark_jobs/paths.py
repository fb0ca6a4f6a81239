"""Where raw data and feature tables live: one root, a fixed layout below it.

Locations are strings (a path or a URI such as ``s3://bucket/prefix``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from featurestore.services.project import Project, ProjectNotFoundError
from featurestore.services.storage import StorageOptions, absolute, join


def default_data_root() -> str:
    """The project's data root: ``$FS_DATA_DIR``, else featurestore.yaml's.

    Raises:
        ProjectNotFoundError: No project in the working directory.
    """
    return Project.discover().data_dir


def storage_options() -> StorageOptions:
    """The project's object-store options (none outside a project)."""
    try:
        return Project.discover().storage_options
    except ProjectNotFoundError:
        return StorageOptions()


@dataclass(frozen=True)
class DataPaths:
    """The data layout: ``raw/`` for events, ``features/`` for Delta tables."""

    root: str

    @classmethod
    def from_root(cls, root: str | os.PathLike[str] | None = None) -> DataPaths:
        """Layout under ``root`` (default: :func:`default_data_root`)."""
        return cls(absolute(os.fspath(root)) if root else default_data_root())

    @property
    def raw(self) -> str:
        """Folder of the raw event datasets."""
        return join(self.root, "raw")

    @property
    def raw_transactions(self) -> str:
        """Raw card transactions (Parquet)."""
        return join(self.raw, "transactions")

    @property
    def raw_labels(self) -> str:
        """Raw fraud labels (Parquet), arriving days after the transaction."""
        return join(self.raw, "fraud_labels")

    def feature_table(self, name: str) -> str:
        """Delta feature table ``name``."""
        return join(self.root, "features", name)

    def quarantine_table(self, name: str) -> str:
        """Delta quarantine table beside feature table ``name``."""
        return join(self.root, "features", f"{name}_quarantine")
