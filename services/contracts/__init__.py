"""Data contracts: load YAML contracts, build Pandera schemas, verdict rows, diff versions."""

from __future__ import annotations

from services.contracts.errors import (
    ContractError,
    ContractErrorReason,
    ContractFormatError,
    ContractNotFoundError,
    SchemaMismatchError,
)
from services.contracts.model import Check, Column, Contract, RowCheck, parse_contract
from services.contracts.registry import ContractRegistry, default_root, load_contract
from services.contracts.schema import build_pandas_schema
from services.contracts.verdict import (
    REASONS_TYPE,
    ValidationSummary,
    check_arrow_schema,
    duplicate_key_mask,
    row_reasons,
    summarize,
    table_reasons,
)

__all__ = [
    "REASONS_TYPE",
    "Check",
    "Column",
    "Contract",
    "ContractError",
    "ContractErrorReason",
    "ContractFormatError",
    "ContractNotFoundError",
    "ContractRegistry",
    "RowCheck",
    "SchemaMismatchError",
    "ValidationSummary",
    "build_pandas_schema",
    "check_arrow_schema",
    "default_root",
    "duplicate_key_mask",
    "load_contract",
    "parse_contract",
    "row_reasons",
    "summarize",
    "table_reasons",
]
