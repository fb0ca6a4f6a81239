"""The contract fields the publish modes read: `keys` and `partition_by`."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from featurestore.services.contracts import ContractFormatError, parse_contract
from featurestore.services.contracts.compat import ChangeKind, compare
from tests.unit.contracts._support import REPO_CONTRACTS, base_data


def _contract(**fields: Any) -> Any:
    data = base_data()
    data.update(fields)
    return parse_contract(yaml.safe_dump(data), "spend/1.0.0.yaml")


def test_keys_default_to_the_entity_keys_and_partition_by_to_none():
    contract = _contract()
    assert contract.keys == ("customer_id",)
    assert contract.primary_key == ("customer_id", "event_timestamp")
    assert contract.partition_by == ()
    # Not written back when defaulted: existing YAML round-trips unchanged.
    assert "keys" not in contract.to_yaml_obj()
    assert "partition_by" not in contract.to_yaml_obj()


def test_existing_contracts_keep_their_primary_key():
    for path in sorted(REPO_CONTRACTS.glob("*/*.yaml")):
        contract = parse_contract(path.read_text(), str(path))
        assert contract.keys == contract.entity_keys
        assert contract.primary_key == (*contract.entity_keys, contract.event_timestamp)


def test_declared_keys_and_partition_by_parse_and_round_trip():
    contract = _contract(keys=["customer_id", "code"], partition_by=["day", "status"])
    assert contract.primary_key == ("customer_id", "code", "event_timestamp")
    assert contract.partition_by == ("day", "status")
    again = parse_contract(contract.to_yaml(), "again.yaml")
    assert again == contract
    assert again.to_yaml_obj()["keys"] == ["customer_id", "code"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"keys": []}, "keys"),
        ({"keys": ["code"]}, "<root>"),  # misses the entity key
        ({"keys": ["customer_id", "customer_id"]}, "<root>"),
        ({"keys": ["customer_id", "event_timestamp"]}, "<root>"),
        ({"keys": ["customer_id", "label"]}, "<root>"),  # nullable
        ({"partition_by": ["nope"]}, "<root>"),
        ({"partition_by": ["amount"]}, "<root>"),  # float64
        ({"partition_by": ["event_timestamp"]}, "<root>"),
        ({"partition_by": ["day", "day"]}, "<root>"),
        ({"partition_by": "day"}, "partition_by"),
    ],
)
def test_bad_keys_or_partitioning_are_one_line_format_errors(fields, field):
    with pytest.raises(ContractFormatError) as info:
        _contract(**fields)
    assert info.value.metadata["field"] == field
    assert "\n" not in str(info.value)


def test_a_partition_column_name_leaves_room_for_its_values():
    data = base_data()
    for name, allowed in (("d" * 128, True), ("d" * 129, False)):
        for column in data["columns"]:
            if column["name"] in ("day", "d" * 128):
                column["name"] = name
        data["partition_by"] = [name]
        text = yaml.safe_dump(data)
        if allowed:
            assert parse_contract(text, "spend/1.0.0.yaml").partition_by == (name,)
        else:
            with pytest.raises(ContractFormatError, match="longer than 128"):
                parse_contract(text, "spend/1.0.0.yaml")


def test_changing_keys_or_partitioning_is_breaking():
    old = _contract()
    keys = compare(old, _contract(version="2.0.0", keys=["customer_id", "code"]))
    assert [(c.kind, c.breaking) for c in keys] == [(ChangeKind.KEY_CHANGED, True)]
    parts = compare(old, _contract(version="2.0.0", partition_by=["day"]))
    assert [(c.kind, c.column, c.breaking) for c in parts] == [
        (ChangeKind.PARTITIONING_CHANGED, "day", True)
    ]
    # Declaring the default changes nothing.
    assert compare(old, _contract(keys=["customer_id"])) == []
