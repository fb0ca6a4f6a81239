"""Check vocabulary: built-in Pandera checks, registered and referenced custom checks.

A custom check is named either by a registered name (``finite``) or by a
reference ``package.module:function``. A reference is imported where the check
runs, in the service and inside each Spark executor's Python worker, so the
same contract gives the same verdict everywhere the module is importable; a
registry entry made at run time on the driver never reaches an executor.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

COLUMN_TYPES: tuple[str, ...] = (
    "int64",
    "float64",
    "string",
    "bool",
    "timestamp",
    "date",
)
"""Column types a contract may declare."""

COMPARISON_CHECKS: frozenset[str] = frozenset(
    {
        "greater_than",
        "greater_than_or_equal_to",
        "less_than",
        "less_than_or_equal_to",
        "equal_to",
        "not_equal_to",
    }
)
"""Built-in checks taking one scalar argument."""

BUILTIN_CHECKS: frozenset[str] = COMPARISON_CHECKS | {
    "in_range",
    "isin",
    "notin",
    "str_matches",
    "str_length",
}
"""Every built-in (Pandera) column check name a contract may use."""

NOT_NULLABLE = "not_nullable"
"""Reason check name for a null in a non-nullable column (Pandera's name)."""

DUPLICATE_KEY = "duplicate_key"
"""Reason check name for a row losing the primary-key de-duplication."""

PARTITION_NOT_EMPTY = "partition_not_empty"
"""Reason check name for an empty string in a string ``partition_by`` column:
Delta (Hive-style partition paths) stores a partition value ``""`` as null, so
the row would be published changed, and a ``replace_partitions`` or ``merge``
re-run would not find it again."""

PARTITION_PATH_VALID = "partition_path_valid"
"""Reason check name for a string ``partition_by`` value whose partition
directory (``column=value``, escaped as Spark writes it) cannot be created:
longer than 255 bytes or holding a NUL (see `_partitions.valid_directory`);
published, the write would fail for the whole batch. Also the value
``__HIVE_DEFAULT_PARTITION__``, Spark's directory name for null: published,
it would read back as null."""

ColumnCheckFn = Callable[["pd.Series"], "pd.Series"]
RowCheckFn = Callable[["pd.DataFrame", Sequence[str]], "pd.Series"]


@dataclass(frozen=True)
class CustomColumnCheck:
    """A registered custom column check.

    Attributes:
        name: Name used in contracts (`custom: <name>`) and in row reasons.
        fn: Vectorised predicate over a column's values; True means the value
            passes. Null values pass whatever it returns.
        types: Column types the check applies to.
    """

    name: str
    fn: ColumnCheckFn
    types: frozenset[str]


@dataclass(frozen=True)
class RowCheck:
    """A registered multi-column row check.

    Attributes:
        name: Name used in contracts (`- <name>: [columns]`) and in row reasons.
        fn: Vectorised predicate over the frame and the listed columns; True
            means the row passes.
        min_columns: Fewest columns the check accepts.
        types: Column types the listed columns may have.
    """

    name: str
    fn: RowCheckFn
    min_columns: int
    types: frozenset[str]


_TAKEN = BUILTIN_CHECKS | {
    NOT_NULLABLE, DUPLICATE_KEY, PARTITION_NOT_EMPTY, PARTITION_PATH_VALID,
}  # fmt: skip
"""Names a registered check may not take: a built-in's, or a reason the
verdict reports itself."""
_COLUMN_CHECKS: dict[str, CustomColumnCheck] = {}
_ROW_CHECKS: dict[str, RowCheck] = {}


def register_column_check(check: CustomColumnCheck) -> None:
    """Register a custom column check under `check.name`.

    Raises:
        ValueError: The name is taken by a built-in, a reason the verdict
            reports itself, or another check.
    """
    if check.name in _TAKEN or check.name in _COLUMN_CHECKS:
        raise ValueError(f"column check {check.name!r} is already defined")
    _COLUMN_CHECKS[check.name] = check


def register_row_check(check: RowCheck) -> None:
    """Register a row check under `check.name`.

    Raises:
        ValueError: The name is taken by a built-in, a reason the verdict
            reports itself, or another row check.
    """
    if check.name in _TAKEN or check.name in _ROW_CHECKS:
        raise ValueError(f"row check {check.name!r} is already defined")
    _ROW_CHECKS[check.name] = check


class CheckReferenceError(ValueError):
    """A `module:function` check reference cannot be imported or is no check."""

    def __init__(self, ref: str, detail: str) -> None:
        super().__init__(f"check reference {ref!r}: {detail}")
        self.ref = ref


def is_reference(name: str) -> bool:
    """Whether `name` is a `module:function` reference, not a registered name."""
    return ":" in name


def column_check(name: str) -> CustomColumnCheck:
    """Return the custom column check registered as, or referenced by, `name`.

    A reference names a `CustomColumnCheck` or a plain function from a pandas
    Series to a boolean Series (then it applies to every column type).

    Raises:
        KeyError: No check is registered as `name`.
        CheckReferenceError: A reference cannot be imported or is no check.
    """
    if not is_reference(name):
        return _COLUMN_CHECKS[name]
    target = _import_reference(name)
    if isinstance(target, CustomColumnCheck):
        return CustomColumnCheck(name, target.fn, target.types)
    if isinstance(target, RowCheck):
        raise CheckReferenceError(name, "is a row check, not a column check")
    fn = cast("ColumnCheckFn", target)  # callable: checked on import
    return CustomColumnCheck(name, fn, frozenset(COLUMN_TYPES))


def row_check(name: str) -> RowCheck:
    """Return the row check registered as, or referenced by, `name`.

    A reference names a `RowCheck` or a plain function `(frame, columns)` to
    a boolean Series (then it takes one or more columns of any type).

    Raises:
        KeyError: No check is registered as `name`.
        CheckReferenceError: A reference cannot be imported or is no check.
    """
    if not is_reference(name):
        return _ROW_CHECKS[name]
    target = _import_reference(name)
    if isinstance(target, RowCheck):
        return RowCheck(name, target.fn, target.min_columns, target.types)
    if isinstance(target, CustomColumnCheck):
        raise CheckReferenceError(name, "is a column check, not a row check")
    fn = cast("RowCheckFn", target)  # callable: checked on import
    return RowCheck(name, fn, 1, frozenset(COLUMN_TYPES))


@cache
def _import_reference(ref: str) -> object:
    # Cached per process: an executor's Python worker imports a module once,
    # however many batches it judges.
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise CheckReferenceError(ref, "is not of the form package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CheckReferenceError(ref, f"cannot import {module_name!r}: {exc}") from exc
    target: object = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CheckReferenceError(
                ref, f"module {module_name!r} has no {attr!r}"
            ) from None
    if not callable(target) and not isinstance(target, CustomColumnCheck | RowCheck):
        raise CheckReferenceError(ref, "is not callable")
    return target


def column_check_names() -> list[str]:
    """Return the registered custom column check names, sorted."""
    return sorted(_COLUMN_CHECKS)


def row_check_names() -> list[str]:
    """Return the registered row check names, sorted."""
    return sorted(_ROW_CHECKS)


def _windows_nested(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    # Adjacent pairs only: a pair with a null passes, so [1, null, 0] passes.
    # The Spark side implements the same rule; change both or neither.
    ok = np.ones(len(frame), dtype=bool)
    for left_name, right_name in pairwise(columns):
        left, right = frame[left_name], frame[right_name]
        pair = (left <= right).fillna(True).to_numpy(dtype=bool, na_value=True)
        ok &= pair | left.isna().to_numpy() | right.isna().to_numpy()
    import pandas as pd

    return pd.Series(ok, index=frame.index)


def _finite(values: pd.Series) -> pd.Series:
    return ~values.isin([np.inf, -np.inf])


def _non_blank(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.len() > 0


_ORDERED = frozenset({"int64", "float64", "timestamp", "date"})

register_row_check(RowCheck("windows_nested", _windows_nested, 2, _ORDERED))
register_column_check(CustomColumnCheck("finite", _finite, frozenset({"float64"})))
register_column_check(CustomColumnCheck("non_blank", _non_blank, frozenset({"string"})))
