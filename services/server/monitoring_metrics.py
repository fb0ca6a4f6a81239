"""Prometheus gauges of the feature tables: freshness, SLA and drift per view.

Judged when scraped (each view at most every few seconds, ``Monitor``), so a
job that stops publishing shows up without anything else running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, get_args

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from featurestore.services.monitoring.freshness import FreshnessVerdict

if TYPE_CHECKING:
    from prometheus_client import Metric

    from featurestore.services.monitoring import DriftScore
    from featurestore.services.server.monitoring_servicer import Monitor

__all__ = ["attach", "detach"]

log = logging.getLogger(__name__)
VERDICTS = get_args(FreshnessVerdict)
"""Every freshness verdict, one sample each per view (a Prometheus state set)."""
_lock = threading.Lock()
_monitors: list[Monitor] = []


def attach(monitor: Monitor) -> None:
    """Report ``monitor``'s views from now on (one per running server)."""
    with _lock:
        _monitors.append(monitor)


def detach(monitor: Monitor) -> None:
    """Stop reporting ``monitor``'s views (its server stopped)."""
    with _lock:
        if monitor in _monitors:
            _monitors.remove(monitor)


class _TablesCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "feature_freshness_seconds",
            "Seconds since the newest event time in the view's Delta table.",
            labels=["view"],
        )
        sla = GaugeMetricFamily(
            "feature_sla_ok",
            "1 when the view's table meets its contract's freshness SLA, 0 when "
            "late; absent when it cannot be judged (no contract, table or rows).",
            labels=["view"],
        )
        verdicts = GaugeMetricFamily(
            "feature_freshness_verdict",
            "1 for the view's freshness verdict (ok, late or unknown), 0 for the "
            'others: alert on verdict="unknown" too (a table that cannot be '
            "judged has no feature_sla_ok).",
            labels=["view", "verdict"],
        )
        drift = GaugeMetricFamily(
            "feature_drift_score",
            "Drift of the newest profiled version per feature: against the "
            "contract's baseline (else the previous version), by metric.",
            labels=["view", "feature", "metric"],
        )
        with _lock:
            monitors = list(_monitors)
        for monitor in monitors:
            try:
                latest = monitor.cached_drift()
            except Exception:
                log.exception("drift metrics: reading the profiles failed")
                latest = {}
            for view, scores in latest.items():
                for score in _preferred(scores):
                    drift.add_metric([view, score.feature, score.metric], score.score)
            try:
                judged = monitor.cached_freshness()
            except Exception:  # a scrape must not fail on one broken table
                log.exception("freshness metrics: judging the views failed")
                continue
            now = datetime.now(UTC)  # judgements are cached; ages are not
            for freshness in judged:
                newest = freshness.newest_event_time
                if newest is not None:
                    age.add_metric([freshness.view], (now - newest).total_seconds())
                if freshness.verdict != "unknown":
                    sla.add_metric([freshness.view], float(freshness.ok))
                for verdict in VERDICTS:
                    verdicts.add_metric(
                        [freshness.view, verdict], float(freshness.verdict == verdict)
                    )
        yield age
        yield sla
        yield verdicts
        yield drift


def _preferred(scores: list[DriftScore]) -> list[DriftScore]:
    """One score per (feature, metric): against the baseline when there is one."""
    chosen: dict[tuple[str, str], DriftScore] = {}
    for score in scores:
        key = (score.feature, score.metric)
        if key not in chosen or score.against == "baseline":
            chosen[key] = score
    return list(chosen.values())


REGISTRY.register(_TablesCollector())
