"""ODCS slaProperties and the drift block: parsing, defaults, compatibility."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

from featurestore.services.contracts import (
    ContractErrorReason,
    ContractFormatError,
    parse_contract,
)
from featurestore.services.contracts.compat import (
    ChangeKind,
    check_version_bump,
    compare,
)
from featurestore.services.contracts.drift import DriftBaseline
from featurestore.services.contracts.sla import FreshnessSla
from tests.unit.contracts._support import REPO_CONTRACTS, base_data, write_contract

ODCS_SLA = [
    {"property": "latency", "value": 7, "unit": "d",
     "element": "spend.event_timestamp"},
    {"property": "frequency", "value": 1, "unit": "d"},
]  # fmt: skip

DRIFT = {
    "property": "drift",
    "value": {
        "metric": "psi",
        "warn": 0.15,
        "baseline": {"version": 3},
        "on_drift": "block",
        "columns": {
            "amount": {"metric": "js", "fail": 0.3},
            "count_7d": {"enabled": False},
        },
    },
}


def _parse(edit=None, version="1.0.0"):
    data = base_data()
    data["version"] = version
    if edit is not None:
        edit(data)
    return parse_contract(yaml.safe_dump(data), "spend/x.yaml")


def _odcs(data):
    del data["freshness"]
    data["slaProperties"] = ODCS_SLA


def _with_drift(block):
    def edit(data):
        data["customProperties"] = [{"property": "owner_slack", "value": "#x"}, block]

    return edit


def test_legacy_freshness_maps_onto_the_sla(base):
    assert base.freshness_sla == FreshnessSla(timedelta(days=7), "event_timestamp")
    assert base.freshness_delta == timedelta(days=7)


def test_odcs_sla_properties_resolve_and_round_trip():
    contract = _parse(_odcs)
    assert contract.freshness_sla == FreshnessSla(
        timedelta(days=7), "event_timestamp", timedelta(days=1)
    )
    assert parse_contract(contract.to_yaml()) == contract
    assert "freshness" not in contract.to_yaml_obj()


def test_freshness_alias_and_units():
    def edit(data):
        del data["freshness"]
        data["slaProperties"] = [{"property": "freshness", "value": 90, "unit": "m"}]

    assert _parse(edit).freshness_sla.max_age == timedelta(minutes=90)


@pytest.mark.parametrize(
    "sla",
    [
        [{"property": "latency", "value": 7, "unit": "w"}],
        [{"property": "latency", "value": 0, "unit": "d"}],
        # timedelta overflowed (OverflowError, a traceback); then 10000 years.
        [{"property": "latency", "value": 99999999999999, "unit": "d"}],
        [{"property": "latency", "value": 3652501, "unit": "d"}],
        [ODCS_SLA[0], {"property": "frequency", "value": 99999999999999, "unit": "m"}],
        [{"property": "latency", "value": 7, "unit": "d", "element": "other.x"}],
        [{"property": "latency", "value": 7, "unit": "d", "element": "spend.amount"}],
        [{"property": "latency", "value": 7, "unit": "d", "element": "spend"}],
        [{"property": "uptime", "value": 7, "unit": "d"}],
        [{"property": "frequency", "value": 1, "unit": "d"}],  # no latency at all
        [ODCS_SLA[0], ODCS_SLA[0]],
    ],
)
def test_bad_sla_properties_are_one_line_field_errors(sla):
    def edit(data):
        del data["freshness"]
        data["slaProperties"] = sla

    with pytest.raises(ContractFormatError) as info:
        _parse(edit)
    assert info.value.reason is ContractErrorReason.INVALID_FIELD
    assert "\n" not in str(info.value)


def test_freshness_given_twice_is_an_error():
    with pytest.raises(ContractFormatError):
        _parse(lambda d: d.update(slaProperties=ODCS_SLA))


def test_default_drift_settings_cover_feature_columns_only(base):
    settings = base.drift
    # Keys and timestamps are not features; date columns are not profiled.
    assert list(settings) == [
        "amount", "count_1h", "count_24h", "count_7d",
        "code", "label", "status", "kind", "flag",
    ]  # fmt: skip
    amount = settings["amount"]
    assert (amount.kind, amount.metric, amount.warn, amount.fail) == (
        "numeric", "psi", 0.1, 0.2,
    )  # fmt: skip
    assert (amount.bins, amount.on_drift, amount.enabled) == (10, "warn", True)
    assert settings["code"].kind == "categorical"
    assert base.drift_block.baseline is None


def test_drift_block_overrides_per_column_and_round_trips():
    contract = _parse(_with_drift(DRIFT))
    amount, count_1h = contract.drift["amount"], contract.drift["count_1h"]
    assert (amount.metric, amount.warn, amount.fail) == ("js", 0.15, 0.3)
    assert (count_1h.metric, count_1h.warn, count_1h.fail) == ("psi", 0.15, 0.2)
    assert count_1h.on_drift == "block"
    assert contract.drift["count_7d"].enabled is False
    assert contract.drift_block.baseline == DriftBaseline(version=3)
    assert parse_contract(contract.to_yaml()) == contract


@pytest.mark.parametrize(
    "value",
    [
        {"metric": "kl"},
        {"warn": 0.3, "fail": 0.2},
        {"bins": 1},
        {"bins": 101},
        {"on_drift": "stop"},
        {"baseline": {"version": 1, "training_set": "m.json"}},
        {"baseline": {}},
        {"columns": {"customer_id": {"warn": 0.1}}},
        {"columns": {"nope": {"warn": 0.1}}},
        {"columns": {"amount": {"warn": 0.5}}},  # above the table's fail 0.2
        {"unknown": 1},
    ],
)
def test_bad_drift_blocks_are_one_line_errors(value):
    with pytest.raises(ContractFormatError) as info:
        _parse(_with_drift({"property": "drift", "value": value}))
    assert "\n" not in str(info.value)


def test_legacy_and_odcs_freshness_compare_equal():
    def latency_only(data):
        del data["freshness"]
        data["slaProperties"] = ODCS_SLA[:1]

    assert compare(_parse(), _parse(latency_only)) == []


def _drift_edit(**columns):
    block = {"property": "drift", "value": {"columns": columns}}
    return _with_drift(block)


@pytest.mark.parametrize(
    ("edit", "kind", "column"),
    [
        (_drift_edit(amount={"warn": 0.05}), ChangeKind.DRIFT_TIGHTENED, "amount"),
        (_drift_edit(amount={"fail": 0.5}), ChangeKind.DRIFT_LOOSENED, "amount"),
        (_drift_edit(amount={"metric": "js"}), ChangeKind.DRIFT_CHANGED, "amount"),
        (
            _drift_edit(amount={"on_drift": "block"}),
            ChangeKind.DRIFT_CHANGED,
            "amount",
        ),
        (_odcs, ChangeKind.FREQUENCY_CHANGED, ""),
        (lambda d: d.update(freshness="1d"), ChangeKind.FRESHNESS_CHANGED, ""),
    ],
)
def test_sla_and_drift_changes_are_compatible(edit, kind, column):
    old, new = _parse(), _parse(edit, "1.1.0")
    changes = compare(old, new)
    assert [(c.kind, c.column) for c in changes] == [(kind, column)]
    assert not changes[0].breaking
    assert check_version_bump(old, new, changes) == []


def test_readme_monitoring_block_parses_onto_the_readme_contract():
    readme = (REPO_CONTRACTS.parents[1] / "README.md").read_text()

    def block(tag):
        body = readme.split(f"<!-- {tag}:begin -->")[1].split(f"<!-- {tag}:end -->")[0]
        return yaml.safe_load(body.split("```yaml")[1].split("```")[0])

    data = {**block("readme-byo-contract"), **block("readme-monitoring-contract")}
    del data["freshness"]
    contract = parse_contract(yaml.safe_dump(data), "README.md")
    assert contract.freshness_sla == FreshnessSla(
        timedelta(days=2), "event_timestamp", timedelta(days=1)
    )
    assert contract.drift["sales"].metric == "js"
    assert contract.drift["sales"].warn == 0.05
    assert contract.drift_block.baseline == DriftBaseline(version=0)


def test_contracts_with_drift_blocks_hash_and_compare():
    # Contracts are cache keys (verdict, schemas): dict-valued fields must hash.
    a, b = _parse(_with_drift(DRIFT)), _parse(_with_drift(DRIFT))
    assert hash(a) == hash(b) and a == b
    assert len({a, b, _parse()}) == 2


def _table_drift(**value):
    return _with_drift({"property": "drift", "value": value})


@pytest.mark.parametrize(
    ("before", "after", "detail"),
    [
        # Only bins and top_k change: the old detail read the same on both
        # sides ("psi warn 0.1 fail 0.2 warn -> psi warn 0.1 fail 0.2 warn").
        ({"bins": 4, "top_k": 3}, {"bins": 10, "top_k": 5},
         "bins 4 -> 10, top_k 3 -> 5"),
        ({}, {"columns": {"amount": {"enabled": False}}}, "enabled True -> False"),
        ({"warn": 0.1}, {"warn": 0.05, "metric": "js"},
         "metric psi -> js, warn 0.1 -> 0.05"),
    ],
)  # fmt: skip
def test_a_drift_change_names_each_setting_that_changed(before, after, detail):
    old = _parse(_table_drift(**before), "2.0.0")
    new = _parse(_table_drift(**after), "2.1.0")
    changes = compare(old, new)
    assert changes and {c.kind for c in changes} == {ChangeKind.DRIFT_CHANGED}
    columns = {"amount"} if "columns" in after else set(new.drift)
    assert {c.column: c.detail for c in changes} == dict.fromkeys(columns, detail)


def test_contracts_diff_prints_the_drift_settings_that_changed(tmp_path):
    for version, value in (("2.0.0", {"bins": 4, "top_k": 3}),
                           ("2.1.0", {"bins": 10, "top_k": 5})):  # fmt: skip
        data = base_data()
        data["version"] = version
        _table_drift(**value)(data)
        write_contract(tmp_path, data)
    command = [sys.executable, "-m", "featurestore.services.contracts"]
    result = subprocess.run(
        [*command, "--root", str(tmp_path), "diff", base_data()["name"], "2.0.0",
         "2.1.0"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [x for x in result.stdout.splitlines() if "DRIFT_CHANGED" in x]
    assert len(lines) == len(_parse().drift)
    assert all(x.endswith(": bins 4 -> 10, top_k 3 -> 5") for x in lines), lines
