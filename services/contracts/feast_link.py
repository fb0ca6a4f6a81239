"""Check that a Feast repo's feature views agree with the contracts they name."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.services.contracts.errors import ContractError
from featurestore.services.contracts.registry import ContractRegistry

if TYPE_CHECKING:
    from feast import Entity, FeatureView
    from feast.repo_contents import RepoContents

    from featurestore.services.contracts.model import Contract

CONTRACT_TAG = "contract"
"""Feature view tag naming the contract of the view's table."""


class ProblemCode(StrEnum):
    """Stable codes of the disagreements `check_feature_views` reports."""

    REPO_LOAD_FAILED = "REPO_LOAD_FAILED"
    """The repo folder is missing or its definitions do not import."""
    MISSING_CONTRACT_TAG = "MISSING_CONTRACT_TAG"
    """The view has no `contract` tag."""
    UNKNOWN_CONTRACT = "UNKNOWN_CONTRACT"
    """The tag names no contract, or one that does not load."""
    UNKNOWN_COLUMN = "UNKNOWN_COLUMN"
    """A feature is not a column of the contract."""
    TYPE_MISMATCH = "TYPE_MISMATCH"
    """A feature or join key type differs from the contract column type."""
    ENTITY_KEY_MISMATCH = "ENTITY_KEY_MISMATCH"
    """The view's join keys differ from the contract's entity keys."""
    TIMESTAMP_FIELD_MISMATCH = "TIMESTAMP_FIELD_MISMATCH"
    """The source's timestamp_field differs from the contract's event_timestamp."""
    CREATED_TIMESTAMP_MISMATCH = "CREATED_TIMESTAMP_MISMATCH"
    """The source's created_timestamp_column differs from the contract's."""


@dataclass(frozen=True)
class Problem:
    """One disagreement between a feature view and its contract."""

    view: str
    """Feature view name (empty for repo-wide problems)."""
    code: ProblemCode
    """What kind of disagreement this is."""
    message: str
    """Human-readable detail."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The dynamic values in the message (column, expected, actual ...)."""

    def __str__(self) -> str:
        return f"{self.view or '<repo>'}: {self.code.value}: {self.message}"


def _feast_type_names() -> dict[object, str]:
    from feast import types

    return {
        types.Int64: "int64",
        types.Float64: "float64",
        types.String: "string",
        types.Bool: "bool",
        types.UnixTimestamp: "timestamp",
    }


def _value_type_names() -> dict[object, str]:
    from feast import ValueType

    return {
        ValueType.INT64: "int64",
        ValueType.DOUBLE: "float64",
        ValueType.STRING: "string",
        ValueType.BOOL: "bool",
        ValueType.UNIX_TIMESTAMP: "timestamp",
    }


@contextlib.contextmanager
def _repo_imports(repo: Path) -> Iterator[None]:
    """Let Feast import the repo's modules by bare name, then forget them.

    `parse_repo` imports files as modules named relative to the working
    directory, so the repo must be the cwd and on sys.path. Modules of those
    names are dropped before and after: another repo (or an earlier copy of
    this one) would otherwise be served from the import cache. Not thread-safe.
    """
    names = {
        p.relative_to(repo).with_suffix("").as_posix().replace("/", ".")
        for p in repo.glob("**/*.py")
    }
    cwd, path, no_pyc = os.getcwd(), list(sys.path), sys.dont_write_bytecode
    for name in names:
        sys.modules.pop(name, None)
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        sys.dont_write_bytecode = no_pyc
        for name in names:
            sys.modules.pop(name, None)


def load_repo(repo_path: Path) -> RepoContents:
    """Import a Feast repo's definitions without applying them.

    Raises:
        FileNotFoundError: `repo_path` has no `feature_store.yaml`.
        Exception: Whatever importing the definitions raises.
    """
    from feast.repo_operations import parse_repo

    repo = Path(repo_path).resolve()
    if not (repo / "feature_store.yaml").is_file():
        raise FileNotFoundError(f"no feature_store.yaml in {repo}")
    with _repo_imports(repo):
        return parse_repo(repo)


def _source_columns(view: FeatureView) -> dict[str, str]:
    """Field name -> the table column it reads (the source's field_mapping)."""
    from featurestore.services.offline._views import source_names

    return source_names(view.batch_source) if view.batch_source else {}


def _check_features(view: FeatureView, contract: Contract) -> list[Problem]:
    names = _feast_type_names()
    columns = _source_columns(view)
    problems = []
    for feature in view.features:
        column = columns.get(feature.name, feature.name)
        if column not in contract.column_names:
            meta = {"column": column, "contract": contract.name}
            what = f"feature {feature.name!r}"
            if column != feature.name:
                meta["field"] = feature.name
                what += f" (read from column {column!r} by the field_mapping)"
            problems.append(
                Problem(
                    view.name,
                    ProblemCode.UNKNOWN_COLUMN,
                    f"{what} is not a column of contract "
                    f"{contract.name}@{contract.version}",
                    meta,
                )
            )
            continue
        problems += _type_problem(
            view.name,
            column,
            names.get(feature.dtype, str(feature.dtype)),
            contract,
        )
    return problems


def _type_problem(
    view: str, column: str, actual: str, contract: Contract
) -> list[Problem]:
    expected = contract.column(column).type
    if actual == expected:
        return []
    return [
        Problem(
            view,
            ProblemCode.TYPE_MISMATCH,
            f"{column!r} is {actual} in Feast but {expected} in contract "
            f"{contract.name}@{contract.version}",
            {"column": column, "expected": expected, "actual": actual},
        )
    ]


def _join_key_types(view: FeatureView, entities: Sequence[Entity]) -> dict[str, str]:
    """Join key -> contract type name, from the schema field or else the entity."""
    by_name = {e.name: e for e in entities}
    value_types, feast_types = _value_type_names(), _feast_type_names()
    keys: dict[str, str] = {}
    for name in view.entities:
        entity = by_name.get(name)
        if entity is not None:
            keys[entity.join_key] = value_types.get(
                entity.value_type, str(entity.value_type)
            )
    for col in view.entity_columns:
        keys[col.name] = feast_types.get(col.dtype, str(col.dtype))
    return keys


def _check_entities(
    view: FeatureView, entities: Sequence[Entity], contract: Contract
) -> list[Problem]:
    columns = _source_columns(view)
    keys = {
        columns.get(key, key): kind
        for key, kind in _join_key_types(view, entities).items()
    }
    if sorted(keys) != sorted(contract.entity_keys):
        actual, expected = ",".join(sorted(keys)), ",".join(contract.entity_keys)
        return [
            Problem(
                view.name,
                ProblemCode.ENTITY_KEY_MISMATCH,
                f"join keys [{actual}] differ from contract entity keys [{expected}]",
                {"expected": expected, "actual": actual},
            )
        ]
    problems = []
    for key, actual in keys.items():
        problems += _type_problem(view.name, key, actual, contract)
    return problems


def _check_source(view: FeatureView, contract: Contract) -> list[Problem]:
    source, columns = view.batch_source, _source_columns(view)
    event = getattr(source, "timestamp_field", None) or ""
    created = getattr(source, "created_timestamp_column", None) or ""
    pairs = [
        (
            ProblemCode.TIMESTAMP_FIELD_MISMATCH,
            "timestamp_field",
            columns.get(event, event),
            contract.event_timestamp,
        ),
        (
            ProblemCode.CREATED_TIMESTAMP_MISMATCH,
            "created_timestamp_column",
            columns.get(created, created),
            contract.created_timestamp,
        ),
    ]
    return [
        Problem(
            view.name,
            code,
            f"source {attr} is {actual!r}, contract says {expected!r}",
            {"expected": expected, "actual": actual},
        )
        for code, attr, actual, expected in pairs
        if actual != expected
    ]


def _check_view(
    view: FeatureView, entities: Sequence[Entity], registry: ContractRegistry
) -> list[Problem]:
    name = view.tags.get(CONTRACT_TAG)
    if not name:
        return [
            Problem(
                view.name,
                ProblemCode.MISSING_CONTRACT_TAG,
                f"no {CONTRACT_TAG!r} tag naming the table's contract",
            )
        ]
    try:
        contract = registry.get(name)
    except ContractError as exc:
        return [
            Problem(
                view.name,
                ProblemCode.UNKNOWN_CONTRACT,
                f"contract {name!r}: {exc.reason.value}: {exc}",
                {"contract": name},
            )
        ]
    return [
        *_check_entities(view, entities, contract),
        *_check_features(view, contract),
        *_check_source(view, contract),
    ]


def check_feature_views(
    repo_path: Path, registry: ContractRegistry | None = None
) -> list[Problem]:
    """Check every feature view of a Feast repo against its contract.

    The repo's definitions are imported (Feast's `parse_repo`), never applied.
    Each view must carry a `contract` tag naming an existing contract (its
    latest version); its features must be contract columns of the same type;
    its join keys must be the contract's entity keys, same types; its batch
    source's `timestamp_field` and `created_timestamp_column` must be the
    contract's `event_timestamp` and `created_timestamp`. A field the
    source's `field_mapping` renames is checked by the column it reads.

    Types correspond as Int64/INT64 = int64, Float64/DOUBLE = float64,
    String = string, Bool = bool, UnixTimestamp = timestamp; any other
    Feast type is a mismatch.

    Args:
        repo_path: Folder holding `feature_store.yaml` and the definitions.
        registry: Contracts to check against (default: `ContractRegistry()`).

    Returns:
        The problems, grouped by view in name order; empty when all agree.
    """
    registry = registry or ContractRegistry()
    try:
        repo = load_repo(repo_path)
    except Exception as exc:  # any error in user definitions is a finding
        return [
            Problem(
                "",
                ProblemCode.REPO_LOAD_FAILED,
                f"cannot load Feast repo {repo_path}: {type(exc).__name__}: {exc}",
                {"repo": str(repo_path)},
            )
        ]
    problems: list[Problem] = []
    for view in sorted(repo.feature_views, key=lambda v: v.name):
        problems += _check_view(view, repo.entities, registry)
    return problems
