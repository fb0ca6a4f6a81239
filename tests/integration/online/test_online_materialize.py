"""materialize / materialize_incremental vs Feast's own, run window after window."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis
from click.testing import CliRunner
from deltalake import write_deltalake
from feast import FeatureStore

from featurestore.services.cli import cli
from featurestore.services.offline import DeltaOfflineStore
from featurestore.services.online import Reason, ViewsNotMaterializedError
from featurestore.services.online.materialize import (
    _pull_latest,
    main,
    materialize,
    materialize_incremental,
)
from tests.redis_harness import start_redis_process

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
T0, T1 = NOW - timedelta(hours=6), NOW - timedelta(hours=2)  # first window [T0, T1)

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64, String
customer = Entity(name="customer", join_keys=["customer_id"],
                  value_type=ValueType.INT64)
stats_view = FeatureView(
    name="stats", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="spend", dtype=Float64), Field(name="visits", dtype=Int64),
            Field(name="tier", dtype=String)],
    source=FileSource(name="stats", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
"""

YAML = """project: incr
registry: {repo}/registry.db
provider: local
online_store:
{online}
offline_store:
  type: featurestore.services.offline.DeltaOfflineStore
entity_key_serialization_version: 3
materialization:
  pull_latest_features: true
"""


def _rows() -> pa.Table:
    """Three versions per customer, 5 h, 3 h and 1 h old, so each window sees
    some; customers 20.. only before T1; ties on event time broken by created."""
    ids, spend, visits, tier, event, created = [], [], [], [], [], []
    for cid in range(30):
        for age in (5, 3, 1) if cid < 20 else (5, 3):
            for bump in (0, 1) if cid % 4 == 0 else (0,):  # same event, later created
                ids.append(cid)
                spend.append(None if cid % 7 == 0 else cid + age / 10 + bump)
                visits.append(cid * 10 + age + bump)
                tier.append(None if cid % 5 == 0 else f"t{age}")
                event.append(NOW - timedelta(hours=age))
                created.append(NOW - timedelta(hours=age) + timedelta(seconds=bump))
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "spend": pa.array(spend, pa.float64()),
            "visits": pa.array(visits, pa.int64()),
            "tier": pa.array(tier, pa.string()),
            "event_timestamp": pa.array(event, ts),
            "created_timestamp": pa.array(created, ts),
        }
    )


def _repo(path, online: str, rows: pa.Table | None = None) -> FeatureStore:
    (path / "data").mkdir(parents=True)
    (path / "feature_store.yaml").write_text(YAML.format(repo=path, online=online))
    write_deltalake(str(path / "data" / "stats"), _rows() if rows is None else rows)
    ns: dict[str, object] = {}
    exec(DEFINITIONS, ns)
    store = FeatureStore(repo_path=str(path))
    store.apply([ns["customer"], ns["stats_view"]])
    return store


def _sqlite_dump(path) -> list[tuple]:
    with sqlite3.connect(path / "online.db") as conn:
        return conn.execute("SELECT * FROM incr_stats ORDER BY 1, 2").fetchall()


def _redis_dump(port: int) -> dict[bytes, dict[bytes, bytes]]:
    """Every entity hash (not the Delta versions materialize records)."""
    client = redis.Redis(port=port)
    try:
        keys = client.scan_iter(count=1000)
        return {k: client.hgetall(k) for k in keys if not k.startswith(b"_fea")}
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "redis"])
def sides(request, tmp_path):
    """(ours, feast) stores on separate online stores, and a dump function."""
    if request.param == "sqlite":
        stores = [
            _repo(tmp_path / s, f"  type: sqlite\n  path: {tmp_path / s}/online.db")
            for s in ("ours", "feast")
        ]
        yield stores, lambda i: _sqlite_dump(tmp_path / ("ours", "feast")[i])
        return
    servers = [start_redis_process(tmp_path / f"redis{i}") for i in range(2)]
    try:
        stores = [
            _repo(
                tmp_path / s,
                f"  type: redis\n  connection_string: {srv.host}:{srv.port}",
            )
            for s, srv in zip(("ours", "feast"), servers, strict=True)
        ]
        yield stores, lambda i: _redis_dump(servers[i].port)
    finally:
        for srv in servers:
            srv.stop()


def _intervals(store: FeatureStore) -> list[tuple[datetime, datetime]]:
    store.refresh_registry()
    return list(store.get_feature_view("stats").materialization_intervals)


def test_window_then_incremental_matches_feast_and_reruns_idempotently(sides):
    (ours, feast), dump = sides

    assert materialize(ours.repo_path, T0, T1) == {"stats": 30}
    feast.materialize(T0, T1)
    assert dump(0) == dump(1)
    # The incremental run starts where the recorded window ended (T1).
    assert materialize_incremental(ours.repo_path, NOW) == {"stats": 20}
    feast.materialize_incremental(NOW)
    after = dump(1)
    assert dump(0) == after
    assert len(after) == 30 * (3 if isinstance(after, list) else 1)
    assert _intervals(ours) == _intervals(feast) == [(T0, T1), (T1, NOW)]

    # Reruns: the last window again, then an empty incremental step
    # (start == end): the stored bytes do not change.
    materialize(ours.repo_path, T1, NOW)
    assert dump(0) == after
    assert materialize_incremental(ours.repo_path, NOW) == {"stats": 0}
    assert dump(0) == after
    # The older window again: Redis keeps the newer rows, SQLite overwrites
    # them, as Feast does; the newest window then restores the same bytes.
    for start, end in ((T0, T1), (T1, NOW)):
        materialize(ours.repo_path, start, end)
        feast.materialize(start, end)
        assert dump(0) == dump(1)
    assert dump(0) == after


def test_cli_runs_a_window_then_incremental(tmp_path, capsys):
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
    repo = ["--repo", str(store.repo_path)]
    assert main([T0.isoformat(), T1.isoformat(), *repo]) == 0
    assert main([NOW.isoformat(), *repo, "--views", "stats"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "stats: 30 entities",
        "stats: 20 entities",
    ]
    assert _intervals(store) == [(T0, T1), (T1, NOW)]


def test_the_module_alias_finds_the_project_it_runs_in(tmp_path, monkeypatch, capsys):
    # python -m featurestore.services.online.materialize defaulted to
    # ./feature_repo, so in an init'd project it failed (feature_repo/
    # feature_store.yaml: FileNotFoundError) where the featurestore command works.
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
    monkeypatch.chdir(store.repo_path)
    monkeypatch.delenv("FS_REPO_PATH", raising=False)
    assert main([T0.isoformat(), T1.isoformat()]) == 0
    assert capsys.readouterr().out.splitlines() == ["stats: 30 entities"]


def test_first_incremental_run_starts_ttl_before_now_like_feast(sides):
    (ours, feast), dump = sides
    before = datetime.now(UTC)
    assert materialize_incremental(ours.repo_path, NOW) == {"stats": 30}
    after = datetime.now(UTC)
    feast.materialize_incremental(NOW)
    assert dump(0) == dump(1)
    [(start, end)] = _intervals(ours)
    [(feast_start, _)] = _intervals(feast)
    # Both take "now - ttl (1 day)" at their own moment of running.
    assert end == NOW
    assert abs(start - feast_start) < timedelta(minutes=5)
    # NOW is taken when the module is collected, maybe minutes earlier.
    day = timedelta(days=1)
    assert before - day - timedelta(seconds=1) <= start <= after - day


@pytest.mark.parametrize("unique", [False, True], ids=["ties", "one_row_per_key"])
def test_pull_equals_the_offline_stores_pull_latest(tmp_path, unique):
    rows = _rows()
    if unique:  # one row per key: the ranking is skipped
        rows = rows.filter(pc.equal(rows["event_timestamp"], rows["created_timestamp"]))
        rows = rows.filter(pc.equal(rows["event_timestamp"], NOW - timedelta(hours=3)))
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db", rows)
    view = store.get_feature_view("stats")
    source = view.batch_source
    counts = [30, 0, 30] if unique else [30, 20, 30]
    for (start, end), count in zip(
        ((T0, T1), (T1, NOW), (T0, NOW)), counts, strict=True
    ):
        expected = DeltaOfflineStore.pull_latest_from_table_or_query(
            config=store.config,
            data_source=source,
            join_key_columns=["customer_id"],
            feature_name_columns=["spend", "visits", "tier"],
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
            start_date=start,
            end_date=end,
        ).to_arrow()
        got = _pull_latest(store, view, start, end)
        assert got.equals(expected)
        assert got.num_rows == count


UNPUBLISHED = """
ghost_view = FeatureView(
    name="ghost", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="spend", dtype=Float64)],
    source=FileSource(name="ghost", path="data/ghost", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
"""


def _repo_with_an_unpublished_view(path) -> FeatureStore:
    """The stats repo plus a view "ghost" whose Delta table was never written."""
    store = _repo(path, f"  type: sqlite\n  path: {path}/online.db")
    ns: dict[str, object] = {}
    exec(DEFINITIONS + UNPUBLISHED, ns)
    store.apply([ns["ghost_view"]])
    return store


def test_a_view_without_a_table_is_named_and_the_others_are_written(tmp_path):
    store = _repo_with_an_unpublished_view(tmp_path)
    with pytest.raises(ViewsNotMaterializedError) as caught:
        materialize(store.repo_path, T0, T1)
    assert caught.value.reason == Reason.VIEWS_NOT_MATERIALIZED
    assert caught.value.written == {"stats": 30}
    assert list(caught.value.failed) == ["ghost"]
    assert len(_sqlite_dump(tmp_path)) == 30 * 3  # three features per entity
    assert _intervals(store) == [(T0, T1)]
    # ghost's interval is not recorded: the next incremental run retries it.
    store.refresh_registry()
    assert not store.get_feature_view("ghost").materialization_intervals
    with pytest.raises(ViewsNotMaterializedError) as again:
        materialize_incremental(store.repo_path, NOW)
    assert again.value.written == {"stats": 20}


def test_cli_names_the_unpublished_view_in_one_line_and_exits_1(tmp_path, capsys):
    store = _repo_with_an_unpublished_view(tmp_path)
    repo = ["--repo", str(store.repo_path)]
    result = CliRunner().invoke(
        cli, ["materialize", T0.isoformat(), T1.isoformat(), *repo, "--json"]
    )
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "stats": 30,
        "ghost": None,
        "@late_entities": {"stats": 0},
        "@rederived": {},
    }
    [line] = result.stderr.splitlines()
    ghost = tmp_path / "data" / "ghost"
    assert line == (
        f"error: feature view 'ghost' not materialised: no Delta table at {ghost}"
    )
    result = CliRunner().invoke(
        cli, ["materialize", "--incremental", NOW.isoformat(), *repo]
    )
    assert isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    assert result.stdout == "stats: 20 entities\n"
    assert "Traceback" not in result.output
    # The `python -m featurestore.services.online.materialize` alias too.
    assert main([NOW.isoformat(), *repo]) == 1
    captured = capsys.readouterr()
    assert captured.out == "stats: 0 entities\n"
    assert captured.err.count("\n") == 1 and "'ghost'" in captured.err


TYPO = """
typo_view = FeatureView(
    name="typo", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="spend", dtype=Float64)],
    source=FileSource(name="typo", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_at"),
)
"""


def test_a_view_naming_a_column_its_table_lacks_is_one_line_the_others_written(
    tmp_path,
):
    # The stats table has created_timestamp; the view says created_at (a typo).
    # The view is named in one line and exit 1, the other view is written; it
    # was "error: Column created_at does not exist in schema", exit 2, nothing
    # written (delta's bare KeyError was taken for an unknown --views name).
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
    ns: dict[str, object] = {}
    exec(DEFINITIONS + TYPO, ns)
    store.apply([ns["typo_view"]])
    repo = ["--repo", str(store.repo_path)]
    result = CliRunner().invoke(
        cli, ["materialize", T0.isoformat(), T1.isoformat(), *repo, "--json"]
    )
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "stats": 30,
        "typo": None,
        "@late_entities": {"stats": 0},
        "@rederived": {},
    }
    [line] = result.stderr.splitlines()
    table = tmp_path / "data" / "stats"
    assert line.startswith(f"error: feature view 'typo' not materialised: "
                           f"feature table {table} has no column 'created_at' "
                           "(the source's created_timestamp_column)")  # fmt: skip
    assert len(_sqlite_dump(tmp_path)) == 30 * 3
    # An unknown --views name is still a usage error.
    result = CliRunner().invoke(
        cli, ["materialize", T0.isoformat(), T1.isoformat(), *repo, "--views", "no"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no online feature view named 'no' (online views: stats, typo)\n"
    )
    assert main([T1.isoformat(), *repo, "--views", "no"]) == 2  # the -m alias


STRING_KEYS = """
strkey_view = FeatureView(
    name="strkey", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="spend", dtype=Float64)],
    source=FileSource(name="strkey", path="data/strkey", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
"""


def test_a_table_whose_join_key_has_another_type_is_one_line_the_others_written(
    tmp_path,
):
    # customer is INT64; the strkey table holds customer_id as strings. It was
    # written online under keys no client sends (30 rows, no error).
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
    rows = _rows()
    as_text = pc.cast(rows.column("customer_id"), pa.string())
    write_deltalake(
        str(tmp_path / "data" / "strkey"),
        rows.select(["spend", "event_timestamp", "created_timestamp"]).append_column(
            "customer_id", as_text
        ),
    )
    ns: dict[str, object] = {}
    exec(DEFINITIONS + STRING_KEYS, ns)
    store.apply([ns["strkey_view"]])
    repo = ["--repo", str(store.repo_path)]
    result = CliRunner().invoke(
        cli, ["materialize", T0.isoformat(), T1.isoformat(), *repo, "--json"]
    )
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "stats": 30,
        "strkey": None,
        "@late_entities": {"stats": 0},
        "@rederived": {},
    }
    [line] = result.stderr.splitlines()
    assert line.startswith("error: feature view 'strkey' not materialised: ")
    for part in ("'customer_id'", "string", "INT64"):
        assert part in line, (part, line)
    with sqlite3.connect(tmp_path / "online.db") as conn:
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master")}
    assert "incr_stats" in tables and len(_sqlite_dump(tmp_path)) == 30 * 3
    if "incr_strkey" in tables:
        with sqlite3.connect(tmp_path / "online.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM incr_strkey").fetchone() == (0,)


MISTYPED = """
mistyped_view = FeatureView(
    name="mistyped", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="spend", dtype={dtype})],
    source=FileSource(name="mistyped", path="data/stats", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
"""


@pytest.mark.parametrize(
    ("dtype", "expected"), [("String", "a string"), ("Int64", "an integer")]
)
def test_a_feature_column_of_another_type_is_one_line_the_others_written(
    tmp_path, dtype, expected
):
    # spend is float64 in the table. Declared String, materialize said
    # "unexpected AttributeError: 'float' object has no attribute 'encode'";
    # declared Int64, it wrote 30 rows with the fraction cut off (1.5 -> 1).
    store = _repo(tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db")
    ns: dict[str, object] = {}
    exec(DEFINITIONS + MISTYPED.format(dtype=dtype), ns)
    store.apply([ns["mistyped_view"]])
    repo = ["--repo", str(store.repo_path)]
    result = CliRunner().invoke(
        cli, ["materialize", T0.isoformat(), T1.isoformat(), *repo, "--json"]
    )
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "stats": 30,
        "mistyped": None,
        "@late_entities": {"stats": 0},
        "@rederived": {},
    }
    [line] = result.stderr.splitlines()
    assert line == (
        "error: feature view 'mistyped' not materialised: feature table of view "
        f"'mistyped': column 'spend' (a feature, value type {dtype.upper()}) is "
        f"double, expected {expected}; fix the feature view's definition (then "
        f"feast apply) or republish the column as {expected}"
    )
    with sqlite3.connect(tmp_path / "online.db") as conn:
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "incr_stats" in tables
        if "incr_mistyped" in tables:
            count = conn.execute("SELECT COUNT(*) FROM incr_mistyped").fetchone()
            assert count == (0,)
