"""Score a version's column profiles against the reference and the previous version."""

from __future__ import annotations

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
        if prev.version == ref.version and feature in ref.columns:
            return ref.columns[feature].counts
        if prev.reference_version != ref.version:
            return ()  # counted on other buckets: not comparable
        try:
            return prev.column(feature).counts
        except KeyError:
            return ()

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
