"""SQL predicates naming partitions, read alike by Spark and delta-rs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from featurestore.spark_jobs.errors import ConfigError


def partition_predicate(
    columns: Sequence[str], values: Sequence[tuple[Any, ...]]
) -> str:
    """SQL predicate matching exactly the given partition value tuples.

    Args:
        columns: Partition column names.
        values: Distinct value tuples, one per partition (None is SQL NULL).

    Returns:
        ``a IN (...)`` for one column, else an OR of ANDs, sorted for stable
        commit history.
    """
    if len(columns) == 1:
        present = sorted({_sql_literal(v[0]) for v in values if v[0] is not None})
        terms = [f"`{columns[0]}` IN ({', '.join(present)})"] if present else []
        if any(v[0] is None for v in values):
            terms.append(f"`{columns[0]}` IS NULL")
        return " OR ".join(terms)
    clauses = sorted(
        "("
        + " AND ".join(
            f"`{c}` IS NULL" if v is None else f"`{c}` = {_sql_literal(v)}"
            for c, v in zip(columns, row, strict=True)
        )
        + ")"
        for row in values
    )
    return " OR ".join(clauses)


_SQL_AWKWARD = re.compile(r"(['\\])")


def _string_literal(value: str) -> str:
    # Spark SQL reads a backslash in a literal as an escape, DataFusion
    # (delta-rs) as itself and a doubled quote as a quote: no spelling of
    # ' or \ means the same to both, so those two are written as chr() calls
    # concatenated with ||, which both evaluate alike.
    parts = [p for p in _SQL_AWKWARD.split(value) if p]
    if not parts:
        return "''"
    spelled = [
        f"chr({ord(p)})" if _SQL_AWKWARD.fullmatch(p) else f"'{p}'" for p in parts
    ]
    return spelled[0] if len(spelled) == 1 else "(" + " || ".join(spelled) + ")"


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, str):
        return _string_literal(value)
    raise ConfigError(f"unsupported partition value type {type(value).__name__}")
