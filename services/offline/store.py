"""A Feast offline store reading Delta snapshots through the Delta log."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from feast.feature_view import DUMMY_ENTITY_ID, DUMMY_ENTITY_VAL
from feast.infra.offline_stores.offline_store import (
    OfflineStore,
    RetrievalJob,
    RetrievalMetadata,
)
from feast.utils import (
    _get_requested_feature_views_to_features_dict,
    _get_requested_on_demand_feature_views,
)

from featurestore.services.offline._views import (
    delta_path,
    project_of,
    read_source,
    read_view,
)
from featurestore.services.offline.errors import (
    EntityColumnMissingError,
    InvalidRequestError,
    UnsupportedSourceError,
)
from featurestore.services.offline.join import (
    INT64_MAX,
    INT64_MIN,
    NANOS_PER_UNIT,
    latest_per_key,
    point_in_time_join,
)
from featurestore.services.offline.snapshot import open_table

if TYPE_CHECKING:
    from feast.data_source import DataSource
    from feast.feature_view import FeatureView
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.on_demand_feature_view import OnDemandFeatureView
    from feast.repo_config import RepoConfig

__all__ = ["DeltaOfflineStore", "DeltaRetrievalJob", "entity_timestamp_column"]

DEFAULT_TIMESTAMP_COLUMN = "event_timestamp"
_ROW = "__fs_row"  # a row's number, carried through latest_per_key


class DeltaRetrievalJob(RetrievalJob):
    """A lazy retrieval: the Delta reads and the join run on ``to_arrow``."""

    def __init__(
        self,
        evaluate: Callable[[], pa.Table],
        *,
        full_feature_names: bool = False,
        on_demand_feature_views: list[OnDemandFeatureView] | None = None,
        metadata: RetrievalMetadata | None = None,
    ) -> None:
        """Wrap ``evaluate``, which builds the result table when called."""
        self._evaluate = evaluate
        self._full_feature_names = full_feature_names
        self._on_demand_feature_views = on_demand_feature_views or []
        self._metadata = metadata

    @property
    def full_feature_names(self) -> bool:
        """Whether feature columns are named ``view__feature``."""
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        """On-demand views Feast applies on top of the result."""
        return self._on_demand_feature_views

    @property
    def metadata(self) -> RetrievalMetadata | None:
        """Requested features, keys and the entity time range."""
        return self._metadata

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return self._evaluate()

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._evaluate().to_pandas()


class DeltaOfflineStore(OfflineStore):
    """Point-in-time joins and materialization reads over Delta FileSources.

    Sources are Feast ``FileSource(path=..., file_format=DeltaFormat())``;
    relative paths resolve against the repo path. See ``services.offline.join``
    for the exact join semantics and tie rule.
    """

    supports_filter_by_created_timestamp: bool = True

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str | None,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
        **kwargs: Any,
    ) -> RetrievalJob:
        """Join features onto ``entity_df`` as of each row's timestamp.

        ``filter_by_created_timestamp`` is the "as known at" mode.

        Raises:
            InvalidRequestError: ``entity_df`` is a SQL string or missing.
        """
        entity = _entity_table(entity_df)
        ts_column = entity_timestamp_column(entity)
        odfvs = _get_requested_on_demand_feature_views(feature_refs, project, registry)
        fv_features, _ = _get_requested_feature_views_to_features_dict(
            feature_refs, feature_views, odfvs
        )

        def evaluate() -> pa.Table:
            reads = [
                read_view(
                    fv,
                    features,
                    repo_path=config.repo_path,
                    full_feature_names=full_feature_names,
                )
                for fv, features in fv_features.items()
            ]
            return point_in_time_join(
                entity,
                ts_column,
                [r.view for r in reads],
                as_known_at=filter_by_created_timestamp,
            )

        return DeltaRetrievalJob(
            evaluate,
            full_feature_names=full_feature_names,
            on_demand_feature_views=odfvs,
            metadata=_metadata(entity, ts_column, feature_refs),
        )

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime,
        end_date: datetime,
    ) -> RetrievalJob:
        """Latest row per join-key tuple with start_date <= event time < end_date.

        Ties follow the join's rule (greatest created time, then greatest
        feature values), so materialization matches historical retrieval.
        Rows with a null join key are left out, as in
        ``pull_all_from_table_or_query``. Without join keys (an entity-less
        view) the one latest row is returned, with Feast's dummy key.
        """

        def evaluate() -> pa.Table:
            rows = _rows_in_range(
                config, data_source, join_key_columns, feature_name_columns,
                timestamp_field, created_timestamp_column, start_date, end_date,
            )  # fmt: skip
            latest = latest_per_key(
                rows, join_key_columns, timestamp_field, created_timestamp_column,
                feature_name_columns,
            )  # fmt: skip
            return latest if join_key_columns else with_dummy_key(latest)

        return DeltaRetrievalJob(evaluate)

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        *,
        version: int | None = None,
    ) -> RetrievalJob:
        """Every live row with start_date <= event time < end_date (bounds optional).

        Rows with a null event time or a null in any join key are left out:
        such a row names no entity, so no client can ask for it online (it
        was written under the key text "None"), and the join never matches
        it. Materialization reads through here, so every online store gets
        the same rows. Without join keys (an entity-less view) every row gets
        Feast's dummy key, and the row the join picks comes last: Feast writes
        them all under that one key, and the last one written stays.
        ``version`` (ours, not Feast's) reads that Delta version instead of
        the current one, so a caller can pin the snapshot it records.
        """

        def evaluate() -> pa.Table:
            rows = _rows_in_range(
                config, data_source, join_key_columns, feature_name_columns,
                timestamp_field, created_timestamp_column, start_date, end_date,
                version,
            )  # fmt: skip
            if join_key_columns:
                return rows
            rows = _latest_last(
                rows, timestamp_field, created_timestamp_column, feature_name_columns
            )
            return with_dummy_key(rows)

        return DeltaRetrievalJob(evaluate)

    def get_table_column_names_and_types_from_data_source(
        self, config: RepoConfig, data_source: DataSource
    ) -> Iterable[tuple[str, str]]:
        """The columns of the source's Delta table and their Arrow types.

        Feast asks before it infers a view's schema and before a push writes
        to the offline store; Feast's FileSource would open ``path`` itself,
        which fails for a table reference (``featurestore://<name>``).
        """
        project = project_of(config.repo_path)
        try:
            path = delta_path(data_source, project)
        except UnsupportedSourceError:  # not ours to read: as Feast reads it
            columns: Iterable[tuple[str, str]]
            columns = data_source.get_table_column_names_and_types(config)
            return columns
        table = open_table(path, project.storage_options)
        schema = pa.schema(table.schema().to_arrow())
        return [(field.name, str(field.type)) for field in schema]

    @staticmethod
    def offline_write_batch(
        config: RepoConfig,
        feature_view: FeatureView,
        table: pa.Table,
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Refuse: a feature table is written only through the contract gate.

        Feast calls this for ``FeatureStore.push`` to ``OFFLINE`` or
        ``ONLINE_AND_OFFLINE`` (after writing the online store) and for
        ``write_to_offline_store``. Rows appended here would skip the
        contract's verdict and the commit metadata every version carries.

        Raises:
            UnsupportedSourceError: Always, naming the source and what to do.
        """
        source = feature_view.batch_source
        raise UnsupportedSourceError(
            source.name if source else feature_view.name,
            "writing to a feature table from Feast (push to OFFLINE or "
            "ONLINE_AND_OFFLINE, write_to_offline_store); publish the rows "
            "with a job (featurestore run), which checks them against the "
            "table's contract, and push with to=PushMode.ONLINE for the "
            "online store only",
        )


def entity_timestamp_column(entity: pa.Table) -> str:
    """Return ``event_timestamp`` or else the entity table's only timestamp column.

    Raises:
        EntityColumnMissingError: Neither exists (or several candidates,
            named in the message).
    """
    if DEFAULT_TIMESTAMP_COLUMN in entity.column_names:
        return DEFAULT_TIMESTAMP_COLUMN
    candidates = [f.name for f in entity.schema if pa.types.is_timestamp(f.type)]
    if len(candidates) == 1:
        return str(candidates[0])
    raise EntityColumnMissingError(
        DEFAULT_TIMESTAMP_COLUMN, candidates=tuple(candidates)
    )


def _entity_table(entity_df: pd.DataFrame | str | None) -> pa.Table:
    if isinstance(entity_df, pd.DataFrame):
        return pa.Table.from_pandas(entity_df, preserve_index=False)
    kind = "a SQL string" if isinstance(entity_df, str) else type(entity_df).__name__
    raise InvalidRequestError(
        f"entity_df must be a pandas DataFrame, got {kind}; SQL entity queries "
        "and range retrieval without entity_df are not supported",
        entity_df=kind,
    )


def _metadata(entity: pa.Table, ts_column: str, refs: list[str]) -> RetrievalMetadata:
    times = entity.column(ts_column)
    bounds = pc.min_max(times).as_py() if entity.num_rows else {}
    return RetrievalMetadata(
        features=list(refs),
        keys=[c for c in entity.column_names if c != ts_column],
        min_event_timestamp=bounds.get("min"),
        max_event_timestamp=bounds.get("max"),
    )


def _rows_in_range(
    config: RepoConfig,
    source: DataSource,
    keys: list[str],
    features: list[str],
    event: str,
    created: str | None,
    start: datetime | None,
    end: datetime | None,
    version: int | None = None,
) -> pa.Table:
    columns = [*keys, *features, event, *([created] if created else [])]
    table = read_source(source, config.repo_path, columns, pin=version).table
    # The event times in the column's own unit (microseconds for Delta), so
    # a row in year 1 or 9999 is compared, not refused: in nanoseconds it
    # would fail the whole view. Each bound becomes the least value in that
    # unit at or after it: for an integer e, e * u >= b iff e >= ceil(b / u).
    times = table.column(event)
    step = NANOS_PER_UNIT[times.type.unit]
    values = pc.cast(times, pa.int64())
    mask = pc.is_valid(values)
    for key in keys:
        mask = pc.and_(mask, pc.is_valid(table.column(key)))
    if start is not None:
        mask = _at_least(mask, values, -(-_epoch_nanos(start) // step))
    if end is not None:
        mask = _below(mask, values, -(-_epoch_nanos(end) // step))
    return table.filter(mask)


def with_dummy_key(table: pa.Table) -> pa.Table:
    """An entity-less view's rows with the key Feast's offline stores add.

    Feast keys such a view's online rows by its dummy entity and reads the
    key's column from the pulled rows (``'' AS __dummy_id``).
    """
    dummy = pa.array([DUMMY_ENTITY_VAL] * table.num_rows, pa.string())
    return table.append_column(DUMMY_ENTITY_ID, dummy)


def _latest_last(
    table: pa.Table, event: str, created: str | None, features: list[str]
) -> pa.Table:
    """The rows with the one the join picks (of all) moved last."""
    if table.num_rows < 2:
        return table
    numbered = table.append_column(_ROW, pa.array(range(table.num_rows), pa.int64()))
    latest = latest_per_key(numbered, [], event, created, features)
    [last] = latest.column(_ROW).to_pylist()
    return table.take([*range(last), *range(last + 1, table.num_rows), last])


def _at_least(mask: Any, values: pa.ChunkedArray, bound: int) -> Any:
    if bound <= INT64_MIN:
        return mask
    if bound > INT64_MAX:
        return pc.and_(mask, pa.scalar(False))
    return pc.and_(mask, pc.greater_equal(values, bound))


def _below(mask: Any, values: pa.ChunkedArray, bound: int) -> Any:
    if bound > INT64_MAX:
        return mask
    if bound <= INT64_MIN:
        return pc.and_(mask, pa.scalar(False))
    return pc.and_(mask, pc.less(values, bound))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_nanos(moment: datetime) -> int:
    """Nanoseconds since the epoch, exact for any datetime (naive means UTC)."""
    if moment.tzinfo is None:  # Feast passes naive UTC bounds in some paths
        moment = moment.replace(tzinfo=UTC)
    if isinstance(moment, pd.Timestamp):
        return int(moment.value)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000
