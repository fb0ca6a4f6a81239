"""``featurestore lineage TABLE`` and ``featurestore materialize``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from featurestore.services.cli._common import (
    FAILED,
    default_repo,
    echo_json,
    json_option,
    repo_option,
    spinner,
    usage_error,
)

if TYPE_CHECKING:
    from featurestore.services.online import ViewsNotMaterializedError


@click.command("lineage")
@click.argument("table")
@click.option(
    "--data-dir",
    default=None,
    help="data root holding features/, a path or URI (default: the project's "
    "data_dir; $FS_DATA_DIR wins)",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="newest N")
@repo_option("the project whose data_dir and storage options are used")
@json_option
def lineage(
    table: str,
    data_dir: str | None,
    limit: int | None,
    repo: Path | None,
    as_json: bool,
) -> None:
    """Versions of a Delta TABLE, newest first: a feature table name (the
    project's <data_dir>/features/TABLE), a path with a / (./TABLE) or a URI.

    Each version names the job, run and contract that produced it and the
    contract verdict's counts. Tables on object storage are read with the
    project's storage_options.
    """
    from featurestore.services.lineage._cli import history_of
    from featurestore.services.lineage.errors import LineageError
    from featurestore.services.project import ProjectError

    try:
        records = history_of(table, data_dir, limit, repo)
    except (LineageError, ProjectError) as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    if as_json:
        echo_json([r.to_json_obj() for r in records])
        return
    from featurestore.services.lineage._cli import format_record

    for record in records:
        click.echo(format_record(record))


def _instants(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[datetime, ...]:
    """ISO 8601 instants; naive means UTC."""
    moments = []
    for value in values:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
        moments.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return tuple(moments)


@click.command("materialize")
@click.argument("dates", nargs=-1, callback=_instants, metavar="[START] END")
@click.option(
    "--incremental",
    is_flag=True,
    help="from each view's last materialised end (END defaults to now)",
)
@repo_option()
@click.option(
    "--feature-store-yaml",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="a feature_store*.yaml other than the repo's",
)
@click.option("--views", default=None, help="comma-separated feature view names")
@json_option
def materialize(
    dates: tuple[datetime, ...],
    incremental: bool,
    repo: Path | None,
    feature_store_yaml: Path | None,
    views: str | None,
    as_json: bool,
) -> None:
    """Write the latest row per entity of each online view into the online store.

    \b
    materialize START END           rows with START <= event time < END
    materialize --incremental [END] from where each view's last run ended
    materialize END                 same as --incremental END

    Writes Feast's bytes (feast serve reads them) and records the interval in
    the registry, as `feast materialize` does. --incremental also writes the
    entities with late rows (published since the view's last run with an
    event time before its window); "@late_entities" in --json counts them.
    A view whose Delta table cannot be read (never published, or without a
    column the view names) gets one error line and null in --json; the other
    views are still written, and the
    exit code is 1. An online store that cannot be reached (down, refused, a
    wrong password, no answer in 60 s; a SQLite file that does not exist) is
    one error line naming where it is, exit 1; so is a registry that cannot be
    written (the rows written, their interval not recorded).
    """
    from featurestore.services.cli._feast import feature_store
    from featurestore.services.online import (
        OnlineStoreError,
        OnlineStoreUnavailableError,
        ViewsNotMaterializedError,
    )
    from featurestore.services.online import materialize as online
    from featurestore.services.online.errors import IntervalNotRecordedError
    from featurestore.services.project import ProjectError

    if len(dates) > 2 or (incremental and len(dates) > 1) or not (dates or incremental):
        raise click.UsageError("give END, START END, or --incremental [END]")
    if len(dates) == 2 and dates[0] > dates[1]:
        raise click.UsageError(
            f"START {dates[0].isoformat()} is after END {dates[1].isoformat()}"
        )
    names = views.split(",") if views else None
    repo = repo or default_repo()
    feature_store(repo, feature_store_yaml)  # usage error before `feast apply`
    failed: ViewsNotMaterializedError | None = None
    counts: dict[str, int]
    with spinner(f"materializing {repo}"):
        try:
            if len(dates) == 2:
                counts = online.materialize(
                    repo, dates[0], dates[1], names, fs_yaml_file=feature_store_yaml
                )
            else:
                end = dates[0] if dates else datetime.now(UTC)
                counts = online.materialize_incremental(
                    repo, end, names, fs_yaml_file=feature_store_yaml
                )
        except online.UnknownViewError as exc:  # a --views name; no other error
            raise usage_error(str(exc)) from exc
        except ProjectError as exc:  # featurestore.yaml: as every command says it
            raise usage_error(f"{exc.reason.value}: {exc}") from None
        except ViewsNotMaterializedError as exc:
            counts, failed = exc.written, exc
        except IntervalNotRecordedError as exc:  # a read-only registry
            _print_counts(exc.written, None, as_json)
            click.echo(f"error: {exc}", err=True)
            raise click.exceptions.Exit(FAILED) from None
        except OnlineStoreUnavailableError as exc:  # down, refused, timed out
            click.echo(f"error: {exc}", err=True)  # names host:port, no password
            raise click.exceptions.Exit(FAILED) from None
        except OnlineStoreError as exc:  # a store this package cannot write
            raise usage_error(str(exc)) from None
    _print_counts(counts, failed, as_json)
    if failed is not None:
        raise click.exceptions.Exit(FAILED)


def _print_counts(
    counts: dict[str, int], failed: ViewsNotMaterializedError | None, as_json: bool
) -> None:
    from featurestore.services.online.materialize import Materialized, count_lines

    done = counts if isinstance(counts, Materialized) else Materialized(counts)
    missing: dict[str, None] = {}
    if failed is not None:
        for line in failed.lines():
            click.echo(f"error: {line}", err=True)
        missing = dict.fromkeys(failed.failed)
    if as_json:
        # Additive: the view counts stay top-level as before; the other keys
        # start with "@", which Feast refuses in a view name: no view's count
        # can be overwritten by them.
        late = {"@late_entities": done.late, "@rederived": done.rederived}
        echo_json({**done, **missing, **late})
        return
    for line in count_lines(done):
        click.echo(line)


COMMANDS = [lineage, materialize]
