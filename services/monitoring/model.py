"""Profiles of published versions and drift scores: the monitoring read model."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from featurestore.services.contracts.drift import DriftMetric, OnDrift, ProfileKind

Against = Literal["baseline", "previous"]
"""What a drift score compares a version with."""
Verdict = Literal["ok", "warn", "fail"]
"""`warn` from the warn threshold on, `fail` from the fail threshold on."""
ProfileSource = Literal["publish", "backfill"]
"""Computed in the publish's Spark pass, or later from a pinned snapshot."""

OTHER = "other"
"""Label of the categorical bucket holding every category outside the top-k."""
NULL = "null"
"""Label of the bucket holding nulls (and float NaN): always the last one."""


@dataclass(frozen=True)
class ColumnProfile:
    """One feature column of one published version.

    Buckets: numeric columns have `len(edges) + 1` ranges, `[e_i, e_i+1)` with
    -inf and +inf at the ends; categorical ones have `categories` then `other`.
    Either way the last bucket holds the nulls, so `counts` sums to `row_count`.
    Edges and categories come from the table's reference version (the drift
    baseline), so every version of the table is counted on the same buckets.
    """

    feature: str
    kind: ProfileKind
    row_count: int
    null_count: int
    min: float | None = None
    """Smallest non-null value (numeric columns)."""
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    """Sample standard deviation (None below two values)."""
    edges: tuple[float, ...] = ()
    """Inner bucket edges, ascending (numeric)."""
    categories: tuple[str, ...] = ()
    """The reference's top-k categories, most frequent first (categorical)."""
    counts: tuple[int, ...] = ()
    """Rows per bucket, nulls last; empty when the version was profiled before
    its table had a reference (its first version, without a pinned baseline)."""
    reference_counts: tuple[int, ...] = ()
    """The reference version's rows on the same buckets."""

    @property
    def null_share(self) -> float:
        """Share of rows that are null (0 for an empty version)."""
        return self.null_count / self.row_count if self.row_count else 0.0

    @property
    def bucket_labels(self) -> tuple[str, ...]:
        """One label per bucket, matching `counts` (empty without buckets)."""
        if self.kind == "categorical":
            if not self.counts:
                return ()
            # An empty category shows as "" (a blank label named nothing).
            return (*(c or '""' for c in self.categories), OTHER, NULL)
        if not self.counts:
            return ()
        return (*_range_labels((-math.inf, *self.edges, math.inf)), NULL)

    @property
    def top_k(self) -> tuple[tuple[str, int], ...]:
        """The reference categories with this version's counts (categorical)."""
        return tuple(zip(self.categories, self.counts, strict=False))

    def to_json_obj(self) -> dict[str, object]:
        """Return the profile as JSON-ready data (edges without the infinities)."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "row_count": self.row_count,
            "null_count": self.null_count,
            "null_share": self.null_share,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "buckets": list(self.bucket_labels),
            "counts": list(self.counts),
            "reference_counts": list(self.reference_counts),
        }


@dataclass(frozen=True)
class VersionProfile:
    """The profile of one version of a feature table, one entry per feature."""

    table: str
    version: int
    """The feature table's Delta version this profile describes."""
    profiled_at: datetime
    source: ProfileSource
    run_id: str
    """Run id of the publish (or backfill) that wrote the profile."""
    reference_version: int | None
    """Version the bucket edges and categories come from (None: none yet)."""
    columns: tuple[ColumnProfile, ...] = field(default=())

    @property
    def row_count(self) -> int:
        """Rows in the version (0 when no column is profiled)."""
        return self.columns[0].row_count if self.columns else 0

    def column(self, feature: str) -> ColumnProfile:
        """Return the profile of `feature` (KeyError if none)."""
        for col in self.columns:
            if col.feature == feature:
                return col
        raise KeyError(feature)

    def to_json_obj(self) -> dict[str, object]:
        """Return the profile as JSON-ready data."""
        return {
            "table": self.table,
            "version": self.version,
            "profiled_at": self.profiled_at.isoformat(),
            "source": self.source,
            "run_id": self.run_id,
            "reference_version": self.reference_version,
            "row_count": self.row_count,
            "columns": [c.to_json_obj() for c in self.columns],
        }


@dataclass(frozen=True)
class DriftScore:
    """One feature of one version scored against its baseline or previous version."""

    table: str
    version: int
    feature: str
    metric: DriftMetric
    against: Against
    reference_version: int
    """The version compared with."""
    score: float
    warn: float
    fail: float
    verdict: Verdict
    on_drift: OnDrift = "warn"
    """What a `fail` does to a publish under the contract in force."""

    @property
    def blocks(self) -> bool:
        """Whether this score refuses a publish (`fail` under `on_drift: block`)."""
        return self.verdict == "fail" and self.on_drift == "block"

    def reason(self) -> str:
        """One line naming the feature, the score and the threshold crossed."""
        threshold = self.fail if self.verdict == "fail" else self.warn
        return (
            f"{self.table}.{self.feature}: {self.metric} {self.score:.4f} >= "
            f"{threshold:g} against {self.against} version {self.reference_version}"
        )

    def to_json_obj(self) -> dict[str, object]:
        """Return the score as JSON-ready data."""
        return {
            "table": self.table,
            "version": self.version,
            "feature": self.feature,
            "metric": self.metric,
            "against": self.against,
            "reference_version": self.reference_version,
            "score": self.score,
            "warn": self.warn,
            "fail": self.fail,
            "verdict": self.verdict,
            "on_drift": self.on_drift,
        }


def _range_labels(bounds: tuple[float, ...]) -> list[str]:
    """``[lo, hi)`` per pair of ascending ``bounds``, each bound written
    exactly, as briefly as will do (``7``, ``0.25``, ``1234567``).

    A bucket holding one value (``hi`` is the float right after ``lo``: the
    edges of a feature with few distinct values) is labelled by that value,
    and the bucket after it opens after that value: ``7`` and ``(7, inf)``,
    not ``[7, 7)`` and ``[7, inf)``.
    """
    text = [_exact(b) for b in bounds]
    labels = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if math.isfinite(lo) and hi == math.nextafter(lo, math.inf):
            labels.append(text[i])
        elif i > 0 and lo == math.nextafter(bounds[i - 1], math.inf):
            labels.append(f"({text[i - 1]}, {text[i + 1]})")
        else:
            labels.append(f"[{text[i]}, {text[i + 1]})")
    return labels


def _exact(value: float) -> str:
    """``value`` in the fewest significant digits (6 at least) that read back
    as ``value``: ``:g`` rounds 1234567 to 1.23457e+06, a different edge."""
    for digits in range(6, 18):
        text = f"{value:.{digits}g}"
        if float(text) == value:
            return text
    return repr(value)
