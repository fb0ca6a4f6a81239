"""Score a version's column profiles against the reference and the previous version."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from featurestore.services.contracts.drift import DriftSettings, ProfileKind
from featurestore.services.monitoring.model import (
    ColumnProfile,
    DriftScore,
    ProfileSource,
    VersionProfile,
)
from featurestore.services.monitoring.scores import score, verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceColumn:
    """The buckets of one feature, fixed by the reference version."""

    kind: ProfileKind
    edges: tuple[float, ...] = ()
    """Inner edges of the equal-frequency buckets (numeric)."""
    categories: tuple[str, ...] = ()
    """The reference's top-k categories (categorical)."""
    counts: tuple[int, ...] = ()
    """The reference version's rows per bucket, nulls last."""
    bins: int | None = None
    """The `bins` the edges were made for (numeric; None: not recorded, as in
    profile rows written before it was)."""
    top_k: int | None = None
    """The `top_k` the categories were made for (categorical; None: not recorded)."""

    def made_for(self, setting: DriftSettings) -> bool | None:
        """Whether these buckets are the ones `setting` asks for: same kind and
        same `bins` (numeric) or `top_k` (categorical). None: not recorded."""
        if self.kind != setting.kind:
            return False
        numeric = self.kind == "numeric"
        made = self.bins if numeric else self.top_k
        if made is None:
            return None
        return made == (setting.bins if numeric else setting.top_k)

    def same_buckets(self, column: ColumnProfile) -> bool:
        """Whether `column` was counted on these buckets."""
        return (self.kind, self.edges, self.categories) == (
            column.kind,
            column.edges,
            column.categories,
        )


@dataclass(frozen=True)
class Reference:
    """The version every later version of a table is bucketed and scored against."""

    version: int
    columns: Mapping[str, ReferenceColumn] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scored:
    baseline: float | None
    previous_version: int | None
    previous: float | None


@dataclass(frozen=True)
class Assessment:
    """One version's profile and its drift, before and after it has a version."""

    table: str
    columns: tuple[ColumnProfile, ...]
    """What the pass measured, counted on the reference's buckets."""
    settings: Mapping[str, DriftSettings]
    """The contract's drift settings per feature."""
    reference: Reference | None = None
    previous: VersionProfile | None = None
    """The newest version profiled before this one."""

    @cached_property
    def _scored(self) -> dict[str, _Scored]:
        return {c.feature: self._score(c) for c in self.columns}

    def _score(self, col: ColumnProfile) -> _Scored:
        setting = self.settings.get(col.feature)
        if setting is None or not setting.enabled or not col.counts:
            return _Scored(None, None, None)
        ref = self.reference.columns.get(col.feature) if self.reference else None
        baseline = _safe_score(setting, ref.counts if ref else (), col.counts)
        previous_counts = self._previous_counts(col.feature)
        previous = _safe_score(setting, previous_counts, col.counts)
        version = (
            self.previous.version if previous is not None and self.previous else None
        )
        return _Scored(baseline, version, previous)

    def _previous_counts(self, feature: str) -> tuple[int, ...]:
        prev, ref = self.previous, self.reference
        if prev is None or ref is None:
            return ()
        own = ref.columns.get(feature)
        if prev.version == ref.version and own is not None:
            return own.counts
        if prev.reference_version != ref.version or own is None:
            return ()  # counted on other buckets: not comparable
        try:
            before = prev.column(feature)
        except KeyError:
            return ()
        if before.counts and not own.same_buckets(before):
            # Same reference version, other buckets: the contract changed
            # bins or top_k since. Scores compare only counts on the same
            # buckets, and re-counting the previous version here would read
            # its whole snapshot where its profile may describe one batch.
            log.warning(
                "%s.%s: no score against version %s: it was counted on the "
                "buckets of other drift settings (bins or top_k changed); "
                "`featurestore monitor backfill %s --force` counts every "
                "version again on the current ones",
                self.table, feature, prev.version, self.table,
            )  # fmt: skip
            return ()
        return before.counts

    def scores(self, version: int) -> list[DriftScore]:
        """Every score of this assessment, as version `version` of the table."""
        out = []
        for col in self.columns:
            scored, setting = self._scored[col.feature], self.settings.get(col.feature)
            if setting is None:
                continue
            pairs = [
                ("baseline", self.reference.version if self.reference else None,
                 scored.baseline),
                ("previous", scored.previous_version, scored.previous),
            ]  # fmt: skip
            for against, ref_version, value in pairs:
                if value is None or ref_version is None:
                    continue
                out.append(
                    DriftScore(
                        table=self.table,
                        version=version,
                        feature=col.feature,
                        metric=setting.metric,
                        against=against,  # type: ignore[arg-type]
                        reference_version=ref_version,
                        score=value,
                        warn=setting.warn,
                        fail=setting.fail,
                        verdict=verdict(value, setting.warn, setting.fail),
                        on_drift=setting.on_drift,
                    )
                )
        return out

    def blocking(self, version: int) -> list[DriftScore]:
        """Scores that refuse the publish: `fail` under `on_drift: block`."""
        return [s for s in self.scores(version) if s.blocks]

    def rows(
        self, version: int, *, source: ProfileSource, run_id: str, at: datetime
    ) -> list[dict[str, Any]]:
        """Profile-table rows (see `_schema.SCHEMA`) for version `version`."""
        out = []
        for col in self.columns:
            scored, setting = self._scored[col.feature], self.settings.get(col.feature)
            ref = self.reference.columns.get(col.feature) if self.reference else None
            scoring = setting is not None and setting.enabled
            out.append(
                {
                    "table_version": version,
                    "feature": col.feature,
                    "kind": col.kind,
                    "row_count": col.row_count,
                    "null_count": col.null_count,
                    "min": col.min,
                    "max": col.max,
                    "mean": col.mean,
                    "std": col.std,
                    "edges": list(col.edges),
                    "categories": list(col.categories),
                    "counts": list(col.counts),
                    "reference_version": self.reference.version
                    if self.reference
                    else None,
                    "reference_counts": list(ref.counts) if ref else [],
                    "bins": ref.bins if ref else None,
                    "top_k": ref.top_k if ref else None,
                    "metric": setting.metric if scoring and setting else None,
                    "warn": setting.warn if setting else None,
                    "fail": setting.fail if setting else None,
                    "on_drift": setting.on_drift if setting else None,
                    "baseline_score": scored.baseline,
                    "previous_version": scored.previous_version,
                    "previous_score": scored.previous,
                    "source": source,
                    "run_id": run_id,
                    "profiled_at": at,
                }
            )
        return out


def _safe_score(
    setting: DriftSettings, reference: tuple[int, ...], current: tuple[int, ...]
) -> float | None:
    # Nothing to compare (no reference, an empty side, other buckets): no score.
    if not reference or len(reference) != len(current):
        return None
    if sum(reference) == 0 or sum(current) == 0:
        return None
    return score(setting.metric, reference, current)
