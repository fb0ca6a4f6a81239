"""Command line: list, show, diff, check-all and check-feast over a contracts folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from featurestore.services.contracts.compat import check_version_bump, compare
from featurestore.services.contracts.errors import ContractError, ContractNameError
from featurestore.services.contracts.model import Contract
from featurestore.services.contracts.registry import (
    CONTRACTS_DIR_ENV,
    ContractRegistry,
    load_contract,
)
from featurestore.services.project import Project, ProjectError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m featurestore.services.contracts",
        description="Inspect data contracts and check version compatibility.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"contracts folder (default: ${CONTRACTS_DIR_ENV} or the project's)",
    )
    parser.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="project folder holding feature_store.yaml (default: the working "
        "directory)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="latest version of every contract")
    show = sub.add_parser("show", help="print a contract's YAML")
    show.add_argument("name")
    show.add_argument("--version", default=None, help="default: latest")
    diff = sub.add_parser("diff", help="classify changes between two versions")
    diff.add_argument("name")
    diff.add_argument("old")
    diff.add_argument("new")
    sub.add_parser(
        "check-all", help="parse every file, check each version vs the one before"
    )
    feast = sub.add_parser(
        "check-feast", help="check Feast feature views against their contracts"
    )
    feast.add_argument(
        "--repo",
        dest="feast_repo",
        type=Path,
        default=None,
        help="Feast repo folder (default: the project's)",
    )
    return parser


def _check_feast(registry: ContractRegistry, repo: Path, out: TextIO) -> int:
    # Feast loads on demand only: importing it costs seconds.
    from featurestore.services.contracts.feast_link import check_feature_views

    registry.require_root()  # a typo in the root is no view lacking a contract
    problems = check_feature_views(repo, registry)
    for problem in problems:
        out.write(f"PROBLEM {problem}\n")
    if not problems:
        out.write(f"feature views in {repo} agree with their contracts\n")
    return 1 if problems else 0


def _list(registry: ContractRegistry, out: TextIO) -> int:
    # One malformed file hides only its own contract: the others are listed, a
    # warning per unreadable one follows on stderr (stdout stays one line per
    # contract), and the exit is 1 so a script or CI job notices the gap.
    registry.require_root()  # a typo in the root is no empty list
    found, unreadable = registry.list_readable()
    for contract in found:
        out.write(f"{contract.name}\t{contract.version}\t{contract.owner}\n")
    for line in unreadable_lines(unreadable):
        print(line, file=sys.stderr)
    if not found and not unreadable:
        print(registry.why_empty(), file=sys.stderr)
    return 1 if unreadable else 0


def unreadable_lines(unreadable: dict[str, ContractError]) -> list[str]:
    """One warning per contract `list` cannot read: its name, reason and why."""
    return [
        f"warning: {name} not listed: {exc.reason.value}: {exc}"
        for name, exc in unreadable.items()
    ]


def _diff(
    registry: ContractRegistry, name: str, old: str, new: str, out: TextIO
) -> int:
    before, after = registry.get(name, old), registry.get(name, new)
    changes = compare(before, after)
    for change in changes:
        out.write(f"{change}\n")
    problems = check_version_bump(before, after, changes)
    for problem in problems:
        out.write(f"PROBLEM {problem}\n")
    if not changes:
        out.write("no changes\n")
    return 1 if problems else 0


def _check_all(registry: ContractRegistry, out: TextIO) -> int:
    # A root that is not there fails: a typo must not pass as 0 contracts.
    root = registry.require_root()
    files = sorted(root.glob("*/*.yaml"))
    loaded: dict[Path, Contract] = {}
    invalid: set[str] = set()
    for path in files:
        try:
            loaded[path] = load_contract(path)
        except ContractError as exc:
            out.write(f"INVALID {exc.reason.value} {exc}\n")
            invalid.add(path.parent.name)
    # Every finding, not only the first kind: a file that does not parse hides
    # no other contract's wrong bump.
    findings = len(files) - len(loaded)
    for name in registry.names():
        findings += _check_bumps(registry, name, loaded, name in invalid, out)
    out.write(f"checked {len(files)} files, {findings} problems\n")
    return 1 if findings else 0


def _check_bumps(
    registry: ContractRegistry,
    name: str,
    loaded: dict[Path, Contract],
    reported: bool,
    out: TextIO,
) -> int:
    """Write a PROBLEM per wrong version bump of contract `name`; return how
    many findings were written."""
    try:
        versions = registry.versions(name)
    except ContractNameError as exc:
        if reported:  # its files disagree with the folder: INVALID already
            return 0
        out.write(f"INVALID {exc.reason.value} {name}: {exc}\n")
        return 1
    # Every version against the one before it, not only the latest: a wrong
    # bump stays wrong once a newer version is added. A pair with a file that
    # did not load is skipped: that file is an INVALID finding already.
    found = 0
    contracts = [loaded.get(registry.root / name / f"{v}.yaml") for v in versions]
    for previous, contract in pairwise(contracts):
        if previous is None or contract is None:
            continue
        for problem in check_version_bump(previous, contract):
            label = f"{name} {previous.version} -> {contract.version}"
            out.write(f"PROBLEM {label}: {problem}\n")
            found += 1
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return 0 when clean, 1 on findings, 2 on errors."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    try:
        repo = args.feast_repo if args.command == "check-feast" else args.repo
        registry = ContractRegistry(args.root or _project_contracts(repo))
        if args.command == "list":
            return _list(registry, out)
        if args.command == "show":
            out.write(registry.raw(args.name, args.version))
            return 0
        if args.command == "diff":
            return _diff(registry, args.name, args.old, args.new, out)
        if args.command == "check-feast":
            return _check_feast(registry, Project.discover(repo).repo, out)
        return _check_all(registry, out)
    except (ContractError, ProjectError) as exc:
        sys.stderr.write(f"error: {exc.reason.value}: {exc}\n")
        return 2


def _project_contracts(repo: Path | None) -> Path | None:
    # The project's ($FS_CONTRACTS_DIR wins there); without --repo, the
    # registry's default, which also works outside a project.
    return None if repo is None else Project.discover(repo).contracts_dir
