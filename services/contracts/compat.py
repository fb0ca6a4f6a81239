"""Compatibility diff between two contract versions, and the version-bump rule.

A change is *breaking* when data valid under the old contract may be invalid
under the new one, or readers lose a guarantee about keys, types or columns:
removed columns, new required columns, any type change (no widening is
allowed, int64 -> float64 included, because consumers read exact Arrow types),
nullable -> required, key changes (entity keys, `keys`, timestamps), partitioning
changes, added or tightened checks. Loosening
(required -> nullable, removed or loosened checks, a new nullable column) and
metadata changes (docs, owner, freshness SLA, publish frequency, failure
ratio, minimum batch rows, drift settings) are compatible: SLAs and drift
thresholds judge a table over time, and the failure ratio and `min_rows`
judge whether a whole batch publishes, never which rows are valid, so
tightening one breaks no reader (a refused batch leaves the table as it
was). `freshness: 7d` and an equal `slaProperties` latency entry compare
equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from featurestore.services.contracts.model import Check, InRange, StrLength

if TYPE_CHECKING:
    from featurestore.services.contracts.drift import DriftSettings
    from featurestore.services.contracts.model import Column, Contract


class ChangeKind(StrEnum):
    """Kinds of contract change."""

    COLUMN_REMOVED = "COLUMN_REMOVED"
    COLUMN_ADDED_NULLABLE = "COLUMN_ADDED_NULLABLE"
    COLUMN_ADDED_REQUIRED = "COLUMN_ADDED_REQUIRED"
    TYPE_CHANGED = "TYPE_CHANGED"
    NULLABLE_TO_REQUIRED = "NULLABLE_TO_REQUIRED"
    REQUIRED_TO_NULLABLE = "REQUIRED_TO_NULLABLE"
    KEY_CHANGED = "KEY_CHANGED"
    PARTITIONING_CHANGED = "PARTITIONING_CHANGED"
    CHECK_ADDED = "CHECK_ADDED"
    CHECK_REMOVED = "CHECK_REMOVED"
    CHECK_TIGHTENED = "CHECK_TIGHTENED"
    CHECK_LOOSENED = "CHECK_LOOSENED"
    CHECK_CHANGED = "CHECK_CHANGED"
    ROW_CHECK_ADDED = "ROW_CHECK_ADDED"
    ROW_CHECK_REMOVED = "ROW_CHECK_REMOVED"
    DOC_CHANGED = "DOC_CHANGED"
    FRESHNESS_CHANGED = "FRESHNESS_CHANGED"
    FAILURE_RATIO_CHANGED = "FAILURE_RATIO_CHANGED"
    MIN_ROWS_CHANGED = "MIN_ROWS_CHANGED"
    OWNER_CHANGED = "OWNER_CHANGED"
    FREQUENCY_CHANGED = "FREQUENCY_CHANGED"
    DRIFT_TIGHTENED = "DRIFT_TIGHTENED"
    DRIFT_LOOSENED = "DRIFT_LOOSENED"
    DRIFT_CHANGED = "DRIFT_CHANGED"


BREAKING_KINDS: frozenset[ChangeKind] = frozenset(
    {
        ChangeKind.COLUMN_REMOVED,
        ChangeKind.COLUMN_ADDED_REQUIRED,
        ChangeKind.TYPE_CHANGED,
        ChangeKind.NULLABLE_TO_REQUIRED,
        ChangeKind.KEY_CHANGED,
        ChangeKind.PARTITIONING_CHANGED,
        ChangeKind.CHECK_ADDED,
        ChangeKind.CHECK_TIGHTENED,
        ChangeKind.CHECK_CHANGED,
        ChangeKind.ROW_CHECK_ADDED,
    }
)
"""Change kinds that need a major version bump."""

NARROWING_CHECK_KINDS: frozenset[ChangeKind] = frozenset(
    {
        ChangeKind.CHECK_ADDED,
        ChangeKind.CHECK_TIGHTENED,
        ChangeKind.CHECK_CHANGED,
        ChangeKind.ROW_CHECK_ADDED,
    }
)
"""Check changes under which a row the old contract passed may fail the new one."""

COSMETIC_KINDS: frozenset[ChangeKind] = frozenset(
    {ChangeKind.DOC_CHANGED, ChangeKind.OWNER_CHANGED}
)
"""Compatible changes no reader of the data can observe: docs and ownership."""


class BumpProblem(StrEnum):
    """Reasons a version bump is wrong."""

    NAME_CHANGED = "NAME_CHANGED"
    VERSION_NOT_INCREASED = "VERSION_NOT_INCREASED"
    MAJOR_BUMP_REQUIRED = "MAJOR_BUMP_REQUIRED"


@dataclass(frozen=True)
class Change:
    """One difference between two contract versions."""

    kind: ChangeKind
    """What changed."""
    column: str = ""
    """The column concerned (comma-joined for keys and row checks), or empty."""
    detail: str = ""
    """Human-readable old -> new values."""
    check: str = ""
    """The check concerned (its reason name) for CHECK_* and ROW_CHECK_* kinds."""

    @property
    def breaking(self) -> bool:
        """Whether this change needs a major version bump."""
        return self.kind in BREAKING_KINDS

    @property
    def severity(self) -> str:
        """``breaking``, ``non-breaking`` or ``cosmetic`` (docs, owner)."""
        if self.breaking:
            return "breaking"
        return "cosmetic" if self.kind in COSMETIC_KINDS else "non-breaking"

    def __str__(self) -> str:
        label = "BREAKING" if self.breaking else "compatible"
        where = f" {self.column}" if self.column else ""
        return f"{label} {self.kind.value}{where}: {self.detail}"


@dataclass(frozen=True)
class VersionProblem:
    """A version-bump rule violation."""

    problem: BumpProblem
    """Which rule is violated."""
    detail: str
    """Human-readable explanation."""

    def __str__(self) -> str:
        return f"{self.problem.value}: {self.detail}"


def _bound_direction(old: Any, new: Any, *, lower: bool) -> int:
    """Return 1 when the new bound is tighter, -1 looser, 0 equal (None = unbounded)."""
    if old == new:
        return 0
    if old is None or new is None:
        return 1 if old is None else -1
    tighter = new > old if lower else new < old
    return 1 if tighter else -1


def _flag_direction(old: bool, new: bool) -> int:
    """Inclusive -> exclusive is tighter."""
    return 0 if old == new else (1 if old and not new else -1)


def _combine(directions: list[int]) -> ChangeKind | None:
    if any(d > 0 for d in directions):
        return ChangeKind.CHECK_TIGHTENED
    if any(d < 0 for d in directions):
        return ChangeKind.CHECK_LOOSENED
    return None


def _compare_check(old: Check, new: Check) -> ChangeKind | None:
    a, b = old.args, new.args
    if a == b:
        return None
    if old.name in ("greater_than", "greater_than_or_equal_to"):
        return _combine([_bound_direction(a, b, lower=True)])
    if old.name in ("less_than", "less_than_or_equal_to"):
        return _combine([_bound_direction(a, b, lower=False)])
    if isinstance(a, InRange) and isinstance(b, InRange):
        return _combine(
            [
                _bound_direction(a.min_value, b.min_value, lower=True),
                _bound_direction(a.max_value, b.max_value, lower=False),
                _flag_direction(a.include_min, b.include_min),
                _flag_direction(a.include_max, b.include_max),
            ]
        )
    if isinstance(a, StrLength) and isinstance(b, StrLength):
        return _combine(
            [
                _bound_direction(a.min_value, b.min_value, lower=True),
                _bound_direction(a.max_value, b.max_value, lower=False),
            ]
        )
    if old.name in ("isin", "notin"):
        old_set, new_set = set(a), set(b)
        if old_set == new_set:
            return None
        grows = new_set > old_set
        if not (grows or new_set < old_set):
            return ChangeKind.CHECK_CHANGED
        tighter = grows if old.name == "notin" else not grows
        return ChangeKind.CHECK_TIGHTENED if tighter else ChangeKind.CHECK_LOOSENED
    # equal_to, not_equal_to, str_matches: no order to reason about.
    return ChangeKind.CHECK_CHANGED


def _args_text(check: Check) -> str:
    return str(check.to_yaml_obj()[check.name if not check.custom else "custom"])


def _compare_columns(old: Column, new: Column) -> list[Change]:
    name = old.name
    changes: list[Change] = []
    if old.type != new.type:
        changes.append(
            Change(ChangeKind.TYPE_CHANGED, name, f"{old.type} -> {new.type}")
        )
    if old.nullable != new.nullable:
        kind = (
            ChangeKind.REQUIRED_TO_NULLABLE
            if new.nullable
            else ChangeKind.NULLABLE_TO_REQUIRED
        )
        changes.append(Change(kind, name, f"nullable {old.nullable} -> {new.nullable}"))
    if old.description != new.description:
        changes.append(Change(ChangeKind.DOC_CHANGED, name, "description"))
    old_checks = {c.name: c for c in old.checks}
    new_checks = {c.name: c for c in new.checks}
    for check_name, check in new_checks.items():
        if check_name not in old_checks:
            detail = f"{check_name} {_args_text(check)}"
            changes.append(Change(ChangeKind.CHECK_ADDED, name, detail, check_name))
            continue
        direction = _compare_check(old_checks[check_name], check)
        if direction is not None:
            before, after = _args_text(old_checks[check_name]), _args_text(check)
            detail = f"{check_name} {before} -> {after}"
            changes.append(Change(direction, name, detail, check_name))
    for check_name in [n for n in old_checks if n not in new_checks]:
        changes.append(Change(ChangeKind.CHECK_REMOVED, name, check_name, check_name))
    return changes


def _compare_fields(old: Contract, new: Contract) -> list[Change]:
    changes: list[Change] = []
    if old.primary_key != new.primary_key:
        detail = f"{','.join(old.primary_key)} -> {','.join(new.primary_key)}"
        changes.append(
            Change(ChangeKind.KEY_CHANGED, ",".join(new.primary_key), detail)
        )
    if old.entity_keys != new.entity_keys and not _keys_follow(old, new):
        # Feast joins on the entity keys; `keys` may stay as they were.
        before, after = ",".join(old.entity_keys), ",".join(new.entity_keys)
        detail = f"entity_keys {before} -> {after}"
        changes.append(Change(ChangeKind.KEY_CHANGED, after, detail))
    if old.created_timestamp != new.created_timestamp:
        detail = f"created_timestamp {old.created_timestamp} -> {new.created_timestamp}"
        changes.append(Change(ChangeKind.KEY_CHANGED, new.created_timestamp, detail))
    if old.partition_by != new.partition_by:
        # Readers prune by it and replace_partitions publishes replace by it.
        detail = f"{','.join(old.partition_by)} -> {','.join(new.partition_by)}"
        column = ",".join(new.partition_by)
        changes.append(Change(ChangeKind.PARTITIONING_CHANGED, column, detail))
    simple = [
        ("description", ChangeKind.DOC_CHANGED),
        ("owner", ChangeKind.OWNER_CHANGED),
        ("max_failure_ratio", ChangeKind.FAILURE_RATIO_CHANGED),
        ("min_rows", ChangeKind.MIN_ROWS_CHANGED),
    ]
    for attr, kind in simple:
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            text = (
                "changed"
                if attr == "description"
                else f"{_text(before)} -> {_text(after)}"
            )
            changes.append(Change(kind, "", f"{attr} {text}"))
    return changes + _compare_sla(old, new)


def _text(value: Any) -> str:
    """A field's value in a change's detail; an absent optional one is `none`."""
    return "none" if value is None else str(value)


def _keys_follow(old: Contract, new: Contract) -> bool:
    """Whether both versions leave `keys` at their default, the entity keys:
    an entity key change is then the primary key change already reported."""
    return old.keys == old.entity_keys and new.keys == new.entity_keys


def _compare_sla(old: Contract, new: Contract) -> list[Change]:
    before, after = old.freshness_sla, new.freshness_sla
    changes: list[Change] = []
    if (before.max_age, before.event_time) != (after.max_age, after.event_time):
        detail = (
            f"freshness {before.max_age} on {before.event_time} -> "
            f"{after.max_age} on {after.event_time}"
        )
        changes.append(Change(ChangeKind.FRESHNESS_CHANGED, "", detail))
    if before.frequency != after.frequency:
        detail = f"frequency {before.frequency} -> {after.frequency}"
        changes.append(Change(ChangeKind.FREQUENCY_CHANGED, "", detail))
    return changes


def _compare_drift(old: DriftSettings, new: DriftSettings) -> ChangeKind | None:
    same_kind = (old.metric, old.bins, old.top_k, old.on_drift, old.enabled) == (
        new.metric,
        new.bins,
        new.top_k,
        new.on_drift,
        new.enabled,
    )
    if not same_kind:
        return ChangeKind.DRIFT_CHANGED
    # A lower threshold warns or fails sooner: tighter.
    directions = [
        _bound_direction(old.warn, new.warn, lower=False),
        _bound_direction(old.fail, new.fail, lower=False),
    ]
    if any(d > 0 for d in directions):
        return ChangeKind.DRIFT_TIGHTENED
    if any(d < 0 for d in directions):
        return ChangeKind.DRIFT_LOOSENED
    return None


def _drift_changes(old: Contract, new: Contract) -> list[Change]:
    changes: list[Change] = []
    if old.drift_block.baseline != new.drift_block.baseline:
        detail = f"baseline {old.drift_block.baseline} -> {new.drift_block.baseline}"
        changes.append(Change(ChangeKind.DRIFT_CHANGED, "", detail))
    before, after = old.drift, new.drift
    for name in [n for n in after if n in before]:
        kind = _compare_drift(before[name], after[name])
        if kind is not None:
            detail = _drift_detail(before[name], after[name])
            changes.append(Change(kind, name, detail))
    return changes


_DRIFT_FIELDS = ("metric", "warn", "fail", "bins", "top_k", "on_drift", "enabled")
"""The resolved drift settings a change's detail names, in this order."""


def _drift_detail(old: DriftSettings, new: DriftSettings) -> str:
    """Each setting that differs, old -> new: ``bins 4 -> 10, top_k 3 -> 5``."""
    return ", ".join(
        f"{name} {getattr(old, name)} -> {getattr(new, name)}"
        for name in _DRIFT_FIELDS
        if getattr(old, name) != getattr(new, name)
    )


def compare(old: Contract, new: Contract) -> list[Change]:
    """List every change from `old` to `new`, each classified.

    A renamed column shows as COLUMN_REMOVED plus COLUMN_ADDED_*; a row check
    whose columns change shows as ROW_CHECK_REMOVED plus ROW_CHECK_ADDED.

    Args:
        old: The earlier contract.
        new: The later contract.

    Returns:
        Changes in a stable order: contract fields, columns, row checks, drift.
    """
    changes = _compare_fields(old, new)
    old_cols = {c.name: c for c in old.columns}
    new_cols = {c.name: c for c in new.columns}
    for col in old.columns:
        if col.name not in new_cols:
            changes.append(Change(ChangeKind.COLUMN_REMOVED, col.name, col.type))
        else:
            changes.extend(_compare_columns(col, new_cols[col.name]))
    for col in new.columns:
        if col.name not in old_cols:
            kind = (
                ChangeKind.COLUMN_ADDED_NULLABLE
                if col.nullable
                else ChangeKind.COLUMN_ADDED_REQUIRED
            )
            changes.append(Change(kind, col.name, col.type))
    old_rows = {(r.name, r.columns) for r in old.row_checks}
    new_rows = {(r.name, r.columns) for r in new.row_checks}
    for row in new.row_checks:
        if (row.name, row.columns) not in old_rows:
            changes.append(
                Change(
                    ChangeKind.ROW_CHECK_ADDED, row.reason_column, row.name, row.name
                )
            )
    for row in old.row_checks:
        if (row.name, row.columns) not in new_rows:
            changes.append(
                Change(
                    ChangeKind.ROW_CHECK_REMOVED, row.reason_column, row.name, row.name
                )
            )
    return changes + _drift_changes(old, new)


def check_version_bump(
    old: Contract, new: Contract, changes: list[Change] | None = None
) -> list[VersionProblem]:
    """Check that `new`'s version follows from `old`'s given the changes.

    Rules: the name must not change; the version must strictly increase (so
    any change gets some bump); a breaking change needs a greater major
    version (also below 1.0.0: this project does not relax it for 0.x).

    Args:
        old: The earlier contract.
        new: The later contract.
        changes: `compare(old, new)`, computed when None.

    Returns:
        The problems found; empty when the bump is right.
    """
    changes = compare(old, new) if changes is None else changes
    problems: list[VersionProblem] = []
    if old.name != new.name:
        problems.append(
            VersionProblem(BumpProblem.NAME_CHANGED, f"{old.name} -> {new.name}")
        )
    if new.semver <= old.semver:
        problems.append(
            VersionProblem(
                BumpProblem.VERSION_NOT_INCREASED, f"{old.version} -> {new.version}"
            )
        )
    breaking = [c for c in changes if c.breaking]
    if breaking and new.semver.major <= old.semver.major:
        kinds = ",".join(sorted({c.kind.value for c in breaking}))
        problems.append(
            VersionProblem(
                BumpProblem.MAJOR_BUMP_REQUIRED,
                f"{old.version} -> {new.version} with breaking changes {kinds}",
            )
        )
    return problems
