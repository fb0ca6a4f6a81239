"""Freshness badges and drift verdicts and charts, from services/monitoring.

The console computes neither: freshness is ``view_freshness`` (the contract's
SLA against the table's newest event), drift is what ``read_drift`` and
``read_profiles`` return (the scores and buckets the publish wrote). Without
the monitoring package every page says "monitoring not available" rather
than guessing.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deltalake.exceptions import DeltaError

from featurestore.services.lineage.errors import TableUnreadableError

if TYPE_CHECKING:
    from feast import FeatureView

    from featurestore.services.project import Project
    from featurestore.services.ui.console import Console

log = logging.getLogger(__name__)

NOT_AVAILABLE = (
    "monitoring not available: this installation has no "
    "featurestore.services.monitoring (freshness SLAs and drift)"
)
UNREADABLE = (DeltaError, TableUnreadableError)
"""A Delta log that cannot be read: delta-rs's error, or the monitoring
package's translation of it (TABLE_UNREADABLE)."""
_FRESHNESS_LEVEL = {"ok": "ok", "late": "fail", "unknown": "unknown"}
_RANK = {"ok": 0, "warn": 1, "fail": 2}


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


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's scores against the baseline, and the buckets of a version."""

    feature: str
    metric: str
    versions: list[int]
    scores: list[float | None]
    warn: float
    fail: float
    verdict: str
    """The worst of its scores (baseline or previous) at the version shown;
    "unknown" when that version has none for it."""
    absent: bool = False
    """The version shown was profiled without this column (dropped, renamed)."""
    buckets: tuple[str, ...] = ()
    reference_counts: tuple[int, ...] = ()
    counts: tuple[int, ...] = ()


def available() -> bool:
    """Whether the monitoring package is importable."""
    return importlib.util.find_spec("featurestore.services.monitoring") is not None


def project(console: Console) -> Project:
    """The project as monitoring reads it (the console's data root applied)."""
    return console.located


def status(console: Console, views: list[FeatureView], tables: list[str]) -> Health:
    """Freshness of ``views`` and the newest drift verdict of ``tables``."""
    if not available():
        return Health(False, NOT_AVAILABLE)
    from featurestore.services.monitoring.freshness import view_freshness

    # The console's project: its data root (--data-dir), not the one
    # featurestore.yaml or the environment names.
    from featurestore.services.offline import OfflineStoreError

    located = project(console)
    freshness = {}
    for view in views:
        try:
            verdict = view_freshness(
                view,
                located,
                console.contracts,
                storage_options=located.storage_options,
                unreadable="raise",  # the badge hides the detail; the log has it
            )
        except OfflineStoreError as exc:  # the store did not answer: say so
            freshness[view.name] = Badge("unknown", _unreadable(exc))
            continue
        except UNREADABLE as exc:  # one table's log cannot be read: its badge
            freshness[view.name] = _damaged(view.name, exc)
            continue
        level = _FRESHNESS_LEVEL.get(verdict.verdict, "unknown")
        freshness[view.name] = Badge(level, f"{verdict.verdict}: {verdict.reason}")
    drift = {}
    for table in tables:
        try:
            drift[table] = drift_verdict(console, table)
        except OfflineStoreError as exc:
            drift[table] = Badge("unknown", _unreadable(exc))
        except UNREADABLE as exc:
            drift[table] = _damaged(table, exc)
    return Health(True, "", freshness, drift)


def _unreadable(exc: Any) -> str:
    return f"unknown: {exc.reason.value}: {exc}"


def _damaged(name: str, exc: Exception) -> Badge:
    """The badge of a table (or its profile table) whose Delta log delta-rs
    cannot read; the log has the detail, the page only the reason."""
    log.warning("monitoring of %s: a Delta log cannot be read: %s", name, exc)
    why = "unknown: TABLE_UNREADABLE: a Delta log cannot be read (see the log)"
    return Badge("unknown", why)


def _scores(console: Console, table: str) -> list[Any]:
    """Every score of ``table``: against the baseline and the previous version.

    Raises:
        OfflineStoreError: STORAGE_UNAVAILABLE, the store did not answer.
    """
    from featurestore.services.monitoring import MonitoringError, read_drift

    try:
        return list(read_drift(project(console), table))
    except MonitoringError:
        return []


def _worst(scores: list[Any]) -> Any:
    return max(scores, key=lambda s: _RANK.get(s.verdict, 0))


def drift_verdict(console: Console, table: str) -> Badge:
    """The worst verdict of the newest scored version of ``table``, against
    the baseline or the previous version (as ``monitor drift`` judges it)."""
    return _verdict(_scores(console, table))


def _verdict(scores: list[Any]) -> Badge:
    if not scores:
        return Badge(
            "unknown", "no drift scores yet (no profiled version after the baseline)"
        )
    newest = max(s.version for s in scores)
    worst = _worst([s for s in scores if s.version == newest])
    if worst.verdict == "ok":
        return Badge("ok", f"v{newest}: every feature within its warn threshold")
    return Badge(worst.verdict, f"v{newest}: {worst.reason()}")


class UnknownVersionError(LookupError):
    """A drift page asked for a version of the table that was never profiled."""


@dataclass(frozen=True)
class DriftDetail:
    """A table's drift page, from one read of its scores and profiles."""

    versions: list[int]
    """Every profiled or scored version, oldest first."""
    shown: int | None
    """The version whose histograms are shown."""
    features: list[FeatureDrift]
    badge: Badge
    """The table's verdict, as ``drift_verdict`` gives it."""


def drift_detail(console: Console, table: str, version: int | None) -> DriftDetail:
    """Every profiled version, the one shown, and each feature's drift over them:
    the chart follows the scores against the baseline, the verdict is the
    worst of the feature's scores (baseline or previous) at the version shown
    (an older version's verdict for a feature that version no longer scores,
    dropped or retyped, read as current).
    The table's badge comes from the same scores (one read of the store).

    Raises:
        UnknownVersionError: ``version`` was never profiled.
    """
    from featurestore.services.monitoring import MonitoringError, read_profiles

    every = _scores(console, table)
    scores = [s for s in every if s.against == "baseline"]
    try:
        profiles = read_profiles(project(console), table)
    except MonitoringError:
        profiles = []
    versions = sorted({p.version for p in profiles} | {s.version for s in every})
    if version is not None and version not in versions:
        raise UnknownVersionError(version)
    badge = _verdict(every)
    if not versions:
        return DriftDetail([], None, [], badge)
    shown = versions[-1] if version is None else version
    profile = next((p for p in profiles if p.version == shown), None)
    features = list(dict.fromkeys(s.feature for s in scores))
    if profile is not None:
        features += [c.feature for c in profile.columns if c.feature not in features]
    out = []
    for feature in features:
        own = {s.version: s for s in scores if s.feature == feature}
        last = own[max(own)] if own else None
        at_shown = [s for s in every if (s.feature, s.version) == (feature, shown)]
        column = None
        if profile is not None:
            column = next((c for c in profile.columns if c.feature == feature), None)
        out.append(
            FeatureDrift(
                feature=feature,
                metric=last.metric if last else "-",
                versions=versions,
                scores=[own[v].score if v in own else None for v in versions],
                warn=last.warn if last else 0.1,
                fail=last.fail if last else 0.2,
                verdict=_worst(at_shown).verdict if at_shown else "unknown",
                absent=profile is not None and column is None,
                buckets=column.bucket_labels if column else (),
                reference_counts=column.reference_counts if column else (),
                counts=column.counts if column else (),
            )
        )
    return DriftDetail(versions, shown, out, badge)
