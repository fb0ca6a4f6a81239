"""Materialise Delta feature tables into the online store, faster than Feast's path."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from feast import FeatureStore, FeatureView

from featurestore.services.offline import DeltaOfflineStore
from featurestore.services.offline._views import (
    check_column_types,
    delta_path,
    project_of,
    source_names,
)
from featurestore.services.offline.errors import (
    OfflineStoreError,
    UnsupportedSourceError,
)
from featurestore.services.offline.join import latest_per_key
from featurestore.services.offline.snapshot import open_table
from featurestore.services.online._fit import check_values_fit
from featurestore.services.online._late import (
    Touched,
    before,
    touched_entities,
    version_after_window,
    window_and_touched,
)
from featurestore.services.online._versions import (
    ReadVersion,
    read_versions,
    record_version,
)
from featurestore.services.online.errors import (
    IntervalNotRecordedError,
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

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = [
    "Materialized",
    "UnknownViewError",
    "main",
    "materialize",
    "materialize_incremental",
]


class Materialized(dict[str, int]):
    """Entities written per view name, and what else each view's run did.

    Attributes:
        late: Per view, entities written for late rows: rows published after
            the view's last run with an event time before the window (or,
            re-derived, every entity whose latest row is before the window).
        rederived: Per view whose every entity's latest row before the end
            was written again, why (no version recorded, the table created
            again, the versions since unreadable).
    """

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        """Entities per view (none yet), without late or re-derived ones."""
        super().__init__(counts or {})
        self.late: dict[str, int] = {}
        self.rederived: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class _Outcome:
    entities: int
    late: int
    rederived: str | None
    record: ReadVersion | None


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
) -> Materialized:
    """Write the latest row per entity in ``[start, end)`` of each online view.

    Reads through our Delta offline store (``pull_latest_from_table_or_query``,
    the same tie rule as ``feast materialize`` with ``pull_latest_features``),
    writes with ``write_latest`` (Feast's bytes), then records the interval in
    the registry as Feast does, so ``feast materialize-incremental`` continues
    from ``end``. Running it twice writes the same rows again (idempotent).
    Reads one pinned Delta version per view; which version it then records
    for ``materialize_incremental`` is ``version_after_window``'s rule.

    Args:
        repo_path: The Feast repository.
        start: Inclusive lower bound on event time (naive means UTC).
        end: Exclusive upper bound on event time (naive means UTC).
        views: Feature view names; every online view when None.
        fs_yaml_file: A feature_store*.yaml other than the repo's default.

    Returns:
        Entities written per view name, with the late ones per view.

    Raises:
        UnknownViewError: A named view does not exist or is not online.
        ViewsNotMaterializedError: Some views could not be read (e.g. their
            Delta table was never published) or written; every other view
            was written first.
        IntervalNotRecordedError: The registry cannot be written; the views
            before and the one named were written, the rest not.
        OnlineStoreUnavailableError: The store cannot be reached (or its
            SQLite file does not exist); nothing more was written.
        ProjectError: featurestore.yaml cannot be read.
    """
    store = _store(repo_path, fs_yaml_file)
    start, end = _utc(start), _utc(end)
    plans = [(view, start) for view in _views(store, views)]
    return _run(store, plans, end, incremental=False)


def materialize_incremental(
    repo_path: str | Path,
    end: datetime,
    views: Sequence[str] | None = None,
    *,
    fs_yaml_file: str | Path | None = None,
) -> Materialized:
    """Continue each view from where the last materialisation ended, up to ``end``.

    The start per view is Feast's ``materialize_incremental`` rule: the view's
    most recent materialised end; else now minus its TTL; else (no TTL) now
    minus 52 weeks. Runs after ``materialize`` or ``feast materialize`` alike.

    Unlike Feast's, it also catches late rows: each view's run pins the Delta
    table's current version and records it in the online store; the next
    run writes, for every entity with rows added since that version whose
    event time is before its window (a late upload, a corrected day
    re-published), the entity's latest row before ``end``. Where no version
    is recorded (a view materialised before versions were recorded, or by
    ``feast`` alone), where the table was created again, or where the rows
    added since can no longer be read (log cleaned up, files vacuumed), every
    entity's latest row before ``end`` is written again, once, and
    ``rederived`` says why.

    Args:
        repo_path: The Feast repository.
        end: Exclusive upper bound on event time (naive means UTC).
        views: Feature view names; every online view when None.
        fs_yaml_file: A feature_store*.yaml other than the repo's default.

    Returns:
        Entities written per view name, with the late ones per view.

    Raises:
        UnknownViewError: A named view does not exist or is not online.
        ViewsNotMaterializedError: Some views could not be read (e.g. their
            Delta table was never published) or written; every other view
            was written first.
        IntervalNotRecordedError: The registry cannot be written; the views
            before and the one named were written, the rest not.
        OnlineStoreUnavailableError: The store cannot be reached (or its
            SQLite file does not exist); nothing more was written.
        ProjectError: featurestore.yaml cannot be read.
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
    return _run(store, starts, _utc(end), incremental=True)


def _store(repo_path: str | Path, fs_yaml_file: str | Path | None) -> FeatureStore:
    config = Path(fs_yaml_file) if fs_yaml_file else Path(repo_path) / FEAST_CONFIG
    try:
        return FeatureStore(repo_path=str(repo_path), fs_yaml_file=config)
    except Exception as exc:  # Feast raises many types; its text quotes the file
        raise ProjectConfigError(str(config), config_problem(exc)) from None


def _run(
    store: FeatureStore,
    starts: list[tuple[FeatureView, datetime]],
    end: datetime,
    *,
    incremental: bool,
) -> Materialized:
    done, failed = Materialized(), {}
    project_of(store.config.repo_path)  # featurestore.yaml: once, not per view
    recorded = read_versions(store.config)
    for view, start in starts:
        try:
            outcome = _materialize_view(
                store, view, start, end, recorded.get(view.name), incremental
            )
        except (OnlineStoreUnavailableError, UnsupportedOnlineStoreError):
            raise  # the store, not the view: no other view can be written
        except ProjectError:
            raise  # the project's configuration: not this view's
        except (OfflineStoreError, OnlineStoreError) as exc:
            # One view without a readable table (never published, a column
            # gone) must not keep the others out of the online store.
            failed[view.name] = str(exc)
            continue
        except Exception as exc:
            # Nor may a fault in writing one view: it is named, not a traceback.
            failed[view.name] = f"unexpected {type(exc).__name__}: {exc}"
            continue
        done[view.name] = outcome.entities
        done.late[view.name] = outcome.late
        if outcome.rederived:
            done.rederived[view.name] = outcome.rederived
        _record_interval(store, view, start, end, done)
        # After the interval: a run stopped in between leaves the older
        # version recorded, so the next run checks more versions, never fewer.
        if outcome.record != recorded.get(view.name):
            record_version(store.config, view.name, outcome.record)
    if failed:
        raise ViewsNotMaterializedError(done, failed)
    return done


def _record_interval(
    store: FeatureStore,
    view: FeatureView,
    start: datetime,
    end: datetime,
    done: Materialized,
) -> None:
    """Record ``view``'s interval in the registry as Feast does.

    Raises:
        IntervalNotRecordedError: The registry file cannot be written (its
            mode, a read-only disk): no other view's could be either.
    """
    try:
        store.registry.apply_materialization(view, store.project, start, end)
    except OSError as exc:
        registry = exc.filename or str(store.config.registry.path)
        detail = exc.strerror or type(exc).__name__
        raise IntervalNotRecordedError(registry, detail, view.name, done) from exc


def _materialize_view(
    store: FeatureStore,
    view: FeatureView,
    start: datetime,
    end: datetime,
    recorded: ReadVersion | None,
    incremental: bool,
) -> _Outcome:
    """Pin the table's current version, write the view's rows read there.

    An incremental run after an earlier one also writes, for the entities
    with late rows (added since the recorded version, event time before
    ``start``), their latest row before ``end``; then it records the pinned
    version. See ``version_after_window`` for an explicit window's rule.
    """
    if incremental and end < start:
        # An END before where the view stopped: its window is empty, as
        # Feast has it, and the store holds rows up to ``start`` already, so
        # late rows are ranked up to there. Ranked up to END they would put
        # values older than those online (SQLite keeps no newer row).
        end = start
    table = _open_source(store, view)
    pinned = ReadVersion(str(table.metadata().id), table.version())
    prior_end = view.most_recent_end_time
    prior_end = None if prior_end is None else _utc(prior_end)
    touched: Touched = None
    rederived = None
    if incremental and prior_end is not None:
        touched, rederived = touched_entities(table, view, recorded, pinned, start)
    latest = _pull_latest(
        store, view, start, end, version=pinned.version, touched=touched
    )
    count = write_latest(store.config, view, latest) if latest.num_rows else 0
    late = 0
    if touched is not None and latest.num_rows:
        event = _event_field(view)
        late = int(pc.sum(pc.fill_null(before(latest[event], start), False)).as_py())
    if incremental:
        record: ReadVersion | None = pinned
    else:
        record = version_after_window(recorded, pinned, prior_end, start, end)
    return _Outcome(count, late, rederived, record)


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
    store: FeatureStore,
    view: FeatureView,
    start: datetime,
    end: datetime,
    *,
    version: int | None = None,
    touched: Touched = None,
) -> pa.Table:
    """What ``pull_latest_from_table_or_query`` returns, ranking only if needed.

    That method is ``latest_per_key`` over ``pull_all``'s rows. With one row
    per key in the window (snapshot-style tables) there is nothing to rank,
    so the DuckDB ranking is skipped; tests compare the two. A source's
    ``field_mapping`` is applied as ``feast materialize`` applies it: the
    table is read by its own column names, then renamed to the view's.
    ``version`` pins the Delta version read (None: the current one). With
    ``touched`` keys (source names), their rows before ``start`` are ranked
    too; with ``ALL``, every row before ``end``.
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
    source_keys = [columns.get(k, k) for k in keys]
    job = DeltaOfflineStore.pull_all_from_table_or_query(
        config=store.config,
        data_source=source,
        join_key_columns=source_keys,
        feature_name_columns=[columns.get(f, f) for f in features],
        timestamp_field=event,
        created_timestamp_column=created,
        start_date=start if touched is None else None,
        end_date=end,
        version=version,
    )
    read: pa.Table = job.to_arrow()
    if isinstance(touched, pa.Table):
        read = window_and_touched(read, touched, source_keys, event, start)
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


def _open_source(store: FeatureStore, view: FeatureView) -> DeltaTable:
    source = view.batch_source
    if source is None:
        raise UnsupportedSourceError(view.name, "feature view has no batch source")
    project = project_of(store.config.repo_path)
    return open_table(delta_path(source, project), project.storage_options)


def _event_field(view: FeatureView) -> str:
    assert view.batch_source is not None
    return str(view.batch_source.timestamp_field)


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
    except (IntervalNotRecordedError, OnlineStoreUnavailableError) as exc:
        _print_counts(getattr(exc, "written", {}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ViewsNotMaterializedError as exc:
        _print_counts(exc.written)
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    _print_counts(counts)
    return 0


def _print_counts(counts: dict[str, int]) -> None:
    done = counts if isinstance(counts, Materialized) else Materialized(counts)
    for line in count_lines(done):
        print(line)


def count_lines(counts: Materialized) -> list[str]:
    """One line per view: entities written, late ones, and why re-derived."""
    lines = []
    for name, count in counts.items():
        late = counts.late.get(name, 0)
        why = counts.rederived.get(name)
        line = f"{name}: {count} entities"
        if late:  # re-derived, they need not be late: only from before
            line += f" ({late} {'from before the window' if why else 'for late rows'})"
        lines.append(line)
        if why:
            lines.append(f"{name}: re-derived every entity: {why}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
