from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from itertools import pairwise

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.services.contracts import (
    REASONS_TYPE,
    ContractErrorReason,
    SchemaMismatchError,
    build_pandas_schema,
    check_arrow_schema,
    duplicate_key_mask,
    parse_contract,
    row_reasons,
    summarize,
    table_reasons,
)
from featurestore.services.contracts.checks import (
    CustomColumnCheck,
    RowCheck,
    register_column_check,
    register_row_check,
)
from featurestore.services.contracts.verdict import to_pandas

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 1, 2, tzinfo=UTC)

ARROW_TYPES = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}

GOOD = {
    "customer_id": 1,
    "event_timestamp": T0,
    "created_timestamp": T0,
    "amount": 10.0,
    "count_1h": 1,
    "count_24h": 2,
    "count_7d": 3,
    "code": "AB",
    "label": "ok",
    "status": "new",
    "kind": "fine",
    "flag": True,
    "day": date(2021, 1, 1),
}


def _table(contract, rows):
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema([(c.name, ARROW_TYPES[c.type]) for c in contract.columns]),
    )


def _reasons(contract, rows):
    return [
        [(r["column"], r["check"]) for r in row]
        for row in row_reasons(contract, _table(contract, rows)).to_pylist()
    ]


def test_passing_frame(base):
    nulls = {
        **GOOD,
        "amount": None,
        "count_24h": None,
        "label": None,
        "kind": None,
        "flag": None,
        "day": None,
    }
    assert _reasons(base, [GOOD, nulls]) == [[], []]
    frame = to_pandas(_table(base, [GOOD, nulls]))
    build_pandas_schema(base).validate(frame)


FAILURES = [
    ("customer_id", None, "not_nullable"),
    ("customer_id", 0, "greater_than_or_equal_to"),
    ("amount", -0.5, "in_range"),
    ("amount", 100.0, "in_range"),  # include_max: false
    ("amount", math.inf, "finite"),
    ("count_1h", 0, "greater_than"),
    ("code", "abc", "str_matches"),
    ("code", "XX", "notin"),
    ("label", "toolong", "str_length"),
    ("label", "   ", "non_blank"),
    ("status", "other", "isin"),
    ("kind", "bad", "not_equal_to"),
    ("flag", False, "equal_to"),
    ("day", date(2019, 12, 31), "greater_than_or_equal_to"),
    ("status", None, "not_nullable"),
]


@pytest.mark.parametrize(("column", "value", "check"), FAILURES)
def test_failing_frame_per_rule(base, column, value, check):
    expected = [(column, check)]
    if check == "finite":  # -inf also fails in_range: no check hides another
        expected.insert(0, (column, "in_range"))
    assert _reasons(base, [GOOD, {**GOOD, column: value}]) == [[], expected]


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [("count_1h", 1000, "less_than"), ("count_24h", 5001, "less_than_or_equal_to")],
)
def test_failing_frame_upper_bounds(base, column, value, check):
    row = {**GOOD, "count_1h": 999, "count_24h": 5000, "count_7d": 6000, column: value}
    assert _reasons(base, [row]) == [[(column, check)]]


def test_row_check_failing_frame(base):
    rows = [
        {**GOOD, "count_1h": 5, "count_24h": 4},
        {**GOOD, "count_24h": None, "count_7d": 0},
        {**GOOD, "count_7d": 1},
    ]
    nested = ("count_1h,count_24h,count_7d", "windows_nested")
    # a pair with a null passes: [1, null, 0] is fine; [1, 2, 1] is not.
    assert _reasons(base, rows) == [[nested], [], [nested]]


def test_mixed_batch_hand_checked(base):
    rows = [
        GOOD,
        {**GOOD, "customer_id": None, "amount": -1.0, "code": "a1", "count_7d": 1},
        {**GOOD, "amount": math.nan, "status": "x", "kind": "bad"},
        {**GOOD, "count_1h": 0, "code": None, "label": ""},
        GOOD,
    ]
    assert _reasons(base, rows) == [
        [],
        [
            ("customer_id", "not_nullable"),
            ("amount", "in_range"),
            ("code", "str_matches"),
            ("count_1h,count_24h,count_7d", "windows_nested"),
        ],
        [("status", "isin"), ("kind", "not_equal_to")],  # NaN is null: amount passes
        [
            ("count_1h", "greater_than"),
            ("code", "not_nullable"),
            ("label", "str_length"),
            ("label", "non_blank"),
        ],
        [],
    ]


def test_record_batch_extra_columns_and_empty(base):
    table = _table(base, [GOOD]).append_column("extra", pa.array([1]))
    batch = table.to_batches()[0]
    assert row_reasons(base, batch).to_pylist() == [[]]
    empty = row_reasons(base, table.slice(0, 0))
    assert empty.type == REASONS_TYPE
    assert len(empty) == 0


def test_check_arrow_schema(base):
    good = _table(base, [GOOD]).schema
    check_arrow_schema(base, good)
    ns = good.set(
        good.get_field_index("created_timestamp"),
        pa.field("created_timestamp", pa.timestamp("ns", tz="Etc/UTC")),
    )
    check_arrow_schema(base, ns)
    bad = (
        good.remove(good.get_field_index("label"))
        .set(0, pa.field("customer_id", pa.int32()))
        .set(1, pa.field("event_timestamp", pa.timestamp("us")))
        .append(pa.field("extra", pa.string()))
    )
    with pytest.raises(SchemaMismatchError) as info:
        check_arrow_schema(base, bad)
    assert info.value.reason is ContractErrorReason.SCHEMA_MISMATCH
    assert info.value.metadata["missing"] == "label"
    assert info.value.metadata["extra"] == "extra"
    assert info.value.metadata["wrong_types"] == (
        "customer_id=int64:int32,event_timestamp=timestamp:timestamp[us]"
    )
    # The pair shows a naive timestamp; the message says what to do about it.
    assert "event_timestamp: a timestamp without a time zone; send UTC" in str(
        info.value
    )
    check_arrow_schema(
        base, good.append(pa.field("extra", pa.string())), allow_extra=True
    )
    with pytest.raises(SchemaMismatchError):
        row_reasons(base, pa.table({"customer_id": [1]}))


@pytest.mark.parametrize("days", [3_000_000, -800_000])
@pytest.mark.parametrize("judge", [row_reasons, table_reasons, duplicate_key_mask])
def test_a_date_outside_years_1_to_9999_is_a_schema_mismatch(base, judge, days):
    # Valid date32, but pandas makes datetime.date objects of it: OverflowError.
    table = _table(base, [GOOD, {**GOOD, "customer_id": 2}])
    day = pa.array([days, None], pa.int32()).cast(pa.date32())
    table = table.set_column(table.column_names.index("day"), "day", day)
    with pytest.raises(SchemaMismatchError) as info:
        judge(base, table)
    assert info.value.reason is ContractErrorReason.SCHEMA_MISMATCH
    assert info.value.metadata == {"column": "day", "range": "0001-01-01..9999-12-31"}
    edges = [{**GOOD, "day": date.min}, {**GOOD, "customer_id": 2, "day": date.max}]
    assert _reasons(base, edges) == [[("day", "greater_than_or_equal_to")], []]


def test_duplicate_key_mask_and_table_reasons(base):
    rows = [
        {**GOOD, "created_timestamp": T0},
        {**GOOD, "created_timestamp": T1},  # newest wins
        {**GOOD, "customer_id": 2},
        {**GOOD, "customer_id": 2},  # tie: first in input order wins
        {**GOOD, "customer_id": 3, "event_timestamp": T1},
    ]
    table = _table(base, rows)
    assert duplicate_key_mask(base, table).to_pylist() == [
        True,
        False,
        False,
        True,
        False,
    ]
    dup = [{"column": "customer_id,event_timestamp", "check": "duplicate_key"}]
    assert table_reasons(base, table).to_pylist() == [dup, [], [], dup, []]


def test_summarize(base):
    rows = [GOOD, {**GOOD, "code": "XX", "kind": "bad"}, {**GOOD, "code": "XX"}]
    summary = summarize(row_reasons(base, _table(base, rows)))
    assert (summary.rows, summary.passed, summary.failed) == (3, 1, 2)
    assert summary.counts == {"code:notin": 2, "kind:not_equal_to": 1}
    assert summary.failure_ratio == pytest.approx(2 / 3)
    assert not summary.within(base.max_failure_ratio)
    empty = summarize(pa.array([], type=REASONS_TYPE))
    assert (empty.rows, empty.failed, empty.counts, empty.within(0.0)) == (
        0,
        0,
        {},
        True,
    )


# --- property test: pandera-backed row_reasons vs a plain per-row evaluator ---

PROP_YAML = """
name: prop
version: 1.0.0
owner: t
entity_keys: [k]
event_timestamp: ts
created_timestamp: created
freshness: 1d
max_failure_ratio: 0
columns:
  - {name: k, type: int64, nullable: false, checks: [{greater_than_or_equal_to: 0}]}
  - {name: ts, type: timestamp, nullable: false}
  - {name: created, type: timestamp, nullable: false}
  - {name: a, type: int64, nullable: true, checks: [{greater_than: -3}, {less_than: 4}]}
  - {name: b, type: float64, nullable: true,
     checks: [{in_range: {min_value: -2, max_value: 2, include_min: false}}]}
  - {name: c, type: int64, nullable: true, checks: [{notin: [0]}]}
  - {name: s, type: string, nullable: true,
     checks: [{isin: [x, xy, yx, "", xyz]}, {str_matches: "x"},
              {str_length: {max_value: 2}}]}
  - {name: f, type: bool, nullable: false, checks: [{not_equal_to: false}]}
row_checks:
  - windows_nested: [a, b, c]
"""
PROP = parse_contract(PROP_YAML)
PROP_PARTITIONED = parse_contract(PROP_YAML + "partition_by: [s, k]\n")


def _is_null(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def _passes(check, value):
    name, args = check.name, check.args
    simple = {
        "greater_than": lambda: value > args,
        "greater_than_or_equal_to": lambda: value >= args,
        "less_than": lambda: value < args,
        "less_than_or_equal_to": lambda: value <= args,
        "equal_to": lambda: value == args,
        "not_equal_to": lambda: value != args,
        "isin": lambda: value in args,
        "notin": lambda: value not in args,
        "str_matches": lambda: re.match(args, value) is not None,
    }
    if name in simple:
        return simple[name]()
    if name == "in_range":
        low = value >= args.min_value if args.include_min else value > args.min_value
        high = value <= args.max_value if args.include_max else value < args.max_value
        return low and high
    if name == "str_length":
        return (args.min_value is None or len(value) >= args.min_value) and (
            args.max_value is None or len(value) <= args.max_value
        )
    raise AssertionError(name)


# Spark's ExternalCatalogUtils.escapePathName writes these as %XX (3 bytes).
SPARK_ESCAPED = {chr(c) for c in range(1, 32)} | set("\"#%'*/:=?[\\]^{\x7f")


def _directory_bytes(column, value):
    """Bytes of the partition directory ``column=value`` as Spark names it."""
    return 1 + sum(
        3 if ch in SPARK_ESCAPED else len(ch.encode("utf-8")) for ch in column + value
    )


def _brute_force(contract, row):
    out = []
    for col in contract.columns:
        value = row[col.name]
        if _is_null(value):
            if not col.nullable:
                out.append((col.name, "not_nullable"))
            continue
        out += [(col.name, c.name) for c in col.checks if not _passes(c, value)]
        # Delta stores a partition value "" as null.
        if col.name in contract.partition_by and col.type == "string":
            if value == "":
                out.append((col.name, "partition_not_empty"))
            if "\0" in value or _directory_bytes(col.name, value) > 255:
                out.append((col.name, "partition_path_valid"))
    for rc in contract.row_checks:
        values = [row[c] for c in rc.columns]
        pairs = pairwise(values)
        if not all(_is_null(x) or _is_null(y) or x <= y for x, y in pairs):
            out.append((rc.reason_column, rc.name))
    return out


def _opt(strategy):
    return st.one_of(st.none(), strategy)


ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "k": _opt(st.integers(-2, 5)),
            "ts": st.just(T0),
            "created": _opt(st.just(T1)),
            "a": _opt(st.integers(-5, 5)),
            "b": _opt(
                st.one_of(
                    st.floats(-3, 3), st.just(math.nan), st.sampled_from([-2.0, 2.0])
                )
            ),
            "c": _opt(st.integers(-2, 8)),
            "s": _opt(
                st.one_of(
                    st.text(alphabet="xyz", max_size=4),
                    # Partition directories near the 255-byte limit.
                    st.text(alphabet="xy/=\0é", min_size=80, max_size=260),
                )
            ),
            "f": _opt(st.booleans()),
        }
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ROWS, st.sampled_from([PROP, PROP_PARTITIONED]))
def test_row_reasons_matches_brute_force(rows, contract):
    got = _reasons(contract, rows)
    assert got == [_brute_force(contract, row) for row in rows]


@pytest.mark.parametrize(
    "string_type", [pa.string(), pa.large_string(), pa.string_view()]
)
def test_empty_partition_strings_in_any_string_type_and_chunking(string_type):
    # Two chunks, the empty string in the second: the rule reads the whole column.
    rows = [
        {"k": 1, "ts": T0, "created": T0, "s": "x", "f": True},
        {"k": 2, "ts": T0, "created": T0, "s": None, "f": True},
        {"k": 3, "ts": T0, "created": T0, "s": "", "f": True},
    ]
    full = [dict.fromkeys(("a", "b", "c")) | row for row in rows]
    table = _table(PROP_PARTITIONED, full)
    table = pa.concat_tables([table.slice(0, 2), table.slice(2)]).cast(
        table.schema.set(table.schema.get_field_index("s"), pa.field("s", string_type))
    )
    assert table.column("s").num_chunks == 2
    got = [[(r["column"], r["check"]) for r in row] for row in
           table_reasons(PROP_PARTITIONED, table).to_pylist()]  # fmt: skip
    # Row 3 also fails the column's own checks first (str_matches "x").
    assert got == [[], [], [("s", "str_matches"), ("s", "partition_not_empty")]]


@pytest.mark.parametrize(
    "name",
    ["not_nullable", "duplicate_key", "partition_not_empty", "partition_path_valid"],
)
def test_a_registered_check_cannot_take_a_reason_the_verdict_reports(name):
    with pytest.raises(ValueError, match="already defined"):
        register_column_check(CustomColumnCheck(name, lambda v: v.notna(), frozenset()))
    with pytest.raises(ValueError, match="already defined"):
        register_row_check(
            RowCheck(name, lambda f, c: f.notna().all(axis=1), 1, frozenset())
        )


KEYED = parse_contract("""
name: keyed
version: 1.0.0
owner: t
entity_keys: [k, j]
event_timestamp: ts
created_timestamp: created
freshness: 1d
max_failure_ratio: 0
columns:
  - {name: k, type: string, nullable: false}
  - {name: j, type: int64, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: created, type: timestamp, nullable: false}
  - {name: v, type: string, nullable: true}
""")

# NULs inside strings: pandas' string hashing stops at one.
KEYED_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "k": st.sampled_from(["", "\0", "a", "a\0", "a\0b"]),
            "j": st.integers(0, 1),
            "ts": st.just(T0),
            "created": st.sampled_from([T0, T1]),
            "v": st.sampled_from([None, "", "\0", "a", "a\0", "a\0b", "é"]),
        }
    ),
    max_size=20,
)


def _kept_by_spark(rows):
    """Per primary key, the row Spark's de-duplication keeps: the newest
    created time, then the greatest `v` by its bytes (nulls lowest), then
    input order (the read rule's order)."""
    kept = {}
    for pos, row in sorted(
        enumerate(rows),
        key=lambda p: (p[1]["created"], p[1]["v"] is not None,
                       (p[1]["v"] or "").encode(), -p[0]),
        reverse=True,
    ):  # fmt: skip
        kept.setdefault((row["k"], row["j"], row["ts"]), pos)
    return set(kept.values())


@settings(max_examples=80, deadline=None)
@given(KEYED_ROWS, st.sampled_from([pa.string(), pa.large_string(), pa.string_view()]))
def test_duplicate_key_mask_keeps_the_row_spark_keeps(rows, string_type):
    table = _table(KEYED, rows)
    for name in ("k", "v"):
        index = table.schema.get_field_index(name)
        table = table.cast(table.schema.set(index, pa.field(name, string_type)))
    mask = duplicate_key_mask(KEYED, table).to_pylist()
    assert {pos for pos, lost in enumerate(mask) if not lost} == _kept_by_spark(rows)


SCORED = parse_contract("""
name: scored
version: 1.0.0
owner: t
entity_keys: [k]
event_timestamp: ts
created_timestamp: created
freshness: 1d
max_failure_ratio: 1
columns:
  - {name: k, type: int64, nullable: false}
  - {name: ts, type: timestamp, nullable: false}
  - {name: created, type: timestamp, nullable: false}
  - {name: x, type: float64, nullable: true}
  - {name: s, type: string, nullable: true}
""")

# Rows tied on (k, ts), some on created too: nulls, NaN, infinities, NULs.
SCORED_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "k": st.integers(1, 3),
            "ts": st.just(T0),
            "created": st.sampled_from([T0, T1]),
            "x": st.sampled_from([None, math.nan, -math.inf, -1.0, 0.0, 2.5, math.inf]),
            "s": st.sampled_from([None, "", "\0", "a", "a\0b", "é"]),
        }
    ),
    min_size=1,
    max_size=12,
)


def _cells(rows):
    """(k, x, s) per row, NaN as a string so that it equals itself."""
    return sorted((r["k"], "nan" if r["x"] != r["x"] else r["x"], r["s"]) for r in rows)


@settings(max_examples=80, deadline=None)
@given(SCORED_ROWS)
def test_duplicate_key_mask_keeps_the_row_a_training_set_reads(rows):
    # Publishing kept the smallest tuple among tied rows and reads the
    # greatest: {5, 7} in one batch served 5, in two appends 7. The oracle is
    # the offline store's point-in-time join over the same rows.
    from featurestore.services.offline.join import ViewInput, point_in_time_join

    table = _table(SCORED, rows)
    mask = duplicate_key_mask(SCORED, table).to_pylist()
    kept = [row for row, lost in zip(rows, mask, strict=True) if not lost]
    keys = sorted({r["k"] for r in rows})
    entity = pa.table(
        {"k": keys, "t": pa.array([T1] * len(keys), ARROW_TYPES["timestamp"])}
    )
    view = ViewInput(
        name="scored",
        table=table,
        join_keys=["k"],
        event_timestamp_column="ts",
        created_timestamp_column="created",
        features=["x", "s"],
    )
    read = point_in_time_join(entity, "t", [view]).to_pylist()
    assert _cells(kept) == _cells(read)
