"""write_latest into Redis while another client writes the same keys."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import redis
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.services.online.writer import write_latest
from tests.redis_harness import RedisProcess, dump_hashes, start_redis_process
from tests.unit.online import _world as w
from tests.unit.online._tables import driver_table

pytestmark = pytest.mark.integration

ENTITIES = 20_000  # two of the writer's batches
TS_FIELD = b"_ts:" + w.driver_stats_view.name.encode()


@pytest.fixture
def server(tmp_path) -> Iterator[RedisProcess]:
    process = start_redis_process(tmp_path / "redis")
    yield process
    process.stop()


def _alongside(
    work: Callable[[], int], other: Callable[[threading.Event], None]
) -> int:
    """Run ``work`` while ``other`` runs in a thread until ``work`` returns."""
    started, done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            while not done.is_set():
                other(started)
        except BaseException as exc:
            failures.append(exc)
            started.set()

    thread = threading.Thread(target=run)
    thread.start()
    started.wait()
    try:
        result = work()
    finally:
        done.set()
        thread.join()
    assert not failures, failures
    return result


def test_a_newer_row_written_during_materialize_is_never_overwritten(
    tmp_path, server
) -> None:
    # A materialisation of older rows (a cron job) runs while another client
    # keeps writing newer rows of the same entities (a push, another job).
    # Checked in a separate HGET before the HSET, a newer row landing in
    # between was overwritten by the older one; checked and written in one
    # script, every entity ends with the newer client's last row.
    config = w.redis_config(tmp_path, server.host, server.port)
    newer = driver_table(ENTITIES, minutes_ago=1)
    assert write_latest(config, w.driver_stats_view, newer) == ENTITIES
    newer_rows = dump_hashes(server.port)
    client = redis.Redis(port=server.port)
    client.flushall()
    base_ns = Timestamp.FromString(next(iter(newer_rows.values()))[TS_FIELD])
    last: dict[bytes, bytes] = {}
    passes = iter(range(1, 1_000_000))

    def push_newer_rows(started: threading.Event) -> None:
        # One key at a time, in the writer's key order, a nanosecond later
        # each pass: every pass is newer than the last and than the batch.
        ts = Timestamp(seconds=base_ns.seconds, nanos=base_ns.nanos + next(passes))
        raw = ts.SerializeToString()
        for key in sorted(newer_rows):
            client.hset(key, mapping={**newer_rows[key], TS_FIELD: raw})
            last[key] = raw
            started.set()

    older = driver_table(ENTITIES, minutes_ago=30)

    def materialize_older_rows() -> int:
        # Three runs: three chances for a push to land inside a read-write gap.
        return sum(write_latest(config, w.driver_stats_view, older) for _ in range(3))

    try:
        _alongside(materialize_older_rows, push_newer_rows)
    finally:
        client.close()
    stored = dump_hashes(server.port)
    overwritten = [k for k, row in stored.items() if row[TS_FIELD] != last[k]]
    assert overwritten == [], f"{len(overwritten)} newer rows overwritten"
    assert stored == {k: {**row, TS_FIELD: last[k]} for k, row in newer_rows.items()}


def _noscript_errors(port: int) -> int:
    client = redis.Redis(port=port)
    try:
        stats = client.info("errorstats")
    finally:
        client.close()
    return int(stats.get("errorstat_NOSCRIPT", {}).get("count", 0))


def test_a_flushed_script_cache_is_refilled_and_every_row_written(
    tmp_path, server
) -> None:
    # SCRIPT FLUSH (or a failover to a server without the script) between a
    # chunk's EVAL and its EVALSHAs: those are answered NOSCRIPT and must be
    # sent again, not lost or raised.
    config = w.redis_config(tmp_path, server.host, server.port)
    rows = driver_table(ENTITIES)
    assert write_latest(config, w.driver_stats_view, rows) == ENTITIES
    expected = dump_hashes(server.port)
    flusher = redis.Redis(port=server.port)

    def flush_scripts(started: threading.Event) -> None:
        flusher.script_flush()
        started.set()

    try:
        # Each run overlaps the flushes; repeat until one was refused NOSCRIPT.
        for _ in range(5):
            flusher.flushdb()
            written = _alongside(
                lambda: write_latest(config, w.driver_stats_view, rows),
                flush_scripts,
            )
            assert written == ENTITIES
            assert dump_hashes(server.port) == expected
            if _noscript_errors(server.port):
                break
    finally:
        flusher.close()
    assert _noscript_errors(server.port) > 0
