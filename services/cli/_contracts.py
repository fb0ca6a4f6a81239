"""``featurestore contracts``: list, show, diff, check, check-feast, validate FILE."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from featurestore.services.cli._common import (
    FAILED,
    default_repo,
    echo_json,
    json_option,
    repo_option,
    stdout,
    usage_error,
)
from featurestore.services.contracts import _cli as contracts_cli
from featurestore.services.contracts.compat import check_version_bump, compare
from featurestore.services.contracts.errors import ContractError, SchemaMismatchError
from featurestore.services.contracts.registry import ContractRegistry

if TYPE_CHECKING:
    import pyarrow as pa


@click.group(
    "contracts", short_help="Inspect, diff and check contracts; validate files."
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="contracts folder (default: $FS_CONTRACTS_DIR or the project's contracts_dir)",
)
@click.pass_context
def contracts(ctx: click.Context, root: Path | None) -> None:
    """Inspect data contracts, check versions and views, validate files."""
    ctx.obj = ContractRegistry(root)


def _registry() -> ContractRegistry:
    registry = click.get_current_context().find_object(ContractRegistry)
    return registry if registry is not None else ContractRegistry()


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
@json_option
def list_command(as_json: bool) -> None:
    """The latest version of every contract."""
    registry = _registry()
    if as_json:
        echo_json(
            [
                {"name": c.name, "version": c.version, "owner": c.owner}
                for c in _guarded(registry.list)
            ]
        )
        return
    _exit(_guarded(lambda: contracts_cli._list(registry, stdout())))


@contracts.command("show")
@click.argument("name")
@click.option("--version", default=None, help="default: the latest")
@json_option
def show_command(name: str, version: str | None, as_json: bool) -> None:
    """Print a contract's YAML (or, with --json, the same document as JSON).

    The JSON adds ``resolved``: the freshness SLA and the drift settings per
    feature column, defaults applied.
    """
    raw: str = _guarded(lambda: _registry().raw(name, version))
    if as_json:
        contract = _guarded(lambda: _registry().get(name, version))
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
@json_option
def check_command(as_json: bool) -> None:
    """Parse every contract file, check each latest version against the previous."""
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
@repo_option()
@json_option
def check_feast_command(repo: Path | None, as_json: bool) -> None:
    """Check the Feast feature views against their contracts; exit 1 on problems."""
    registry, repo = _registry(), repo or default_repo()
    if not as_json:
        _exit(_guarded(lambda: contracts_cli._check_feast(registry, repo, stdout())))
        return
    from featurestore.services.contracts.feast_link import check_feature_views

    problems = _guarded(lambda: check_feature_views(repo, registry))
    echo_json({"repo": str(repo), "problems": [str(p) for p in problems]})
    _exit(FAILED if problems else 0)


@contracts.command("validate")
@click.argument("file", type=click.Path(path_type=Path, exists=True))
@click.option("--contract", "name", required=True, help="contract name")
@click.option("--version", default=None, help="default: the latest")
@json_option
def validate_command(file: Path, name: str, version: str | None, as_json: bool) -> None:
    """Judge every row of a Parquet or CSV FILE; exit 1 when any row fails.

    Rows get the verdict the Spark jobs give (same contract, same checks);
    columns the contract lacks are ignored.
    """
    contract = _guarded(lambda: _registry().get(name, version))
    table = _read_rows(file)
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
    _exit(FAILED if verdict["failed"] or verdict["schema_problems"] else 0)


def _read_rows(file: Path) -> pa.Table:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    try:
        if file.suffix.lower() == ".csv":
            return pa_csv.read_csv(file)
        return pq.read_table(file)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise usage_error(f"cannot read {file} as Parquet or CSV: {exc}") from exc


def _verdict(contract: Any, table: pa.Table) -> dict[str, Any]:
    from featurestore.services.contracts.verdict import (
        check_arrow_schema,
        summarize,
        table_reasons,
    )

    label = f"{contract.name}@{contract.version}"
    verdict: dict[str, Any] = {"contract": label, "rows": table.num_rows}
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
    summary = summarize(table_reasons(contract, table))
    return {
        **verdict,
        "passed": summary.passed,
        "failed": summary.failed,
        "failure_ratio": summary.failure_ratio,
        "by_reason": summary.counts,
        "publishable": summary.within(contract.max_failure_ratio),
        "schema_problems": {},
    }


COMMANDS = [contracts]
