"""Data contracts: load YAML, build Pandera schemas, verdict rows, diff versions."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from featurestore.services.contracts.drift import (
    DriftBaseline,
    DriftBlock,
    DriftSettings,
)
from featurestore.services.contracts.errors import (
    ContractError,
    ContractErrorReason,
    ContractFormatError,
    ContractNotFoundError,
    SchemaMismatchError,
)
from featurestore.services.contracts.model import (
    Check,
    Column,
    Contract,
    RowCheck,
    parse_contract,
)
from featurestore.services.contracts.registry import (
    ContractRegistry,
    default_root,
    load_contract,
)
from featurestore.services.contracts.sla import FreshnessSla

if TYPE_CHECKING:
    from featurestore.services.contracts.schema import build_pandas_schema
    from featurestore.services.contracts.verdict import (
        ARROW_TYPES,
        REASONS_TYPE,
        ValidationSummary,
        check_arrow_schema,
        duplicate_key_mask,
        row_reasons,
        summarize,
        table_reasons,
    )

# Pandera (which imports pandas and pyspark.errors) loads on first use only, so
# the CLI and plain contract reads start fast.
_LAZY = {
    "build_pandas_schema": "featurestore.services.contracts.schema",
    "ARROW_TYPES": "featurestore.services.contracts.verdict",
    "REASONS_TYPE": "featurestore.services.contracts.verdict",
    "ValidationSummary": "featurestore.services.contracts.verdict",
    "check_arrow_schema": "featurestore.services.contracts.verdict",
    "duplicate_key_mask": "featurestore.services.contracts.verdict",
    "row_reasons": "featurestore.services.contracts.verdict",
    "summarize": "featurestore.services.contracts.verdict",
    "table_reasons": "featurestore.services.contracts.verdict",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ARROW_TYPES",
    "REASONS_TYPE",
    "Check",
    "Column",
    "Contract",
    "ContractError",
    "ContractErrorReason",
    "ContractFormatError",
    "ContractNotFoundError",
    "ContractRegistry",
    "DriftBaseline",
    "DriftBlock",
    "DriftSettings",
    "FreshnessSla",
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
