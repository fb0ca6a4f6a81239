"""MonitoringService: freshness of the feature views' tables against their SLAs."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import grpc
from feast import FeatureView

from featurestore.services.contracts import ContractRegistry
from featurestore.services.monitoring.freshness import Freshness, view_freshness
from featurestore.services.server.access import Guard
from featurestore.services.server.catalog import Catalog
from featurestore.services.server.errors import RequestError
from featurestore.services.server.paging import page
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc

_VERDICTS = {
    "ok": pb.FRESHNESS_VERDICT_OK,
    "late": pb.FRESHNESS_VERDICT_LATE,
    "unknown": pb.FRESHNESS_VERDICT_UNKNOWN,
}


class Monitor:
    """Judges the catalogue's views: the one place the server reads freshness.

    Args:
        catalog: The registry snapshot (views, their sources and tags).
        repo_path: The Feast repo, against which relative source paths resolve.
        contracts: The contracts the views' tags name.
        storage_options: Object-store options for the Delta reads.
        cache_seconds: How long ``cached_freshness`` reuses a judgement
            (Prometheus scrapes; RPCs always judge anew).
    """

    def __init__(
        self,
        catalog: Catalog,
        repo_path: Path,
        contracts: ContractRegistry,
        storage_options: Mapping[str, str] | None = None,
        cache_seconds: float = 10.0,
    ) -> None:
        self.catalog, self.repo_path, self.contracts = catalog, repo_path, contracts
        self.storage_options = dict(storage_options or {})
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Freshness]] = {}
        self._lock = threading.Lock()

    def freshness(self, view: FeatureView) -> Freshness:
        """Judge ``view``'s table now."""
        return view_freshness(
            view,
            self.repo_path,
            self.contracts,
            storage_options=self.storage_options,
        )

    def cached_freshness(self) -> list[Freshness]:
        """Every view's freshness, each at most ``cache_seconds`` old."""
        now = time.monotonic()
        out = []
        for view in self.catalog.views():
            with self._lock:
                hit = self._cache.get(view.name)
            if hit is None or now - hit[0] > self.cache_seconds:
                hit = (now, self.freshness(view))
                with self._lock:
                    self._cache[view.name] = hit
            out.append(hit[1])
        return out


class MonitoringServicer(pb_grpc.MonitoringServiceServicer):  # type: ignore[misc]
    """Freshness per view, for callers allowed to DESCRIBE the view."""

    def __init__(self, monitor: Monitor, guard: Guard | None = None) -> None:
        self.monitor, self.guard = monitor, guard

    def GetFreshness(
        self, request: pb.GetFreshnessRequest, context: grpc.ServicerContext
    ) -> pb.GetFreshnessResponse:
        """One view's freshness, judged now."""
        view = self.monitor.catalog.view(required_name(request.name, "name"))
        return pb.GetFreshnessResponse(
            freshness=freshness_message(self.monitor.freshness(view))
        )

    def ListFreshness(
        self, request: pb.ListFreshnessRequest, context: grpc.ServicerContext
    ) -> pb.ListFreshnessResponse:
        """Freshness of each view the caller may DESCRIBE, by name, paged."""
        views = self.monitor.catalog.views()
        if self.guard is not None:
            views = self.guard.describable(views)
        chosen, token = page(views, request.page_size, request.page_token)
        return pb.ListFreshnessResponse(
            freshness=[freshness_message(self.monitor.freshness(v)) for v in chosen],
            next_page_token=token,
        )


def required_name(value: str, field: str) -> str:
    """``value`` when set, else INVALID_ARGUMENT naming ``field``."""
    if not value:
        raise RequestError(field, f"{field} is required: a feature view name")
    return value


def freshness_message(freshness: Freshness) -> pb.Freshness:
    """The wire form of a freshness judgement."""
    message = pb.Freshness(
        feature_view=freshness.view,
        verdict=_VERDICTS[freshness.verdict],
        reason=freshness.reason,
        event_time_column=freshness.event_time_column,
    )
    message.check_time.FromDatetime(freshness.checked_at)
    if freshness.version is not None:
        message.version = freshness.version
    if freshness.newest_event_time is not None:
        message.newest_event_time.FromDatetime(freshness.newest_event_time)
    if freshness.newest_commit_time is not None:
        message.newest_commit_time.FromDatetime(freshness.newest_commit_time)
    spans: tuple[tuple[str, timedelta | None], ...] = (
        ("age", freshness.age),
        ("max_age", freshness.max_age),
        ("frequency", freshness.frequency),
    )
    for field, span in spans:
        if span is not None:
            getattr(message, field).FromTimedelta(span)
    return message
