"""Where raw data and feature tables live: one root, a fixed layout below it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from featurestore.services.project import Project


def default_data_root() -> Path:
    """The project's data root: ``$FS_DATA_DIR``, else featurestore.yaml's.

    Raises:
        ProjectNotFoundError: No project in the working directory.
    """
    return Path(Project.discover().data_dir)


@dataclass(frozen=True)
class DataPaths:
    """The data layout: ``raw/`` for events, ``features/`` for Delta tables."""

    root: Path

    @classmethod
    def from_root(cls, root: Path | None = None) -> DataPaths:
        """Layout under ``root`` (default: :func:`default_data_root`)."""
        return cls((root or default_data_root()).resolve())

    @property
    def raw(self) -> Path:
        """Folder of the raw event datasets."""
        return self.root / "raw"

    @property
    def raw_transactions(self) -> Path:
        """Raw card transactions (Parquet)."""
        return self.raw / "transactions"

    @property
    def raw_labels(self) -> Path:
        """Raw fraud labels (Parquet), arriving days after the transaction."""
        return self.raw / "fraud_labels"

    def feature_table(self, name: str) -> Path:
        """Delta feature table ``name``."""
        return self.root / "features" / name

    def quarantine_table(self, name: str) -> Path:
        """Delta quarantine table beside feature table ``name``."""
        return self.root / "features" / f"{name}_quarantine"
