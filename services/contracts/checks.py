"""Check vocabulary: built-in Pandera check names and the custom check registries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

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


_COLUMN_CHECKS: dict[str, CustomColumnCheck] = {}
_ROW_CHECKS: dict[str, RowCheck] = {}


def register_column_check(check: CustomColumnCheck) -> None:
    """Register a custom column check under `check.name`.

    Raises:
        ValueError: The name is taken by a built-in or another check.
    """
    if check.name in BUILTIN_CHECKS or check.name in _COLUMN_CHECKS:
        raise ValueError(f"column check {check.name!r} is already defined")
    _COLUMN_CHECKS[check.name] = check


def register_row_check(check: RowCheck) -> None:
    """Register a row check under `check.name`.

    Raises:
        ValueError: The name is already registered.
    """
    if check.name in _ROW_CHECKS:
        raise ValueError(f"row check {check.name!r} is already defined")
    _ROW_CHECKS[check.name] = check


def column_check(name: str) -> CustomColumnCheck:
    """Return the custom column check registered as `name` (KeyError if none)."""
    return _COLUMN_CHECKS[name]


def row_check(name: str) -> RowCheck:
    """Return the row check registered as `name` (KeyError if none)."""
    return _ROW_CHECKS[name]


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
