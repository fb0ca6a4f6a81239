"""A publish's contract against the one stamped on the table's current rows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from featurestore.services.contracts import Contract, ContractError, ContractRegistry
from featurestore.services.contracts._semver import Version
from featurestore.services.contracts.compat import Change, check_version_bump, compare
from featurestore.services.project import ProjectError
from featurestore.spark_jobs.errors import ContractViolationError, Reason
from featurestore.spark_jobs.io import delta_rows
from featurestore.spark_jobs.table_checks import narrowed_checks, stored_check_failures

log = logging.getLogger(__name__)


def stamped_contract(stamp: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, version) of the contract a publish stamp names, None without one."""
    name, version = stamp.get("contract_name"), stamp.get("contract_version")
    if isinstance(name, str) and isinstance(version, str):
        return name, version
    return None


@dataclass(frozen=True)
class ContractChange:
    """A publish under another contract than the one that stamped the table's
    current rows (or of a table with no such stamp, or no table yet)."""

    contract: Contract
    """The contract publishing."""
    stamped: tuple[str, str] | None
    """(name, version) stamped on the table's current rows; None: unknown."""
    registry: ContractRegistry | None
    """The registry ``contract`` came from, when one holds it as it is."""

    @classmethod
    def of(
        cls,
        contract: Contract,
        stamped: tuple[str, str] | None,
        given: ContractRegistry | None,
    ) -> ContractChange:
        """The change to ``contract``; ``given`` is the caller's registry
        (None: the project's, ``ContractRegistry()``, if there is one)."""
        return cls(contract, stamped, _source_registry(contract, given))

    @property
    def label(self) -> str:
        """``name@version`` of the contract publishing."""
        return f"{self.contract.name}@{self.contract.version}"

    def refuse_wrong_bump(self) -> None:
        """Refuse a contract whose version bump from the one before it in its
        registry is wrong, as ``contracts check`` finds it.

        Raises:
            ContractViolationError: MAJOR_BUMP_REQUIRED or
                VERSION_NOT_INCREASED (``contracts check``'s reason).
        """
        if self.registry is None:
            return
        try:
            previous = self.registry.previous(self.contract)
        except ContractError as exc:  # `contracts check` reports it as INVALID
            log.warning("%s: version bump not checked: %s", self.label, exc)
            return
        problems = check_version_bump(previous, self.contract) if previous else []
        if not problems:
            return
        first = problems[0]
        raise ContractViolationError(
            Reason(first.problem.value),
            f"contract {self.label}: {'; '.join(map(str, problems))}, as "
            "`featurestore contracts check` reports; give it the version its "
            "change needs (a breaking change needs the next major version); "
            "nothing published",
            contract=self.label,
            previous=f"{self.contract.name}@{previous.version}" if previous else "",
            problem=first.problem.value,
        )

    def refuse_older(self, location: str) -> None:
        """Refuse to add rows under an older version of the table's contract.

        Raises:
            ContractViolationError: CONTRACT_VERSION_OLDER.
        """
        stamped = self._stamped_version()
        if stamped is None or not self.contract.semver < stamped:
            return
        table = f"{self.contract.name}@{stamped}"
        raise ContractViolationError(
            Reason.CONTRACT_VERSION_OLDER,
            f"{location}: its current rows were published under contract {table}, "
            f"newer than {self.label}: rows of both versions would mix in one "
            f"table. Publish under {table} or later, or publish {self.label} "
            "with mode overwrite to roll the table back to it; nothing published",
            contract=self.label,
            table_contract=table,
            table=location,
        )

    def stored_failures(
        self, location: str, table: pa.Schema
    ) -> Callable[[], Mapping[str, int]] | None:
        """What counts the table's rows failing the checks this change made
        stricter (every check when the earlier contract is unknown), in one
        read of their columns; None when no check is stricter.

        Args:
            location: The table.
            table: Its Arrow schema.
        """
        checks = narrowed_checks(self.contract, table.names, self._changes())
        if checks is None:
            return None
        columns = list(checks.column_names)
        return lambda: stored_check_failures(checks, delta_rows(location, columns))

    def _stamped_version(self) -> Version | None:
        if self.stamped is None or self.stamped[0] != self.contract.name:
            return None
        try:
            return Version.parse(self.stamped[1])
        except ValueError:
            return None

    def _changes(self) -> list[Change] | None:
        """``compare(earlier, contract)``; None when the earlier contract is not
        in the registry (judged by every check then)."""
        earlier = None
        if self.registry is not None and self._stamped_version() is not None:
            name, version = self.stamped or ("", "")
            try:
                earlier = self.registry.get(name, version)
            except ContractError:
                earlier = None
        if earlier is None:
            log.info(
                "%s: the table's earlier contract %s is not in the registry: "
                "its rows are judged by every check",
                self.label,
                "@".join(self.stamped or ("?", "?")),
            )
            return None
        return compare(earlier, self.contract)


def _source_registry(
    contract: Contract, given: ContractRegistry | None
) -> ContractRegistry | None:
    """``given`` or the project's registry, if it holds ``contract`` as it is
    at its version: a contract made elsewhere (parsed from text) is judged
    against no unrelated registry."""
    try:
        registry = given if given is not None else ContractRegistry()
        held = registry.get(contract.name, contract.version)
    except (ContractError, ProjectError):
        return None
    return registry if held == contract else None
