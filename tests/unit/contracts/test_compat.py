from __future__ import annotations

import pytest

from featurestore.services.contracts import parse_contract
from featurestore.services.contracts.compat import (
    NARROWING_CHECK_KINDS,
    BumpProblem,
    Change,
    ChangeKind,
    check_version_bump,
    compare,
)
from featurestore.services.contracts.model import Column
from tests.unit.contracts._support import base_data


def _contract(edit=None, version="1.0.0"):
    data = base_data()
    data["version"] = version
    if edit is not None:
        edit(data)
    return parse_contract(__import__("yaml").safe_dump(data))


def _col(data, name):
    return next(c for c in data["columns"] if c["name"] == name)


def _set_checks(name, checks):
    def edit(data):
        _col(data, name)["checks"] = checks

    return edit


CASES = {
    "remove_column": (
        lambda d: d["columns"].remove(_col(d, "kind")),
        ChangeKind.COLUMN_REMOVED,
        "kind",
        True,
    ),
    "add_nullable": (
        lambda d: d["columns"].append({"name": "x", "type": "int64", "nullable": True}),
        ChangeKind.COLUMN_ADDED_NULLABLE,
        "x",
        False,
    ),
    "add_required": (
        lambda d: d["columns"].append(
            {"name": "x", "type": "int64", "nullable": False}
        ),
        ChangeKind.COLUMN_ADDED_REQUIRED,
        "x",
        True,
    ),
    "type_int_to_float": (
        lambda d: _col(d, "count_7d").update(type="float64"),
        ChangeKind.TYPE_CHANGED,
        "count_7d",
        True,
    ),
    "nullable_to_required": (
        lambda d: _col(d, "kind").update(nullable=False),
        ChangeKind.NULLABLE_TO_REQUIRED,
        "kind",
        True,
    ),
    "required_to_nullable": (
        lambda d: _col(d, "status").update(nullable=True),
        ChangeKind.REQUIRED_TO_NULLABLE,
        "status",
        False,
    ),
    "key_changed": (
        lambda d: d.update(entity_keys=["customer_id", "code"]),
        ChangeKind.KEY_CHANGED,
        "customer_id,code,event_timestamp",
        True,
    ),
    "check_added": (
        _set_checks("count_7d", [{"greater_than": 0}]),
        ChangeKind.CHECK_ADDED,
        "count_7d",
        True,
    ),
    "check_removed": (
        _set_checks("count_1h", [{"greater_than": 0}]),
        ChangeKind.CHECK_REMOVED,
        "count_1h",
        False,
    ),
    "lower_bound_raised": (
        _set_checks("customer_id", [{"greater_than_or_equal_to": 2}]),
        ChangeKind.CHECK_TIGHTENED,
        "customer_id",
        True,
    ),
    "lower_bound_lowered": (
        _set_checks("customer_id", [{"greater_than_or_equal_to": 0}]),
        ChangeKind.CHECK_LOOSENED,
        "customer_id",
        False,
    ),
    "upper_bound_lowered": (
        _set_checks("count_24h", [{"less_than_or_equal_to": 10}]),
        ChangeKind.CHECK_TIGHTENED,
        "count_24h",
        True,
    ),
    "upper_bound_raised": (
        _set_checks("count_24h", [{"less_than_or_equal_to": 9000}]),
        ChangeKind.CHECK_LOOSENED,
        "count_24h",
        False,
    ),
    "in_range_min_raised": (
        _set_checks(
            "amount",
            [
                {"in_range": {"min_value": 1, "max_value": 100, "include_max": False}},
                {"custom": "finite"},
            ],
        ),
        ChangeKind.CHECK_TIGHTENED,
        "amount",
        True,
    ),
    "in_range_max_now_inclusive": (
        _set_checks(
            "amount",
            [{"in_range": {"min_value": 0, "max_value": 100}}, {"custom": "finite"}],
        ),
        ChangeKind.CHECK_LOOSENED,
        "amount",
        False,
    ),
    "isin_shrinks": (
        _set_checks("status", [{"isin": ["new"]}]),
        ChangeKind.CHECK_TIGHTENED,
        "status",
        True,
    ),
    "isin_grows": (
        _set_checks("status", [{"isin": ["new", "old", "gone"]}]),
        ChangeKind.CHECK_LOOSENED,
        "status",
        False,
    ),
    "isin_swapped": (
        _set_checks("status", [{"isin": ["new", "gone"]}]),
        ChangeKind.CHECK_CHANGED,
        "status",
        True,
    ),
    "notin_grows": (
        _set_checks("code", [{"str_matches": "^[A-Z]{2}$"}, {"notin": ["XX", "YY"]}]),
        ChangeKind.CHECK_TIGHTENED,
        "code",
        True,
    ),
    "notin_shrinks": (
        lambda d: _col(d, "code").update(
            checks=[{"str_matches": "^[A-Z]{2}$"}, {"notin": ["XX", "YY"]}]
        ),
        None,
        None,
        None,  # only used as an "old" below
    ),
    "str_matches_changed": (
        _set_checks("code", [{"str_matches": "^[A-Z]{2,3}$"}, {"notin": ["XX"]}]),
        ChangeKind.CHECK_CHANGED,
        "code",
        True,
    ),
    "str_length_max_lowered": (
        _set_checks(
            "label",
            [{"str_length": {"min_value": 1, "max_value": 4}}, {"custom": "non_blank"}],
        ),
        ChangeKind.CHECK_TIGHTENED,
        "label",
        True,
    ),
    "row_check_removed": (
        lambda d: d.pop("row_checks"),
        ChangeKind.ROW_CHECK_REMOVED,
        "count_1h,count_24h,count_7d",
        False,
    ),
    "row_check_columns_changed": (
        lambda d: d.update(row_checks=[{"windows_nested": ["count_1h", "count_7d"]}]),
        ChangeKind.ROW_CHECK_ADDED,
        "count_1h,count_7d",
        True,
    ),
    "doc_changed": (
        lambda d: _col(d, "kind").update(description="new words"),
        ChangeKind.DOC_CHANGED,
        "kind",
        False,
    ),
    "freshness_changed": (
        lambda d: d.update(freshness="36h"),
        ChangeKind.FRESHNESS_CHANGED,
        "",
        False,
    ),
    "failure_ratio_changed": (
        lambda d: d.update(max_failure_ratio=0.1),
        ChangeKind.FAILURE_RATIO_CHANGED,
        "",
        False,
    ),
    "owner_changed": (
        lambda d: d.update(owner="other@example.com"),
        ChangeKind.OWNER_CHANGED,
        "",
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(k for k, v in CASES.items() if v[1]))
def test_each_change_kind(case):
    edit, kind, column, breaking = CASES[case]
    old, new = _contract(), _contract(edit, "2.0.0")
    matching = [c for c in compare(old, new) if c.kind is kind]
    assert [c.column for c in matching] == [column]
    assert matching[0].breaking is breaking
    assert any(c.breaking for c in compare(old, new)) is breaking


def test_a_check_change_names_its_check_as_a_row_verdict_does():
    """Publish judges stored rows by the checks a change made stricter: the
    (column, check) pair is the reason a failing row carries."""

    def edit(data):
        _col(data, "count_1h")["checks"] = [{"greater_than": 0}, {"less_than": 10}]
        _col(data, "count_7d")["checks"] = [{"less_than": 7}]
        _col(data, "count_24h")["checks"] = []

    changes = compare(_contract(), _contract(edit, "2.0.0"))
    narrowing = {
        (c.column, c.check) for c in changes if c.kind in NARROWING_CHECK_KINDS
    }
    assert narrowing == {("count_1h", "less_than"), ("count_7d", "less_than")}
    removed = [c for c in changes if c.kind is ChangeKind.CHECK_REMOVED]
    assert [(c.column, c.check) for c in removed] == [
        ("count_24h", "less_than_or_equal_to")
    ]


def test_notin_shrinking_is_loosening():
    old = _contract(CASES["notin_shrinks"][0])
    assert [(c.kind, c.breaking) for c in compare(old, _contract(version="1.1.0"))] == [
        (ChangeKind.CHECK_LOOSENED, False)
    ]


def test_rename_is_removed_plus_added():
    def rename(d):
        _col(d, "kind")["name"] = "category"

    kinds = [(c.kind, c.column) for c in compare(_contract(), _contract(rename))]
    assert kinds == [
        (ChangeKind.COLUMN_REMOVED, "kind"),
        (ChangeKind.COLUMN_ADDED_NULLABLE, "category"),
    ]


def test_model_copy_variant_and_no_changes(base):
    assert compare(base, base) == []
    columns = tuple(
        c.model_copy(update={"type": "float64"}) if c.name == "count_7d" else c
        for c in base.columns
    )
    changed = base.model_copy(update={"columns": columns})
    assert isinstance(changed.columns[6], Column)
    assert compare(base, changed) == [
        Change(ChangeKind.TYPE_CHANGED, "count_7d", "int64 -> float64")
    ]


@pytest.mark.parametrize(
    ("case", "version", "problems"),
    [
        ("remove_column", "1.1.0", [BumpProblem.MAJOR_BUMP_REQUIRED]),
        ("remove_column", "2.0.0", []),
        ("add_nullable", "1.0.1", []),
        ("add_nullable", "1.0.0", [BumpProblem.VERSION_NOT_INCREASED]),
        ("owner_changed", "0.9.0", [BumpProblem.VERSION_NOT_INCREASED]),
        (
            "remove_column",
            "1.0.0",
            [BumpProblem.VERSION_NOT_INCREASED, BumpProblem.MAJOR_BUMP_REQUIRED],
        ),
    ],
)
def test_check_version_bump(case, version, problems):
    old, new = _contract(), _contract(CASES[case][0], version)
    found = check_version_bump(old, new, compare(old, new))
    assert [p.problem for p in found] == problems
    assert [p.problem for p in check_version_bump(old, new)] == problems


def test_name_change_is_a_problem():
    new = _contract(lambda d: d.update(name="spend2"), "1.0.1")
    assert [p.problem for p in check_version_bump(_contract(), new)] == [
        BumpProblem.NAME_CHANGED
    ]


def test_severity_sorts_every_kind_into_one_class():
    from featurestore.services.contracts.compat import (
        BREAKING_KINDS,
        COSMETIC_KINDS,
        Change,
        ChangeKind,
    )

    for kind in ChangeKind:
        severity = Change(kind).severity
        if kind in BREAKING_KINDS:
            assert severity == "breaking"
        elif kind in COSMETIC_KINDS:
            assert severity == "cosmetic"
        else:
            assert severity == "non-breaking"
    assert Change(ChangeKind.OWNER_CHANGED).severity == "cosmetic"
    assert Change(ChangeKind.FRESHNESS_CHANGED).severity == "non-breaking"
    assert not BREAKING_KINDS & COSMETIC_KINDS
