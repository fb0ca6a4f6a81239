"""Point-in-time join of an entity DataFrame with feature DataFrames, on Spark.

The semantics are exactly those of ``services.offline.join`` (read its module
docstring): typed key equality column by column, e <= t, the TTL boundary
t - T included, optional c <= t (``as_known_at``), winner = greatest e, then
greatest c (null lowest), then the greatest tuple of tiebreak columns (nulls
lowest, NaN highest, as in DuckDB and in Spark's own ordering), and exactly
one output row per entity row, in input order, with nulls where nothing
qualifies. Two traps of Feast's Spark offline store are avoided on purpose:
keys are compared as typed columns (never concatenated, so (1, 12) and
(11, 2) differ), and the winner is picked with ``row_number()`` per entity
row id, never by joining back on (key, e, c), so ties cannot duplicate rows.

Plan per view: entity rows (tagged once with ``monotonically_increasing_id``,
which follows input order) join the feature rows on the keys with the time
conditions, ``row_number()`` over the entity row id keeps the winner, and a
left join on the id attaches its features. Timestamps are compared as UTC
epoch microseconds (Spark's precision), so session time zones never matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_jobs.errors import ConfigError

__all__ = ["SparkViewInput", "point_in_time_join"]

ROW_ID = "__pit_row"


@dataclass(frozen=True)
class SparkViewInput:
    """One feature DataFrame to join, with the columns that drive the join.

    Attributes:
        name: View name, used in errors.
        df: Feature rows (one Delta snapshot).
        join_keys: Entity-frame columns that identify the entity.
        event_timestamp_column: Feature-frame event time column (e).
        features: Feature-frame columns to return.
        created_timestamp_column: Feature-frame created time column (c).
        ttl: Maximum age of a feature row; None or zero means unbounded.
        entity_key_map: Entity column -> feature column, for keys whose names
            differ; identity for keys not listed.
        output_names: Output column names, parallel to ``features``.
        tiebreak_columns: Columns ranking rows tied on (keys, e, c)
            (default: ``features``); pass every feature of the view.
    """

    name: str
    df: DataFrame
    join_keys: Sequence[str]
    event_timestamp_column: str
    features: Sequence[str]
    created_timestamp_column: str | None = None
    ttl: timedelta | None = None
    entity_key_map: Mapping[str, str] = field(default_factory=dict)
    output_names: Sequence[str] | None = None
    tiebreak_columns: Sequence[str] | None = None

    def feature_key(self, entity_column: str) -> str:
        """Return the feature-frame column matched with ``entity_column``."""
        return self.entity_key_map.get(entity_column, entity_column)


def point_in_time_join(
    entity: DataFrame,
    timestamp_column: str,
    views: Sequence[SparkViewInput],
    *,
    as_known_at: bool = False,
) -> DataFrame:
    """Attach, to every entity row, the feature values valid at its timestamp.

    Args:
        entity: Entity rows: join keys, a TIMESTAMP column, anything else.
        timestamp_column: The entity timestamp column (t).
        views: Feature frames to join, in output order.
        as_known_at: Only count feature rows created at or before t.

    Returns:
        ``entity`` with the feature columns of every view appended, one row
        per entity row, ordered as the input.

    Raises:
        ConfigError: A column is missing, the entity timestamp is not a
            TIMESTAMP (a TIMESTAMP_NTZ is ambiguous), key types differ, or
            output names collide.
    """
    _check_entity_timestamp(entity, timestamp_column)
    _check_output_names(entity, views)
    tagged = entity.withColumn(ROW_ID, F.monotonically_increasing_id())
    out = tagged
    for view in views:
        _check_view(entity, view)
        winners = _winners(tagged, timestamp_column, view, as_known_at)
        out = out.join(winners, on=ROW_ID, how="left")
    return out.orderBy(ROW_ID).drop(ROW_ID)


def _winners(
    tagged: DataFrame, timestamp_column: str, view: SparkViewInput, as_known_at: bool
) -> DataFrame:
    """Per entity row id with a qualifying feature row: the winner's features."""
    keys = [f"__k{i}" for i in range(len(view.join_keys))]
    ties = [f"__b{i}" for i in range(len(view.tiebreak_columns or view.features))]
    outs = _output_names(view)
    ent = tagged.select(
        F.col(ROW_ID),
        _micros(F.col(timestamp_column)).alias("__t"),
        *(F.col(c).alias(k) for k, c in zip(keys, view.join_keys, strict=True)),
    ).alias("ent")
    feat = _feature_frame(view, keys, ties, outs).alias("feat")
    # Typed equality per key column; a null key on either side matches nothing.
    cond = [F.col(f"ent.{k}") == F.col(f"feat.{k}") for k in keys]
    cond.append(F.col("feat.__e") <= F.col("ent.__t"))
    ttl = _ttl_micros(view.ttl)
    if ttl is not None:
        cond.append(F.col("feat.__e") >= F.col("ent.__t") - F.lit(ttl))
    if as_known_at and view.created_timestamp_column:
        cond.append(F.col("feat.__c") <= F.col("ent.__t"))
    order = [F.col("__e").desc(), F.col("__c").desc_nulls_last()]
    order += [F.col(b).desc_nulls_last() for b in ties]
    window = Window.partitionBy(ROW_ID).orderBy(*order)
    ranked = (
        ent.join(feat, on=_all(cond), how="inner")
        .select(F.col(f"ent.{ROW_ID}"), "feat.*")
        .withColumn("__rank", F.row_number().over(window))
    )
    return ranked.where(F.col("__rank") == 1).select(ROW_ID, *outs)


def _feature_frame(
    view: SparkViewInput, keys: list[str], ties: list[str], outs: list[str]
) -> DataFrame:
    df = view.df
    c = view.created_timestamp_column
    cols = [
        F.col(view.feature_key(k)).alias(a)
        for a, k in zip(keys, view.join_keys, strict=True)
    ]
    cols.append(_micros(F.col(view.event_timestamp_column)).alias("__e"))
    cols.append((_micros(F.col(c)) if c else F.lit(None).cast("long")).alias("__c"))
    tiebreak = view.tiebreak_columns or view.features
    cols += [F.col(t).alias(a) for a, t in zip(ties, tiebreak, strict=True)]
    cols += [F.col(f).alias(o) for f, o in zip(view.features, outs, strict=True)]
    return df.select(*cols).where(F.col("__e").isNotNull())


def _micros(column: Column) -> Column:
    # A TIMESTAMP_NTZ cast to TIMESTAMP is read in the session time zone,
    # which build_spark_session pins to UTC: naive feature times are UTC.
    return F.unix_micros(column.cast(T.TimestampType()))


def _ttl_micros(ttl: timedelta | None) -> int | None:
    if ttl is None or ttl == timedelta(0):
        return None
    return ttl // timedelta(microseconds=1)


def _all(conds: list[Column]) -> Column:
    out = conds[0]
    for cond in conds[1:]:
        out = out & cond
    return out


def _output_names(view: SparkViewInput) -> list[str]:
    names = list(view.output_names or view.features)
    if len(names) != len(view.features):
        raise ConfigError("output_names must parallel features", view=view.name)
    return names


def _check_entity_timestamp(entity: DataFrame, column: str) -> None:
    if column not in entity.columns:
        raise ConfigError(f"entity column {column!r} is missing", column=column)
    kind = entity.schema[column].dataType
    if not isinstance(kind, T.TimestampType):
        raise ConfigError(
            f"entity timestamp {column!r} is {kind.simpleString()}, not a "
            "TIMESTAMP (an instant)",
            column=column,
        )


def _check_output_names(entity: DataFrame, views: Sequence[SparkViewInput]) -> None:
    seen = set(entity.columns)
    for view in views:
        for name in _output_names(view):
            if name in seen or name.startswith("__"):
                raise ConfigError(
                    f"output column {name!r} appears twice or is reserved",
                    column=name,
                    view=view.name,
                )
            seen.add(name)


def _check_view(entity: DataFrame, view: SparkViewInput) -> None:
    for key in view.join_keys:
        if key not in entity.columns:
            raise ConfigError(
                f"entity column {key!r} is missing", column=key, view=view.name
            )
    needed = [view.feature_key(k) for k in view.join_keys]
    needed += [view.event_timestamp_column, *view.features]
    needed += list(view.tiebreak_columns or [])
    if view.created_timestamp_column:
        needed.append(view.created_timestamp_column)
    for column in needed:
        if column not in view.df.columns:
            raise ConfigError(
                f"feature column {column!r} is missing", column=column, view=view.name
            )
    for key in view.join_keys:
        left = entity.schema[key].dataType
        right = view.df.schema[view.feature_key(key)].dataType
        if not _comparable(left, right):
            raise ConfigError(
                f"join key {key!r} is {left.simpleString()} in the entity frame "
                f"but {right.simpleString()} in view {view.name!r}",
                column=key,
                view=view.name,
            )


def _comparable(left: T.DataType, right: T.DataType) -> bool:
    # Spark would silently cast mismatched families (string vs int) before
    # comparing; only exact types and integer widths are allowed, as in DuckDB.
    if left == right:
        return True
    integral = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
    return isinstance(left, integral) and isinstance(right, integral)
