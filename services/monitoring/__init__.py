"""Profiles per published version, drift scores, and the readers of both."""

from __future__ import annotations

from featurestore.services.monitoring.errors import (
    BaselineNotFoundError,
    InvalidTableNameError,
    MonitoringError,
    MonitoringErrorReason,
    ProfileNotFoundError,
    TableNotFoundError,
)
from featurestore.services.monitoring.model import (
    Against,
    ColumnProfile,
    DriftScore,
    ProfileSource,
    Verdict,
    VersionProfile,
)
from featurestore.services.monitoring.scores import js_distance, psi
from featurestore.services.monitoring.store import (
    read_drift,
    read_profiles,
    table_location,
)

__all__ = [
    "Against",
    "BaselineNotFoundError",
    "ColumnProfile",
    "DriftScore",
    "InvalidTableNameError",
    "MonitoringError",
    "MonitoringErrorReason",
    "ProfileNotFoundError",
    "ProfileSource",
    "TableNotFoundError",
    "Verdict",
    "VersionProfile",
    "js_distance",
    "psi",
    "read_drift",
    "read_profiles",
    "table_location",
]
