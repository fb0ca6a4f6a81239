"""``featurestore contracts``: list, show, diff, check, check-feast, validate FILE."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import yaml

from featurestore.services.cli._common import (
    FAILED,
    REPO_DEFAULT_HELP,
    default_repo,
    echo_json,
    json_option,
    stdout,
    usage_error,
)
from featurestore.services.contracts import _cli as contracts_cli
from featurestore.services.contracts.compat import check_version_bump, compare
from featurestore.services.contracts.errors import ContractError, SchemaMismatchError
from featurestore.services.contracts.registry import ContractRegistry

if TYPE_CHECKING:
    import pyarrow as pa

_F = TypeVar("_F", bound=Callable[..., Any])
_REPO_HELP = (
    "the project whose contracts_dir to use, and the Feast repo of check-feast "
    f"({REPO_DEFAULT_HELP})"
)


@dataclass
class _Where:
    """Where the contracts are; the registry is built only when a command runs,
    so ``--help`` works anywhere."""

    root: Path | None = None
    repo: Path | None = None

    def registry(self) -> ContractRegistry:
        # --root wins; else the project's (--repo, else found as feast finds
        # it), where $FS_CONTRACTS_DIR wins over contracts_dir as everywhere.
        if self.root is None and self.repo is not None:
            from featurestore.services.project import Project

            return ContractRegistry(Project.discover(self.repo).contracts_dir)
        return ContractRegistry(self.root)


_ROOT_HELP = (
    "contracts folder (default: $FS_CONTRACTS_DIR or the project's contracts_dir)"
)


def _remember(field: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback storing a subcommand's --root/--repo where the group's go."""

    def remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        where = ctx.find_object(_Where)
        if value is not None and where is not None:
            setattr(where, field, value)
        return value

    return remember


def _where_options(command: _F) -> _F:
    """``--root`` and ``--repo`` after the subcommand too, as other commands
    take ``--repo``."""
    for name, help_text in (("root", _ROOT_HELP), ("repo", _REPO_HELP)):
        command = click.option(
            f"--{name}",
            type=click.Path(path_type=Path, file_okay=False),
            default=None,
            expose_value=False,
            callback=_remember(name),
            help=help_text,
        )(command)
    return command


@click.group("contracts")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=_ROOT_HELP,
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=_REPO_HELP,
)
@click.pass_context
def contracts(ctx: click.Context, root: Path | None, repo: Path | None) -> None:
    """Inspect data contracts, check versions and views, validate files."""
    ctx.obj = _Where(root, repo)


def _where() -> _Where:
    where = click.get_current_context().find_object(_Where)
    return where if where is not None else _Where()


def _registry() -> ContractRegistry:
    return _where().registry()


def _guarded(run: Any) -> Any:
    """Return ``run()``; a ContractError (unknown name, bad file) is usage: exit 2."""
    try:
        return run()
    except ContractError as exc:
        raise usage_error(f"{exc.reason.value}: {exc}") from exc


def _exit(code: int) -> None:
    if code:
        raise click.exceptions.Exit(code)


@contracts.command("list")
@_where_options
@json_option
def list_command(as_json: bool) -> None:
    """The latest version of every contract; exit 1 when one cannot be read
    (the others are listed, then a warning per unreadable one)."""
    registry = _registry()
    if not as_json:
        _exit(_guarded(lambda: contracts_cli._list(registry, stdout())))
        return
    _guarded(registry.require_root)  # a typo in the root is no empty list
    found, unreadable = _guarded(registry.list_readable)
    echo_json(
        {
            "contracts": [
                {"name": c.name, "version": c.version, "owner": c.owner} for c in found
            ],
            "unreachable": [
                {"name": name, "reason": exc.reason.value, "message": str(exc)}
                for name, exc in unreadable.items()
            ],
        }
    )
    for line in contracts_cli.unreadable_lines(unreadable):
        click.echo(line, err=True)
    if not found and not unreadable:
        click.echo(registry.why_empty(), err=True)
    _exit(FAILED if unreadable else 0)


@contracts.command("show")
@_where_options
@click.argument("name")
@click.option("--version", default=None, help="default: the latest")
@json_option
def show_command(name: str, version: str | None, as_json: bool) -> None:
    """Print a contract's YAML (or, with --json, the same document as JSON).

    The JSON adds ``resolved``: the freshness SLA and the drift settings per
    feature column, defaults applied.
    """
    # Parsed first, with or without --json: a file that is no valid contract
    # is reported (exit 2) as every other command reports it, not shown as one.
    contract = _guarded(lambda: _registry().get(name, version))
    raw: str = _guarded(lambda: _registry().raw(name, version))
    if as_json:
        echo_json({**yaml.safe_load(raw), "resolved": _resolved(contract)})
    else:
        click.echo(raw, nl=not raw.endswith("\n"))


def _resolved(contract: Any) -> dict[str, Any]:
    baseline = contract.drift_block.baseline
    return {
        "freshness_sla": contract.freshness_sla.to_json_obj(),
        "drift": {
            "baseline": None if baseline is None else baseline.model_dump(),
            "columns": [s.to_json_obj() for s in contract.drift.values()],
        },
    }


@contracts.command("diff")
@_where_options
@click.argument("name")
@click.argument("old")
@click.argument("new")
@json_option
def diff_command(name: str, old: str, new: str, as_json: bool) -> None:
    """Classify the changes between two versions; exit 1 on a wrong version bump."""
    registry = _registry()
    if not as_json:
        _exit(_guarded(lambda: contracts_cli._diff(registry, name, old, new, stdout())))
        return
    before, after = _guarded(lambda: (registry.get(name, old), registry.get(name, new)))
    changes = compare(before, after)
    problems = check_version_bump(before, after, changes)
    echo_json(
        {
            "name": name,
            "old": old,
            "new": new,
            "changes": [
                {
                    "kind": c.kind.value,
                    "column": c.column,
                    "detail": c.detail,
                    "breaking": c.breaking,
                }
                for c in changes
            ],
            "problems": [
                {"problem": p.problem.value, "detail": p.detail} for p in problems
            ],
            "version_bump_ok": not problems,
        }
    )
    _exit(FAILED if problems else 0)


@contracts.command("check")
@_where_options
@json_option
def check_command(as_json: bool) -> None:
    """Parse every contract file, check each version against the one before."""
    registry = _registry()
    if not as_json:
        _exit(_guarded(lambda: contracts_cli._check_all(registry, stdout())))
        return
    buffer = io.StringIO()
    code = _guarded(lambda: contracts_cli._check_all(registry, buffer))
    lines = buffer.getvalue().splitlines()
    findings = [ln for ln in lines if ln.startswith(("INVALID ", "PROBLEM "))]
    echo_json({"root": str(registry.root), "ok": code == 0, "findings": findings})
    _exit(code)


@contracts.command("check-feast")
@_where_options
@json_option
def check_feast_command(as_json: bool) -> None:
    """Check the Feast feature views against their contracts; exit 1 on problems."""
    registry, repo = _registry(), _where().repo or default_repo()
    if not as_json:
        _exit(_guarded(lambda: contracts_cli._check_feast(registry, repo, stdout())))
        return
    from featurestore.services.contracts.feast_link import check_feature_views

    _guarded(registry.require_root)  # a typo in the root is no missing contract
    problems = _guarded(lambda: check_feature_views(repo, registry))
    echo_json({"repo": str(repo), "problems": [str(p) for p in problems]})
    _exit(FAILED if problems else 0)


@contracts.command("validate")
@_where_options
@click.argument("file")
@click.option("--contract", "name", required=True, help="contract name")
@click.option("--version", default=None, help="default: the latest")
@json_option
def validate_command(file: str, name: str, version: str | None, as_json: bool) -> None:
    """Judge every row of FILE (Parquet file or folder, Delta table, or CSV; a
    path or URI, s3://..., read with the project's storage_options); exit 1
    when any row fails or FILE has fewer rows than the contract's min_rows.

    Rows get the verdict the Spark jobs give (same contract, same checks).
    Columns the contract lacks are not judged; they are listed (EXTRA), since
    publish refuses a batch holding them: the job selects the contract's
    columns first.
    """
    from featurestore.services.cli._rows import project_storage, read_rows
    from featurestore.services.offline import OfflineStoreError

    contract = _guarded(lambda: _registry().get(name, version))
    storage = project_storage(_where().repo)
    try:
        table = read_rows(file, storage, named=file, contract=contract)
    except OfflineStoreError as exc:  # STORAGE_UNAVAILABLE
        raise usage_error(f"{exc.reason.value}: {exc}") from exc
    verdict = _verdict(contract, table)
    if as_json:
        echo_json(verdict)
    else:
        click.echo(
            f"{verdict['contract']}: {verdict['rows']} rows, "
            f"{verdict['passed']} passed, {verdict['failed']} failed"
        )
        for reason, count in verdict["by_reason"].items():
            click.echo(f"FAILED {reason}\t{count}")
        if verdict["schema_problems"]:
            click.echo(f"SCHEMA {json.dumps(verdict['schema_problems'])}")
        if verdict["too_few_rows"]:
            click.echo(f"TOO_FEW_ROWS {verdict['rows']} < min_rows {contract.min_rows}")
        if verdict["extra_columns"]:
            click.echo(
                f"EXTRA {','.join(verdict['extra_columns'])}\tnot judged; publish "
                "refuses columns the contract lacks (select the contract's columns)"
            )
    problems = verdict["failed"] or verdict["schema_problems"]
    _exit(FAILED if problems or not verdict["publishable"] else 0)


def _verdict(contract: Any, table: pa.Table) -> dict[str, Any]:
    from featurestore.services.contracts.verdict import (
        check_arrow_schema,
        summarize,
        table_reasons,
    )

    label = f"{contract.name}@{contract.version}"
    extra = [n for n in table.column_names if n not in contract.column_names]
    verdict: dict[str, Any] = {
        "contract": label,
        "rows": table.num_rows,
        "min_rows": contract.min_rows,
        "too_few_rows": contract.too_few_rows(table.num_rows),
        "extra_columns": extra,
    }
    try:
        check_arrow_schema(contract, table.schema, allow_extra=True)
    except SchemaMismatchError as exc:
        return {
            **verdict,
            "passed": 0,
            "failed": table.num_rows,
            "failure_ratio": 1.0 if table.num_rows else 0.0,
            "by_reason": {},
            "publishable": False,
            "schema_problems": {
                k: v for k, v in exc.metadata.items() if k != "contract"
            },
        }
    # A check that cannot run (CHECK_NOT_RUNNABLE) or a date pandas cannot
    # hold (SCHEMA_MISMATCH) is no row verdict: one error line, exit 2.
    summary = summarize(_guarded(lambda: table_reasons(contract, table)))
    return {
        **verdict,
        "passed": summary.passed,
        "failed": summary.failed,
        "failure_ratio": summary.failure_ratio,
        "by_reason": summary.counts,
        "publishable": summary.publishable(contract),
        "schema_problems": {},
    }


COMMANDS = [contracts]
