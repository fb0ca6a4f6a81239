"""``featurestore monitor``: freshness of the feature tables and online/offline skew."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from featurestore.services.cli._common import (
    FAILED,
    USAGE,
    echo_json,
    json_option,
    project_of,
    repo_option,
    shown_location,
    spinner,
    usage_error,
    verbatim,
)
from featurestore.services.cli._feast import feature_store
from featurestore.services.project.registry import feature_views

if TYPE_CHECKING:
    from feast import FeatureStore

    from featurestore.services.project import Project


@click.group("monitor")
def monitor() -> None:
    """Watch the feature tables over time: freshness against the contracts'
    SLAs, profiles and drift per published version, and served (online)
    values against the offline ones."""


def _load(repo: Path | None) -> tuple[FeatureStore, Project]:
    project = project_of(repo)
    return feature_store(project.repo), project


@contextmanager
def answered(
    location: str | None = None, project: Project | None = None
) -> Iterator[None]:
    """A monitoring error (a bad name, nothing profiled), an object store
    that did not answer (STORAGE_UNAVAILABLE) or a Delta log that cannot be
    read (TABLE_UNREADABLE): one line on stderr, exit 2, as ``lineage`` and
    ``training-set`` say it; never a traceback.

    Args:
        location: The table a delta-rs error inside the block comes from (the
            monitoring package names the tables it reads itself).
        project: The project whose tables are read: a missing feature table
            is then named with where it was looked for (the package names
            it alone, as its errors also reach the console's clients).
    """
    from deltalake.exceptions import DeltaError

    from featurestore.services.lineage.errors import TableUnreadableError
    from featurestore.services.monitoring import MonitoringError
    from featurestore.services.offline.errors import StorageUnavailableError
    from featurestore.services.storage import delta_error_detail

    try:
        yield
    except (MonitoringError, StorageUnavailableError, TableUnreadableError) as exc:
        where = _looked_at(exc, project)
        raise usage_error(f"{exc.reason.value}: {exc}{where}") from exc
    except DeltaError as exc:  # a corrupt commit file, a gap in the log
        if location is None:
            raise
        unreadable = TableUnreadableError(location, delta_error_detail(exc))
        raise usage_error(f"{unreadable.reason.value}: {unreadable}") from exc


def _looked_at(exc: Exception, project: Project | None) -> str:
    """`` at <table location>`` for a missing feature table named by name."""
    from featurestore.services.monitoring import TableNotFoundError

    table = getattr(exc, "metadata", {}).get("table", "")
    if project is None or not isinstance(exc, TableNotFoundError) or "/" in table:
        return ""
    return f" at {_table_place(project, project.table_uri(table))}"


def _table_place(project: Project, location: str) -> str:
    shown = shown_location(location, project.repo)
    inside = "under the project folder; " if shown != location else ""
    return (
        f"{shown} ({inside}data root: $FS_DATA_DIR, else data_dir in featurestore.yaml)"
    )


def _views(store: FeatureStore, names: tuple[str, ...]) -> list[Any]:
    """The feature views ``names`` names (all, by name, when none).

    Raises:
        click.exceptions.Exit: (exit 2) a name of no served view:
            ON_DEMAND_VIEW_NOT_SERVED for an on-demand view (as every API
            says), else FEATURE_VIEW_NOT_FOUND listing the known views.
    """
    from featurestore.services.offline.errors import OnDemandViewError
    from featurestore.services.offline.refs import unregistered_view_error

    views = {v.name: v for v in feature_views(store)}
    unknown = [n for n in names if n not in views]
    if unknown:
        error = unregistered_view_error(store, unknown[0])
        if isinstance(error, OnDemandViewError):
            raise usage_error(f"{error.reason.value}: {error}")
        raise usage_error(
            f"FEATURE_VIEW_NOT_FOUND: unknown feature view {unknown[0]!r} "
            f"(known: {', '.join(sorted(views)) or 'none'})"
        )
    return [views[n] for n in names] if names else [views[n] for n in sorted(views)]


@monitor.command("freshness", short_help="Newest event, last publish, SLA verdict.")
@click.argument("views", nargs=-1)
@repo_option()
@json_option
def freshness(views: tuple[str, ...], repo: Path | None, as_json: bool) -> None:
    """Per feature view (all, or VIEWS): the newest event time and the last
    publish of its Delta table (a VACUUM or OPTIMIZE commit is none), judged
    against its contract's freshness SLA (max age, publish frequency): ok, late
    or unknown.

    A table whose Delta log cannot be read is unknown (TABLE_UNREADABLE) in
    the list of every view; named in VIEWS, it is an error (exit 2).

    Exit 1 when any view is late.
    """
    from featurestore.services.contracts import ContractError, ContractRegistry
    from featurestore.services.monitoring.freshness import view_freshness

    store, project = _load(repo)
    contracts = ContractRegistry(project.contracts_dir)
    options = project.storage_options
    with spinner("reading the Delta logs"), answered():
        try:
            judged = [
                view_freshness(
                    v,
                    store.repo_path,
                    contracts,
                    storage_options=options,
                    broken_contract="raise",
                    unreadable="raise" if views else "unknown",
                )
                for v in _views(store, views)
            ]
        except ContractError as exc:  # not "no contract": the SLA would be lost
            raise usage_error(f"{exc.reason.value}: {exc}") from exc
    if views:  # named: a wrong data root must fail, not read "unknown"
        _refuse_missing_tables(judged, project)
    if as_json:
        echo_json([f.to_json_obj() for f in judged])
    else:
        _freshness_table(judged)
    if any(f.verdict == "late" for f in judged):
        raise click.exceptions.Exit(FAILED)


def _refuse_missing_tables(judged: list[Any], project: Project) -> None:
    """Exit 2 naming each view whose Delta table is not there (judged
    unknown without a commit time; a view without a table location has no
    path), asked of the store to be sure."""
    from featurestore.services.storage import is_delta_table

    missing = [
        f
        for f in judged
        if f.path
        and f.newest_commit_time is None
        and not is_delta_table(f.path, project.storage_options)
    ]
    if missing:
        raise usage_error(
            "TABLE_NOT_FOUND: "
            + "; ".join(
                f"feature view {f.view!r} has no Delta table at "
                f"{_table_place(project, f.path)}"
                for f in missing
            )
        )


def _freshness_table(judged: list[Any]) -> None:
    from rich.table import Table

    from featurestore.services.monitoring.freshness import span

    colour = {"ok": "green", "late": "red", "unknown": "yellow"}
    table = Table()
    for name in ("view", "verdict", "newest event", "age", "last publish", "version"):
        table.add_column(name, no_wrap=True)
    table.add_column("reason")
    for f in judged:
        add_row(
            table,
            f.view,
            verbatim(f.verdict, colour[f.verdict]),
            _when(f.newest_event_time),
            "-" if f.age is None else span(f.age),
            _when(f.newest_commit_time),
            "-" if f.version is None else str(f.version),
            f.reason,
        )
    print_table(table)


def add_row(table: Any, *cells: Any) -> None:
    """Add a row to a rich table, each ``str`` cell printed ``verbatim``."""
    table.add_row(*(verbatim(c) if isinstance(c, str) else c for c in cells))


def print_table(table: Any) -> None:
    """Print a rich table; piped output is not squeezed into 80 columns."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _instant(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@monitor.command("skew", short_help="Served values vs point-in-time offline values.")
@click.argument("view")
@click.option("--since", callback=_instant, help="logged at or after (ISO 8601, UTC)")
@click.option("--until", callback=_instant, help="logged before (ISO 8601, UTC)")
@repo_option()
@json_option
def skew(
    view: str,
    since: datetime | None,
    until: datetime | None,
    repo: Path | None,
    as_json: bool,
) -> None:
    """Join VIEW's serving log (`serve --serving-log`) with the offline values
    of the same entity at the same time (the training-set join) and report,
    per feature, the share of rows whose served value differs."""
    from featurestore.services.monitoring.serving_log import serving_log_uri
    from featurestore.services.monitoring.skew import (
        NoServingLogError,
        feature_skew,
        read_serving_log,
    )
    from featurestore.services.offline import OfflineStoreError
    from featurestore.services.offline.errors import StorageUnavailableError

    if since is not None and until is not None and since >= until:
        raise usage_error(
            f"--since {since.isoformat()} is not before --until {until.isoformat()}"
        )
    store, project = _load(repo)
    _views(store, (view,))
    with answered():
        try:
            with answered(serving_log_uri(project.data_dir, view)):  # its log
                log = read_serving_log(
                    project.data_dir, view, since=since, until=until,
                    storage_options=project.storage_options,
                )  # fmt: skip
            with spinner(f"joining {log.num_rows} logged rows"):
                report = feature_skew(store, view, log)
        except NoServingLogError as exc:
            raise usage_error(f"{exc.reason}: {exc}") from exc
        except StorageUnavailableError:  # usage (exit 2), as everywhere
            raise
        except OfflineStoreError as exc:
            click.echo(f"error: {exc.reason.value}: {exc}", err=True)
            # An unknown table or version is usage, as for drift and profiles.
            code = USAGE if isinstance(exc, LookupError) else FAILED
            raise click.exceptions.Exit(code) from exc
    if as_json:
        echo_json([s.to_json_obj() for s in report])
        return
    if not log.num_rows:  # an empty table would say nothing
        window = " ".join(
            f"{word} {moment.isoformat()}"
            for word, moment in (("since", since), ("until", until))
            if moment is not None
        )
        click.echo(f"{view}: no served rows logged{' ' + window if window else ''}")
        return
    from rich.table import Table

    table = Table()
    notes = any(s.note for s in report)
    columns = ("view", "feature", "rows", "mismatches", "mismatch share")
    for name in (*columns, "note") if notes else columns:
        table.add_column(name, no_wrap=True)
    for s in report:
        cells = [s.view, s.feature, str(s.rows)]
        if s.mismatches is None or s.share is None:  # not comparable
            cells += ["-", "-"]
        else:
            cells += [str(s.mismatches), f"{s.share:.2%}"]
        add_row(table, *cells, *([s.note or ""] if notes else []))
    print_table(table)


COMMANDS = [monitor]
