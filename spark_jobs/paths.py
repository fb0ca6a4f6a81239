"""Where raw data and feature tables live: one root, a fixed layout below it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_root() -> Path:
    """``$FS_DATA_DIR`` if set, else ``<repo>/data`` (git-ignored)."""
    return Path(os.environ.get("FS_DATA_DIR", REPO_ROOT / "data")).resolve()


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
