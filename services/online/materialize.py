"""Materialise Delta feature tables into the online store, faster than Feast's path."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from feast import FeatureStore, FeatureView

from featurestore.services.offline import DeltaOfflineStore
from featurestore.services.offline._views import (
    check_column_types,
    delta_path,
    source_names,
)
from featurestore.services.offline.errors import (
    OfflineStoreError,
    UnsupportedSourceError,
)
from featurestore.services.offline.join import latest_per_key
from featurestore.services.online._fit import check_values_fit
from featurestore.services.online.errors import (
    OnlineStoreError,
    OnlineStoreUnavailableError,
    UnsupportedOnlineStoreError,
    ViewsNotMaterializedError,
)
from featurestore.services.online.writer import write_latest
from featurestore.services.project import (
    FEAST_CONFIG,
    Project,
    ProjectConfigError,
    ProjectError,
    config_problem,
)
from featurestore.services.project.registry import feature_views

__all__ = ["UnknownViewError", "main", "materialize", "materialize_incremental"]


class UnknownViewError(KeyError):
    """A view named to materialise does not exist or is not online."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


# Feast's start for a never-materialised view with a zero TTL.
_NO_TTL_LOOKBACK = timedelta(weeks=52)


def materialize(
    repo_path: str | Path,
    start: datetime,
    end: datetime,
    views: Sequence[str] | None = None,
    *,
    fs_yaml_file: str | Path | None = None,
) -> dict[str, int]:
    """Write the latest row per entity in ``[start, end)`` of each online view.

    Reads through our Delta offline store (``pull_latest_from_table_or_query``,
    the same tie rule as ``feast materialize`` with ``pull_latest_features``),
    writes with ``write_latest`` (Feast's bytes), then records the interval in
    the registry as Feast does, so ``feast materialize-incremental`` continues
    from ``end``. Running it twice writes the same rows again (idempotent).

    Args:
        repo_path: The Feast repository.
        start: Inclusive lower bound on event time (naive means UTC).
        end: Exclusive upper bound on event time (naive means UTC).
        views: Feature view names; every online view when None.
        fs_yaml_file: A feature_store*.yaml other than the repo's default.

    Returns:
        Entities written per view name.

    Raises:
        UnknownViewError: A named view does not exist or is not online.
        ViewsNotMaterializedError: Some views could not be read (e.g. their
            Delta table was never published) or written; every other view
            was written first.
    """
    store = _store(repo_path, fs_yaml_file)
    start, end = _utc(start), _utc(end)
    return _run(store, [(view, start) for view in _views(store, views)], end)


def materialize_incremental(
    repo_path: str | Path,
    end: datetime,
    views: Sequence[str] | None = None,
    *,
    fs_yaml_file: str | Path | None = None,
) -> dict[str, int]:
    """Continue each view from where the last materialisation ended, up to ``end``.

    The start per view is Feast's ``materialize_incremental`` rule: the view's
    most recent materialised end; else now minus its TTL; else (no TTL) now
    minus 52 weeks. Runs after ``materialize`` or ``feast materialize`` alike.

    Args:
        repo_path: The Feast repository.
        end: Exclusive upper bound on event time (naive means UTC).
        views: Feature view names; every online view when None.
        fs_yaml_file: A feature_store*.yaml other than the repo's default.

    Returns:
        Entities written per view name.

    Raises:
        UnknownViewError: A named view does not exist or is not online.
        ViewsNotMaterializedError: Some views could not be read (e.g. their
            Delta table was never published) or written; every other view
            was written first.
    """
    store = _store(repo_path, fs_yaml_file)
    now = datetime.now(UTC)
    starts = []
    for view in _views(store, views):
        start = view.most_recent_end_time
        if start is None:
            ttl = view.ttl if view.ttl and view.ttl.total_seconds() > 0 else None
            start = now - (ttl or _NO_TTL_LOOKBACK)
        starts.append((view, _utc(start)))
    return _run(store, starts, _utc(end))


def _store(repo_path: str | Path, fs_yaml_file: str | Path | None) -> FeatureStore:
    config = Path(fs_yaml_file) if fs_yaml_file else Path(repo_path) / FEAST_CONFIG
    try:
        return FeatureStore(repo_path=str(repo_path), fs_yaml_file=config)
    except Exception as exc:  # Feast raises many types; its text quotes the file
        raise ProjectConfigError(str(config), config_problem(exc)) from None


def _run(
    store: FeatureStore, starts: list[tuple[FeatureView, datetime]], end: datetime
) -> dict[str, int]:
    written, failed = {}, {}
    for view, start in starts:
        try:
            table = _pull_latest(store, view, start, end)
            count = write_latest(store.config, view, table) if table.num_rows else 0
        except (OnlineStoreUnavailableError, UnsupportedOnlineStoreError):
            raise  # the store, not the view: no other view can be written
        except (OfflineStoreError, OnlineStoreError) as exc:
            # One view without a readable table (never published, a column
            # gone) must not keep the others out of the online store.
            failed[view.name] = str(exc)
            continue
        except Exception as exc:
            # Nor may a fault in writing one view: it is named, not a traceback.
            failed[view.name] = f"unexpected {type(exc).__name__}: {exc}"
            continue
        written[view.name] = count
        store.registry.apply_materialization(view, store.project, start, end)
    if failed:
        raise ViewsNotMaterializedError(written, failed)
    return written


def _views(store: FeatureStore, names: Sequence[str] | None) -> list[FeatureView]:
    online = {v.name: v for v in feature_views(store) if v.online}
    if names is None:
        return list(online.values())
    missing = [n for n in names if n not in online]
    if missing:
        known = ", ".join(sorted(online)) or "none"
        raise UnknownViewError(
            f"no online feature view named {', '.join(map(repr, missing))} "
            f"(online views: {known})"
        )
    return [online[n] for n in names]


def _pull_latest(
    store: FeatureStore, view: FeatureView, start: datetime, end: datetime
) -> pa.Table:
    """What ``pull_latest_from_table_or_query`` returns, ranking only if needed.

    That method is ``latest_per_key`` over ``pull_all``'s rows. With one row
    per key in the window (snapshot-style tables) there is nothing to rank,
    so the DuckDB ranking is skipped; tests compare the two. A source's
    ``field_mapping`` is applied as ``feast materialize`` applies it: the
    table is read by its own column names, then renamed to the view's.
    """
    source = view.batch_source
    if source is None:
        raise UnsupportedSourceError(view.name, "feature view has no batch source")
    columns = source_names(source)
    keys = [c.name for c in view.entity_columns]
    features = [f.name for f in view.features]
    event = columns.get(source.timestamp_field, source.timestamp_field)
    created = source.created_timestamp_column or None
    if created:
        created = columns.get(created, created)
    job = DeltaOfflineStore.pull_all_from_table_or_query(
        config=store.config,
        data_source=source,
        join_key_columns=[columns.get(k, k) for k in keys],
        feature_name_columns=[columns.get(f, f) for f in features],
        timestamp_field=event,
        created_timestamp_column=created,
        start_date=start,
        end_date=end,
    )
    read: pa.Table = job.to_arrow()
    # Keys of another type than the entity's would be written under keys no
    # client sends (a string "1" for an INT64 customer_id); a float feature
    # declared Int64 would lose its fraction; so would an int64 beyond INT32
    # its high bits, and a timestamp key its fraction of a second.
    path = delta_path(source, store.config.repo_path)
    check_column_types(view, read, path, columns)
    check_values_fit(view, read, path, columns)
    fields = {column: field for field, column in columns.items()}
    rows = read.rename_columns([fields.get(c, c) for c in read.column_names])
    if _one_row_per_key(rows, keys):
        return rows
    event = fields.get(event, event)
    created = fields.get(created, created) if created else None
    latest: pa.Table = latest_per_key(rows, keys, event, created, features)
    return latest


def _one_row_per_key(table: pa.Table, keys: list[str]) -> bool:
    rows: int = table.num_rows
    if not keys:  # an entity-less view: all rows are one group
        return rows <= 1
    # Arrow groups nulls as a key value, as latest_per_key does.
    distinct: int = table.select(keys).group_by(keys).aggregate([]).num_rows
    return distinct == rows


def _utc(moment: datetime) -> datetime:
    return (
        moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: materialize [START] END [--views a,b] [--repo P].

    With START and END, as ``feast materialize``; with END alone, as
    ``feast materialize-incremental``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m featurestore.services.online.materialize"
    )
    parser.add_argument(
        "dates", nargs="+", type=datetime.fromisoformat, metavar="[START] END"
    )
    parser.add_argument(
        "--repo", type=Path, default=None,
        help="the Feast repo (default: found as featurestore finds it: "
        "$FS_REPO_PATH, the working directory, else ./feature_repo)",
    )  # fmt: skip
    parser.add_argument("--feature-store-yaml", type=Path)
    parser.add_argument("--views", help="comma-separated feature view names")
    args = parser.parse_args(argv)
    if len(args.dates) > 2:
        parser.error("give END, or START and END")
    views = args.views.split(",") if args.views else None
    yaml = args.feature_store_yaml
    try:
        if args.repo is None:
            args.repo = Project.discover(None).repo
        if len(args.dates) == 1:
            counts = materialize_incremental(
                args.repo, args.dates[0], views, fs_yaml_file=yaml
            )
        else:
            start, end = args.dates
            counts = materialize(args.repo, start, end, views, fs_yaml_file=yaml)
    except (UnknownViewError, ProjectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ViewsNotMaterializedError as exc:
        _print_counts(exc.written)
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    _print_counts(counts)
    return 0


def _print_counts(counts: dict[str, int]) -> None:
    for name, count in counts.items():
        print(f"{name}: {count} entities")


if __name__ == "__main__":
    sys.exit(main())
