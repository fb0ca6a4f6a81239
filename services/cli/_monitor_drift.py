"""``featurestore monitor profiles|drift|backfill``: profiles per version and drift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from featurestore.services.cli._common import (
    FAILED,
    echo_json,
    json_option,
    project_of,
    repo_option,
    spinner,
    usage_error,
    verbatim,
)
from featurestore.services.cli._monitor import (
    add_row,
    answered,
    monitor,
    print_table,
)

if TYPE_CHECKING:
    from featurestore.services.monitoring import DriftScore, VersionProfile
    from featurestore.services.project import Project

_VERDICT_COLOUR = {"ok": "green", "warn": "yellow", "fail": "red"}


def _project(repo: Path | None) -> Project:
    """Profiles and drift read no Feast registry: a folder with featurestore.yaml
    is project enough; any other is found (or refused) as every command does."""
    from featurestore.services.project import PROJECT_CONFIG, Project

    if repo is not None and (repo / PROJECT_CONFIG).is_file():
        return Project.load(repo)
    return project_of(repo)


def _read(run: Any, project: Project, location: str | None = None) -> Any:
    """``run()``; a bad name, a table without profiles, a Delta log that cannot
    be read (delta-rs errors come from ``location``, when given) or an object
    store that did not answer is usage (exit 2); a missing table is named
    with where it was looked for in ``project``."""
    with answered(location, project):
        return run()


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


_F = TypeVar("_F", bound=Callable[..., Any])

_version_option: Callable[[_F], _F] = click.option(
    "--version",
    type=click.IntRange(min=0),
    default=None,
    help="Delta version of the table (default: the newest profiled one)",
)


@monitor.command("profiles", short_help="Profile of a published version.")
@click.argument("table")
@_version_option
@repo_option()
@json_option
def profiles(table: str, version: int | None, repo: Path | None, as_json: bool) -> None:
    """TABLE's profile per feature at one version: rows, null share,
    min/max/mean/std and counts on the reference buckets (equal-frequency
    edges from the baseline, or its top-k categories; nulls last)."""
    from featurestore.services.monitoring import read_profiles

    project = _project(repo)
    found: list[VersionProfile] = _read(
        lambda: read_profiles(project, table, version), project
    )
    shown = found[-1]
    if as_json:
        echo_json(shown.to_json_obj())
        return
    from rich.table import Table

    buckets = (
        "no buckets: profiled before there was a baseline to take them from"
        if shown.reference_version is None
        else f"buckets from version {shown.reference_version}"
    )
    title = (
        f"{table} version {shown.version} ({shown.source}, run {shown.run_id}; "
        f"{buckets})"
    )
    out = Table(title=verbatim(title))
    for name in ("feature", "kind", "rows", "nulls", "min", "max", "mean", "std"):
        out.add_column(name, no_wrap=True)
    out.add_column("buckets")
    for c in shown.columns:
        buckets = ", ".join(
            f"{label} {count}"
            for label, count in zip(c.bucket_labels, c.counts, strict=True)
        )
        add_row(
            out, c.feature, c.kind, str(c.row_count), f"{c.null_share:.2%}",
            _number(c.min), _number(c.max), _number(c.mean), _number(c.std),
            buckets or "-",
        )  # fmt: skip
    print_table(out)


@monitor.command("drift", short_help="Drift scores of a published version.")
@click.argument("table")
@_version_option
@repo_option()
@json_option
def drift(table: str, version: int | None, repo: Path | None, as_json: bool) -> None:
    """TABLE's drift per feature at one version, against the baseline and the
    previous version (PSI or Jensen-Shannon distance, as the contract says).

    Exit 1 when any score reaches its fail threshold.
    """
    from featurestore.services.monitoring import read_drift, read_profiles

    project = _project(repo)
    if version is None:
        found = _read(lambda: read_profiles(project, table), project)
        version = found[-1].version
    chosen = version
    scores: list[DriftScore] = _read(
        lambda: read_drift(project, table, chosen), project
    )
    if as_json:
        echo_json({"table": table, "version": version,
                   "scores": [s.to_json_obj() for s in scores]})  # fmt: skip
    elif scores:
        _drift_table(table, version, scores)
    else:
        (profile,) = _read(lambda: read_profiles(project, table, chosen), project)
        why = (
            "it has no rows, nothing to score"
            if profile.row_count == 0
            else "nothing to compare with yet (the first version with rows is "
            "the baseline)"
        )
        click.echo(f"{table} version {version}: {why}")
    if any(s.verdict == "fail" for s in scores):
        raise click.exceptions.Exit(FAILED)


def _drift_table(table: str, version: int, scores: list[DriftScore]) -> None:
    from rich.table import Table

    out = Table(title=verbatim(f"{table} version {version}"))
    for name in ("feature", "metric", "against", "version", "score", "warn", "fail"):
        out.add_column(name, no_wrap=True)
    out.add_column("verdict")
    for s in scores:
        add_row(
            out, s.feature, s.metric, s.against, str(s.reference_version),
            f"{s.score:.4f}", f"{s.warn:g}", f"{s.fail:g}",
            verbatim(s.verdict, _VERDICT_COLOUR[s.verdict]),
        )  # fmt: skip
    print_table(out)


@monitor.command("backfill", short_help="Profile versions that have no profile.")
@click.argument("table")
@click.option("--force", is_flag=True, help="profile every version again")
@repo_option()
@json_option
def backfill(table: str, force: bool, repo: Path | None, as_json: bool) -> None:
    """Profile each version of TABLE without a profile from its pinned
    snapshot (delta-rs and DuckDB; no Spark), scored as a publish scores."""
    from featurestore.services.contracts import ContractError, ContractRegistry
    from featurestore.services.monitoring.backfill import backfill as run
    from featurestore.services.monitoring.store import table_location

    project = _project(repo)
    try:
        contract = ContractRegistry(project.contracts_dir).get(table)
    except ContractError as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    # The profile table's errors are named by the package; the rest are the
    # feature table's (its versions, their snapshots).
    location = _read(lambda: table_location(project, contract.name), project)
    with spinner(f"profiling {table}"):
        report = _read(lambda: run(project, contract, force=force), project, location)
    if as_json:
        echo_json(report.to_json_obj())
        return
    done = ", ".join(str(v) for v in report.profiled) or "none"
    already = ", ".join(str(v) for v in report.already)
    click.echo(
        f"{table}: profiled versions {done}"
        + (
            f" (already profiled: {already}; --force profiles them again)"
            if already
            else ""
        )
    )
    if report.skipped:
        gone = ", ".join(str(v) for v in report.skipped)
        click.echo(f"{table}: versions {gone} are vacuumed; left unprofiled")


COMMANDS: list[click.Command] = []
"""The commands join the ``monitor`` group of ``_monitor`` (registered there)."""
