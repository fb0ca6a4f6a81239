"""The aggregates a profile needs, independent of the engine that computes them.

A `ProfilePlan` lists, per feature, the aggregates over its cleaned values
(float NaN as null; categorical values as strings): `count`, `min`, `max`,
`avg`, `std` (sample), `ge` (rows at or above an edge) and `eq` (rows equal to
a category). Spark (the publish pass) and DuckDB (snapshots) each render them
in their own terms; `ProfilePlan.read` turns the results into profiles.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from featurestore.services.contracts.drift import DriftSettings
from featurestore.services.monitoring.assess import Reference, ReferenceColumn
from featurestore.services.monitoring.model import ColumnProfile

Op = Literal["count", "min", "max", "avg", "std", "ge", "eq"]
_MOMENTS: tuple[Op, ...] = ("count", "min", "max", "avg", "std")


@dataclass(frozen=True)
class Aggregate:
    """One aggregate over one feature's cleaned values."""

    feature: str
    op: Op
    arg: float | str | None = None
    """The edge of `ge`, the category of `eq`."""


@dataclass(frozen=True)
class _Planned:
    setting: DriftSettings
    ref: ReferenceColumn | None
    aggregates: tuple[Aggregate, ...]


@dataclass(frozen=True)
class ProfilePlan:
    """What to aggregate for every feature, on the reference's buckets."""

    columns: Mapping[str, _Planned]

    @classmethod
    def build(
        cls, settings: Mapping[str, DriftSettings], reference: Reference | None
    ) -> ProfilePlan:
        """Plan the features in `settings` (without a reference: no buckets)."""
        planned = {}
        for name, setting in settings.items():
            ref = reference.columns.get(name) if reference else None
            if ref is not None and ref.kind != setting.kind:
                ref = None  # the column changed kind: its old buckets do not apply
            if setting.kind == "numeric":
                ops = [Aggregate(name, op) for op in _MOMENTS]
                ops += [Aggregate(name, "ge", e) for e in (ref.edges if ref else ())]
            else:
                ops = [Aggregate(name, "count")]
                cats = ref.categories if ref else ()
                ops += [Aggregate(name, "eq", c) for c in cats]
            planned[name] = _Planned(setting, ref, tuple(ops))
        return cls(planned)

    @property
    def aggregates(self) -> list[Aggregate]:
        """Every aggregate, feature by feature."""
        return [a for p in self.columns.values() for a in p.aggregates]

    def read(self, total: int, values: Sequence[Any]) -> tuple[ColumnProfile, ...]:
        """Profiles from the row count and the `aggregates`' values, in order."""
        out, at = [], 0
        for name, planned in self.columns.items():
            width = len(planned.aggregates)
            out.append(_profile(name, planned, total, values[at : at + width]))
            at += width
        return tuple(out)


def _profile(
    name: str, planned: _Planned, total: int, values: Sequence[Any]
) -> ColumnProfile:
    present = int(values[0] or 0)
    nulls = total - present
    ref = planned.ref
    if planned.setting.kind == "numeric":
        lo, hi, mean, std = (None if v is None else float(v) for v in values[1:5])
        at_least = [int(v or 0) for v in values[5:]]
        counts = numeric_counts(present, nulls, at_least) if ref is not None else ()
        return ColumnProfile(
            name, "numeric", total, nulls, lo, hi, mean, std,
            edges=ref.edges if ref else (), counts=counts,
        )  # fmt: skip
    if ref is None:
        return ColumnProfile(name, "categorical", total, nulls)
    hits = [int(v or 0) for v in values[1:]]
    return ColumnProfile(
        name, "categorical", total, nulls,
        categories=ref.categories, counts=(*hits, present - sum(hits), nulls),
    )  # fmt: skip


def numeric_counts(
    present: int, nulls: int, at_least: Sequence[int]
) -> tuple[int, ...]:
    """Bucket counts from the non-null count and the counts `>= edge_j`.

    `[-inf, e1)` holds `present - n(>= e1)`, `[e_j, e_j+1)` holds
    `n(>= e_j) - n(>= e_j+1)`, `[e_k, inf)` holds `n(>= e_k)`; nulls last.
    """
    bounds = [present, *at_least, 0]
    return (*(a - b for a, b in itertools.pairwise(bounds)), nulls)
