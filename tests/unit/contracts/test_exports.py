from __future__ import annotations

import featurestore.services.contracts as contracts


def test_public_api_is_pinned():
    assert sorted(contracts.__all__) == [
        "ARROW_TYPES",
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
        "REASONS_TYPE",
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
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None


def test_errors_mix_in_builtins():
    from featurestore.services.contracts import errors

    assert issubclass(errors.ContractFormatError, ValueError)
    assert issubclass(errors.ContractNotFoundError, LookupError)
    assert issubclass(errors.SchemaMismatchError, ValueError)
    for cls in (errors.ContractFormatError, errors.SchemaMismatchError):
        assert issubclass(cls, errors.ContractError)
