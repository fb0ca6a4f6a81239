"""Training sets on Spark: Feast feature views resolved to pinned Delta reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from feast.data_format import DeltaFormat, ParquetFormat
from feast.infra.offline_stores.file_source import FileSource

from featurestore.services.offline._views import source_names
from featurestore.services.offline.errors import OfflineStoreError
from featurestore.services.offline.refs import resolve_views
from featurestore.services.project import Project
from featurestore.services.storage import open_delta
from featurestore.spark_jobs.errors import ConfigError, InputNotFoundError
from featurestore.spark_jobs.io import spark_uri
from featurestore.spark_jobs.pit.join import SparkViewInput, point_in_time_join

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.feature_view import FeatureView
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["TableRead", "TrainingSet", "build_training_set_spark"]

DEFAULT_TIMESTAMP_COLUMN = "event_timestamp"


@dataclass(frozen=True)
class TableRead:
    """One feature table read: where, and which Delta version (None: parquet)."""

    view: str
    path: str
    version: int | None


@dataclass(frozen=True)
class TrainingSet:
    """The joined rows (lazy) and the snapshot each view was read from."""

    df: DataFrame
    timestamp_column: str
    tables: list[TableRead]


def build_training_set_spark(
    spark: SparkSession,
    store: FeatureStore,
    entity: DataFrame,
    features: Sequence[str] | str,
    *,
    as_known_at: bool = False,
    full_feature_names: bool = False,
    timestamp_column: str | None = None,
) -> TrainingSet:
    """Join Feast features onto ``entity`` with the Spark point-in-time join.

    Each view's Delta table is read at its current version, resolved once
    with delta-rs and then pinned with ``versionAsOf``, so the reported
    version is exactly the one joined. Every feature of a view is read as a
    tiebreak column, as the DuckDB engine does.

    Args:
        spark: The session to read with.
        store: A Feast store whose registry defines the views.
        entity: Entity rows: join keys and a TIMESTAMP column.
        features: Feature refs (``view:feature``) or one feature service name.
        as_known_at: Only count feature rows created at or before each row.
        full_feature_names: Name outputs ``view__feature``.
        timestamp_column: Entity timestamp column; default ``event_timestamp``
            or the only TIMESTAMP column.

    Returns:
        The lazy joined DataFrame and the table versions read.

    Raises:
        ConfigError: A ref, view, source or column is invalid.
        InputNotFoundError: A view's table does not exist.
    """
    ts_column = timestamp_column or _entity_timestamp_column(entity)
    inputs, reads = [], []
    try:
        _, views = resolve_views(store, features)
    except OfflineStoreError as exc:  # an unknown service, view or feature
        raise ConfigError(str(exc), **exc.metadata) from exc
    for fv, wanted in views.values():
        view, read = _view_input(spark, store, fv, wanted, full_feature_names)
        inputs.append(view)
        reads.append(read)
    df = point_in_time_join(entity, ts_column, inputs, as_known_at=as_known_at)
    return TrainingSet(df=df, timestamp_column=ts_column, tables=reads)


def _view_input(
    spark: SparkSession,
    store: FeatureStore,
    fv: FeatureView,
    features: list[str],
    full_feature_names: bool,
) -> tuple[SparkViewInput, TableRead]:
    source = fv.batch_source
    if not isinstance(source, FileSource):
        raise ConfigError(f"view {fv.name!r} has no FileSource", view=fv.name)
    project = Project.load(Path(store.repo_path))
    path = project.resolve_source(source.path)
    df, version = _read(spark, fv.name, path, source.file_format, project)
    names = source_names(source)  # field -> its column in the table
    for field, column in names.items():
        df = df.withColumnRenamed(column, field)
    # The timestamp settings may name a field or (mapped) a table column.
    fields = {column: field for field, column in names.items()}
    keys = [c.name for c in fv.entity_columns]
    join_key_map = dict(fv.projection.join_key_map or {})  # feature -> entity col
    created = source.created_timestamp_column or None
    prefix = str(fv.projection.name_to_use())  # type: ignore[no-untyped-call]
    view = SparkViewInput(
        name=fv.name,
        df=df,
        join_keys=[join_key_map.get(k, k) for k in keys],
        entity_key_map={join_key_map.get(k, k): k for k in keys},
        event_timestamp_column=fields.get(
            source.timestamp_field, source.timestamp_field
        ),
        created_timestamp_column=fields.get(created, created) if created else None,
        ttl=fv.ttl,
        features=list(features),
        output_names=[f"{prefix}__{f}" if full_feature_names else f for f in features],
        tiebreak_columns=[f.name for f in fv.features],
    )
    return view, TableRead(view=fv.name, path=path, version=version)


def _read(
    spark: SparkSession, view: str, path: str, file_format: object, project: Project
) -> tuple[DataFrame, int | None]:
    if isinstance(file_format, DeltaFormat):
        try:
            version = open_delta(path, project.storage_options).version()
        except Exception as exc:  # delta-rs raises TableNotFoundError and OSError
            raise InputNotFoundError(path) from exc
        reader = spark.read.format("delta").option("versionAsOf", version)
        return reader.load(spark_uri(spark, path, project.storage_options)), version
    if file_format is None or isinstance(file_format, ParquetFormat):
        return spark.read.parquet(spark_uri(spark, path, project.storage_options)), None
    kind = type(file_format).__name__
    raise ConfigError(f"view {view!r}: unsupported file format {kind}", view=view)


def _entity_timestamp_column(entity: DataFrame) -> str:
    if DEFAULT_TIMESTAMP_COLUMN in entity.columns:
        return DEFAULT_TIMESTAMP_COLUMN
    from pyspark.sql.types import TimestampType

    stamps = [f.name for f in entity.schema if isinstance(f.dataType, TimestampType)]
    if len(stamps) == 1:
        return stamps[0]
    raise ConfigError(
        "cannot tell the entity timestamp column; pass --timestamp-column",
        candidates=",".join(stamps),
    )
