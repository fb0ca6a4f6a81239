"""Errors raised by the contracts package, each with a stable reason and metadata."""

from __future__ import annotations

from enum import StrEnum


class ContractErrorReason(StrEnum):
    """Stable, machine-readable reasons carried by every `ContractError`."""

    INVALID_YAML = "INVALID_YAML"
    """The file is not readable YAML or not a mapping."""
    INVALID_FIELD = "INVALID_FIELD"
    """A field is missing, unknown, of the wrong type or has a bad value."""
    PATH_MISMATCH = "PATH_MISMATCH"
    """The file's name or folder disagrees with its `version` or `name`."""
    CONTRACT_NOT_FOUND = "CONTRACT_NOT_FOUND"
    """No contract of that name exists."""
    CONTRACT_VERSION_NOT_FOUND = "CONTRACT_VERSION_NOT_FOUND"
    """The contract exists but not in that version."""
    SCHEMA_MISMATCH = "SCHEMA_MISMATCH"
    """An Arrow schema lacks contract columns, has extra ones or wrong types."""
    CHECK_NOT_RUNNABLE = "CHECK_NOT_RUNNABLE"
    """A contract's check could not run on its column (a custom check that
    takes no series, say): the contract needs fixing, not the batch."""
    INVALID_NAME = "INVALID_NAME"
    """A contract name or version asked for is not a safe file name."""
    CONTRACTS_UNREADABLE = "CONTRACTS_UNREADABLE"
    """The contracts folder, or one contract's folder, cannot be listed (its
    permissions): never taken for no contract."""


class ContractError(Exception):
    """Base class of every error raised by `featurestore.services.contracts`.

    Attributes:
        reason: Stable reason code; callers branch on it, never on the message.
        metadata: The dynamic values that appear in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: ContractErrorReason,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class ContractFormatError(ContractError, ValueError):
    """A contract file is malformed: bad YAML, unknown field, bad value."""


class ContractNotFoundError(ContractError, LookupError):
    """A contract name or version does not exist in the registry."""


class SchemaMismatchError(ContractError, ValueError):
    """A batch's Arrow schema does not match the contract's columns."""


class ContractNameError(ContractError, ValueError):
    """A requested contract name or version is not ``[A-Za-z0-9_.-]{1,128}``."""
