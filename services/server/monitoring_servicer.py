"""MonitoringService: freshness, profiles and drift of the feature views' tables."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import grpc
from feast import FeatureView

from featurestore.services.contracts import ContractRegistry
from featurestore.services.lineage.errors import TableUnreadableError
from featurestore.services.monitoring import (
    ColumnProfile,
    DriftScore,
    MonitoringError,
    VersionProfile,
    read_drift,
    read_profiles,
)
from featurestore.services.monitoring.freshness import Freshness, view_freshness
from featurestore.services.offline._views import delta_path
from featurestore.services.offline.errors import UnsupportedSourceError
from featurestore.services.project import Project, is_uri
from featurestore.services.server.access import Guard
from featurestore.services.server.catalog import Catalog
from featurestore.services.server.errors import (
    FailedPreconditionError,
    NotFoundError,
    RequestError,
    required,
)
from featurestore.services.server.paging import page
from featurestore.v1 import monitoring_service_pb2 as pb
from featurestore.v1 import monitoring_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")
_VIEW = "a feature view name"

_VERDICTS = {
    "ok": pb.FRESHNESS_VERDICT_OK,
    "late": pb.FRESHNESS_VERDICT_LATE,
    "unknown": pb.FRESHNESS_VERDICT_UNKNOWN,
}


class Monitor:
    """Judges the catalogue's views: the one place the server reads freshness.

    Args:
        catalog: The registry snapshot (views, their sources and tags).
        project: The project; its data_dir locates the profile tables.
        contracts: The contracts the views' tags name.
        cache_seconds: How long ``cached_freshness`` reuses a judgement
            (Prometheus scrapes; RPCs always judge anew).
    """

    def __init__(
        self,
        catalog: Catalog,
        project: Project,
        contracts: ContractRegistry,
        cache_seconds: float = 10.0,
    ) -> None:
        self.catalog, self.project, self.contracts = catalog, project, contracts
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def located(self) -> Project:
        """The project at the server's data root, with the storage options
        featurestore.yaml holds now: an operator's edit (a new endpoint, a
        rotated key) reaches every monitoring read, as it reaches the feature
        reads, without a restart."""
        now = Project.load(self.project.repo).storage_options
        return replace(self.project, storage_options=now)

    def freshness(
        self, view: FeatureView, unavailable: Literal["raise", "unknown"] = "unknown"
    ) -> Freshness:
        """Judge ``view``'s table now; a table with a file that cannot be read
        is ``unknown`` (in a list) or, with ``unavailable="raise"``,
        STORAGE_UNAVAILABLE naming the view (``view_freshness``)."""
        project = self.located()
        return view_freshness(
            view,
            project,
            self.contracts,
            storage_options=project.storage_options,
            unavailable=unavailable,
        )

    def table(self, view: FeatureView) -> str:
        """The feature table behind ``view``, by name.

        Raises:
            NotFoundError: FEATURE_TABLE_NOT_FOUND, the view reads no feature
                table of this project (``<data_dir>/features/<name>``): its
                source is elsewhere or not Delta, so nothing is profiled and
                no backfill would profile it.
        """
        try:
            location = delta_path(view.batch_source, self.project)  # type: ignore[arg-type]
        except (UnsupportedSourceError, AttributeError) as exc:
            raise _not_a_feature_table(view.name) from exc
        name = location.rstrip("/").rsplit("/", 1)[-1]
        if _normal(self.project.table_uri(name)) != _normal(location):
            raise _not_a_feature_table(view.name)
        return name

    def profiles(self, view: FeatureView, version: int | None) -> list[VersionProfile]:
        """Profiles of the view's table (every version, or ``version``).

        Raises:
            FailedPreconditionError: TABLE_UNREADABLE, the Delta log of the
                table or of its profile table cannot be read.
        """
        table = self.table(view)
        with _unreadable_precondition():
            return read_profiles(self.located(), table, version)

    def drift(self, view: FeatureView, version: int | None) -> list[DriftScore]:
        """Drift scores of the view's table (every version, or ``version``).

        Raises:
            FailedPreconditionError: TABLE_UNREADABLE, the Delta log of the
                table or of its profile table cannot be read.
        """
        table = self.table(view)
        with _unreadable_precondition():
            return read_drift(self.located(), table, version)

    def cached_freshness(self) -> list[Freshness]:
        """Every view's freshness, each at most ``cache_seconds`` old; a view
        that cannot be judged is ``unknown``, never missing from the list."""
        return [
            self._cached("freshness", v, self._scraped_freshness)
            for v in self.catalog.views()
        ]

    def _scraped_freshness(self, view: FeatureView) -> Freshness:
        try:
            return self.freshness(view)
        except Exception as exc:  # one view's failure must not hide the others
            log.warning("freshness of %s cannot be judged", view.name, exc_info=True)
            why = str(getattr(exc, "reason", "INTERNAL"))
            return Freshness(
                view=view.name,
                path="",
                event_time_column="",
                checked_at=datetime.now(UTC),
                verdict="unknown",
                reason=f"{why}: cannot be judged (see the server's log)",
            )

    def cached_drift(self) -> dict[str, list[DriftScore]]:
        """Per view with profiles: the scores of its newest profiled version."""
        out = {}
        for view in self.catalog.views():
            scores = self._cached("drift", view, self._newest_drift)
            if scores:
                out[view.name] = scores
        return out

    def _newest_drift(self, view: FeatureView) -> list[DriftScore]:
        try:
            scores = self.drift(view, None)
        except (MonitoringError, NotFoundError):  # nothing profiled: no gauge
            return []
        except FailedPreconditionError as exc:  # TABLE_UNREADABLE: no gauge
            log.warning("drift of %s: %s: %s", view.name, exc.reason, exc)
            return []
        except Exception:  # one view's failure must not hide the others'
            log.exception("drift of %s: reading the profiles failed", view.name)
            return []
        newest = max((s.version for s in scores), default=None)
        return [s for s in scores if s.version == newest]

    def _cached(
        self, kind: str, view: FeatureView, compute: Callable[[FeatureView], T]
    ) -> T:
        now = time.monotonic()
        key = (kind, view.name)
        with self._lock:
            hit = self._cache.get(key)
        if hit is None or now - hit[0] > self.cache_seconds:
            hit = (now, compute(view))
            with self._lock:
                self._cache[key] = hit
        return hit[1]


class MonitoringServicer(pb_grpc.MonitoringServiceServicer):  # type: ignore[misc]
    """Freshness per view, for callers allowed to DESCRIBE the view."""

    def __init__(self, monitor: Monitor, guard: Guard | None = None) -> None:
        self.monitor, self.guard = monitor, guard

    def GetFreshness(
        self, request: pb.GetFreshnessRequest, context: grpc.ServicerContext
    ) -> pb.GetFreshnessResponse:
        """One view's freshness, judged now."""
        view = self.monitor.catalog.view(required(request.name, "name", _VIEW))
        return pb.GetFreshnessResponse(
            freshness=freshness_message(self.monitor.freshness(view, "raise"))
        )

    def ListFreshness(
        self, request: pb.ListFreshnessRequest, context: grpc.ServicerContext
    ) -> pb.ListFreshnessResponse:
        """Freshness of each view the caller may DESCRIBE, by name, paged."""
        views = self.monitor.catalog.views()
        if self.guard is not None:
            views = self.guard.describable(views)
        chosen, token = page(
            views, request.page_size, request.page_token, "ListFreshness"
        )
        return pb.ListFreshnessResponse(
            freshness=[freshness_message(self.monitor.freshness(v)) for v in chosen],
            next_page_token=token,
        )

    def ListProfiles(
        self, request: pb.ListProfilesRequest, context: grpc.ServicerContext
    ) -> pb.ListProfilesResponse:
        """Profiles of the view's table, oldest version first, paged."""
        view = self.monitor.catalog.view(required(request.parent, "parent", _VIEW))
        profiles = self.monitor.profiles(view, _version(request))
        scope = f"ListProfiles {view.name} {_version(request)}"
        chosen, token = page(profiles, request.page_size, request.page_token, scope)
        return pb.ListProfilesResponse(
            profiles=[profile_message(view.name, p) for p in chosen],
            next_page_token=token,
        )

    def ListDriftScores(
        self, request: pb.ListDriftScoresRequest, context: grpc.ServicerContext
    ) -> pb.ListDriftScoresResponse:
        """Drift scores of the view's table by version, paged."""
        view = self.monitor.catalog.view(required(request.parent, "parent", _VIEW))
        scores = self.monitor.drift(view, _version(request))
        scope = f"ListDriftScores {view.name} {_version(request)}"
        chosen, token = page(scores, request.page_size, request.page_token, scope)
        return pb.ListDriftScoresResponse(
            drift_scores=[drift_message(view.name, s) for s in chosen],
            next_page_token=token,
        )


def _not_a_feature_table(view: str) -> NotFoundError:
    """Profiles of a view whose source is not a feature table of the project:
    none, and ``monitor backfill`` cannot make any (it profiles feature tables
    by name), so the message says what to change instead."""
    error = NotFoundError(
        "feature table",
        view,
        f"feature view {view!r} has no profiles: its source is not a feature "
        "table of this project (a Delta table at <data_dir>/features/<name>; "
        'point the view\'s source at table_ref("<name>"))',
    )
    error.metadata = {"feature_view": view}
    return error


@contextmanager
def _unreadable_precondition() -> Iterator[None]:
    """TABLE_UNREADABLE from the monitoring package (lineage's error) is the
    server's own damaged data: FAILED_PRECONDITION, naming the table, not its
    location on the server (AIP-193)."""
    try:
        yield
    except TableUnreadableError as exc:
        path = exc.metadata["path"]
        table = path.rstrip("/").rsplit("/", 1)[-1]
        detail = exc.metadata["detail"]
        raise FailedPreconditionError(
            f"cannot read the Delta log of table {table}: {detail}",
            reason=exc.reason.value,
            subject=table,
            table=table,
            detail=detail,
        ) from exc


def _version(request: pb.ListProfilesRequest | pb.ListDriftScoresRequest) -> int | None:
    if not request.HasField("version"):
        return None
    if request.version < 0:
        raise RequestError("version", "version must be a Delta version (0 or more)")
    return int(request.version)


def _normal(location: str) -> str:
    return location.rstrip("/") if is_uri(location) else os.path.normpath(location)


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


_KINDS = {
    "numeric": pb.PROFILE_KIND_NUMERIC,
    "categorical": pb.PROFILE_KIND_CATEGORICAL,
}
_SOURCES = {
    "publish": pb.PROFILE_SOURCE_PUBLISH,
    "backfill": pb.PROFILE_SOURCE_BACKFILL,
}
_METRICS = {"psi": pb.DRIFT_METRIC_PSI, "js": pb.DRIFT_METRIC_JS}
_AGAINST = {
    "baseline": pb.DRIFT_COMPARISON_BASELINE,
    "previous": pb.DRIFT_COMPARISON_PREVIOUS,
}
_DRIFT_VERDICTS = {
    "ok": pb.DRIFT_VERDICT_OK,
    "warn": pb.DRIFT_VERDICT_WARN,
    "fail": pb.DRIFT_VERDICT_FAIL,
}
_ACTIONS = {"warn": pb.DRIFT_ACTION_WARN, "block": pb.DRIFT_ACTION_BLOCK}


def profile_message(view: str, profile: VersionProfile) -> pb.VersionProfile:
    """The wire form of one version's profile."""
    message = pb.VersionProfile(
        feature_view=view,
        table=profile.table,
        version=profile.version,
        source=_SOURCES[profile.source],
        run_id=profile.run_id,
        row_count=profile.row_count,
        columns=[_column_message(c) for c in profile.columns],
    )
    message.profile_time.FromDatetime(profile.profiled_at)
    if profile.reference_version is not None:
        message.reference_version = profile.reference_version
    return message


def _column_message(column: ColumnProfile) -> pb.ColumnProfile:
    message = pb.ColumnProfile(
        feature=column.feature,
        kind=_KINDS[column.kind],
        row_count=column.row_count,
        null_count=column.null_count,
        null_share=column.null_share,
        edges=column.edges,
        categories=column.categories,
        bucket_labels=column.bucket_labels,
        counts=column.counts,
        reference_counts=column.reference_counts,
    )
    for field in ("min", "max", "mean", "std"):
        value = getattr(column, field)
        if value is not None:
            setattr(message, field, value)
    return message


def drift_message(view: str, score: DriftScore) -> pb.DriftScore:
    """The wire form of one drift score."""
    return pb.DriftScore(
        feature_view=view,
        table=score.table,
        version=score.version,
        feature=score.feature,
        metric=_METRICS[score.metric],
        against=_AGAINST[score.against],
        reference_version=score.reference_version,
        score=score.score,
        warn=score.warn,
        fail=score.fail,
        verdict=_DRIFT_VERDICTS[score.verdict],
        on_drift=_ACTIONS[score.on_drift],
    )
