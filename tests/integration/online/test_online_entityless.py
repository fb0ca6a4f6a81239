"""An entity-less view materialised as Feast writes it; one failing view is one line."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pyarrow as pa
import pytest
import redis
from click.testing import CliRunner
from deltalake import write_deltalake
from feast import FeatureStore

from featurestore.services.cli import cli
from featurestore.services.online import ViewsNotMaterializedError
from featurestore.services.online.materialize import (
    materialize,
    materialize_incremental,
)
from tests.integration.online.test_online_materialize import DEFINITIONS, NOW, T0, _repo
from tests.redis_harness import start_redis_process

pytestmark = pytest.mark.integration

# Feast gives a view with entities=[] its dummy entity (join key __dummy_id).
GLOB = """
glob_view = FeatureView(
    name="glob", entities=[], ttl=timedelta(days=1),
    schema=[Field(name="gx", dtype=Float64), Field(name="label", dtype=String)],
    source=FileSource(name="glob", path="data/glob", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
"""
# Declares gx a string over the double column: its rows cannot be written.
BROKEN = """
broken_view = FeatureView(
    name="broken", entities=[], ttl=timedelta(days=1),
    schema=[Field(name="gx", dtype=String)],
    source=FileSource(name="broken", path="data/glob", file_format=DeltaFormat(),
                      timestamp_field="event_timestamp"),
)
"""
TS = pa.timestamp("us", tz="UTC")


def _glob_rows() -> pa.Table:
    # The newest row wins (gx 3.5). No tie on event time: Feast's stores break
    # one differently (see the README's Online store).
    hours = [5, 1, 3]
    return pa.table(
        {
            "gx": pa.array([1.5, 3.5, 2.5]),
            "label": pa.array(["a", "d", None]),
            "event_timestamp": pa.array([NOW - timedelta(hours=h) for h in hours], TS),
            "created_timestamp": pa.array(
                [NOW - timedelta(hours=h) for h in hours], TS
            ),
        }
    )


def _with_views(path, online: str, extra: str, names: list[str], *, feast: bool):
    """The stats repo plus views ``names`` (defined in ``extra``) over data/glob.

    Applied before stats' materialisation, so they come first in the registry
    too. ``feast``: Feast's own file offline store reads the Delta tables
    (it adds the dummy key to an entity-less view's rows, as Feast's stores do).
    """
    store = _repo(path, online)
    if feast:
        yaml = path / "feature_store.yaml"
        yaml.write_text(
            yaml.read_text().replace(
                "featurestore.services.offline.DeltaOfflineStore", "file"
            )
        )
        store = FeatureStore(repo_path=str(path))
    write_deltalake(str(path / "data" / "glob"), _glob_rows())
    ns: dict[str, object] = {}
    exec(DEFINITIONS + extra, ns)
    store.apply([ns[f"{name}_view"] for name in names])
    return store


def _sqlite_dump(path, table: str = "incr_glob") -> list[tuple]:
    with sqlite3.connect(path / "online.db") as conn:
        return sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall())


def _redis_dump(port: int) -> dict[bytes, dict[bytes, bytes]]:
    """The entity-less views' hashes (keyed by the dummy entity key)."""
    client = redis.Redis(port=port)
    try:
        keys = client.scan_iter(match=b"*__dummy_id*", count=1000)
        return {k: client.hgetall(k) for k in keys}
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "redis"])
def sides(request, tmp_path):
    """(ours, feast) repos with stats and glob, and a dump of glob's online rows.

    Only glob is compared: Feast's file offline store breaks stats' ties on
    event time otherwise (test_online_materialize compares stats).
    """
    if request.param == "sqlite":
        stores = [
            _with_views(
                tmp_path / s, f"  type: sqlite\n  path: {tmp_path / s}/online.db",
                GLOB, ["glob"], feast=s == "feast",
            )
            for s in ("ours", "feast")
        ]  # fmt: skip
        yield stores, lambda i: _sqlite_dump(tmp_path / ("ours", "feast")[i])
        return
    servers = [start_redis_process(tmp_path / f"redis{i}") for i in range(2)]
    try:
        stores = [
            _with_views(
                tmp_path / s,
                f"  type: redis\n  connection_string: {srv.host}:{srv.port}",
                GLOB, ["glob"], feast=s == "feast",
            )
            for s, srv in zip(("ours", "feast"), servers, strict=True)
        ]  # fmt: skip
        yield stores, lambda i: _redis_dump(servers[i].port)
    finally:
        for srv in servers:
            srv.stop()


def test_an_entityless_view_is_written_with_feasts_bytes(sides):
    # It was IndexError in encode_entity_keys (no join keys), a traceback,
    # and no view after it in the registry written.
    (ours, feast), dump = sides
    assert materialize(ours.repo_path, T0, NOW) == {"glob": 1, "stats": 30}
    feast.materialize(T0, NOW)
    assert dump(0) == dump(1) != {}
    # Feast's own online read (no __dummy_id sent) finds what we wrote.
    refs = ["glob:gx", "glob:label", "stats:visits"]
    got = ours.get_online_features(refs, [{"customer_id": 1}, {"customer_id": 2}])
    assert got.to_dict() == {
        "customer_id": [1, 2],
        "gx": [3.5, 3.5],
        "label": ["d", "d"],
        "visits": [11, 21],
    }
    assert materialize_incremental(ours.repo_path, NOW) == {"glob": 0, "stats": 0}


def test_a_view_that_cannot_be_written_is_one_line_and_the_others_are(tmp_path):
    store = _with_views(
        tmp_path, f"  type: sqlite\n  path: {tmp_path}/online.db",
        GLOB + BROKEN, ["broken", "glob"], feast=False,
    )  # fmt: skip
    with pytest.raises(ViewsNotMaterializedError) as caught:
        materialize(store.repo_path, T0, NOW)
    assert caught.value.written == {"glob": 1, "stats": 30}
    assert list(caught.value.failed) == ["broken"]
    store.refresh_registry()
    assert not store.get_feature_view("broken").materialization_intervals
    repo = ["--repo", str(store.repo_path)]
    for args in (["--incremental", NOW.isoformat()], [T0.isoformat(), NOW.isoformat()]):
        result = CliRunner().invoke(cli, ["materialize", *args, *repo, "--json"])
        assert isinstance(result.exception, SystemExit)  # not an uncaught error
        assert result.exit_code == 1
        assert json.loads(result.stdout)["broken"] is None
        [line] = result.stderr.splitlines()
        assert line.startswith("error: feature view 'broken' not materialised: ")
    assert len(_sqlite_dump(tmp_path, "incr_stats")) == 30 * 3
