"""Cancellation: a join stopped from another thread ends in RequestCancelledError."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from featurestore.services.offline import (
    Cancellation,
    Reason,
    RequestCancelledError,
    ViewInput,
    point_in_time_rows,
)

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
TS = pa.timestamp("us", tz="UTC")


def test_a_new_cancellation_never_stops_anything() -> None:
    cancellation = Cancellation()
    cancellation.raise_if_cancelled()
    with duckdb.connect(":memory:") as con, cancellation.interrupting(con):
        assert con.sql("SELECT 42").fetchall() == [(42,)]
    assert not cancellation.cancelled


def test_once_cancelled_every_check_raises() -> None:
    cancellation = Cancellation()
    cancellation.cancel()
    cancellation.cancel()  # a second call (gRPC's end-of-call callback) is harmless
    with pytest.raises(RequestCancelledError) as info:
        cancellation.raise_if_cancelled()
    assert info.value.reason == Reason.CANCELLED
    with (
        duckdb.connect(":memory:") as con,
        pytest.raises(RequestCancelledError),
        cancellation.interrupting(con),
    ):
        pytest.fail("a cancelled block must not start")  # pragma: no cover


def test_cancel_interrupts_the_running_query_and_names_the_cancellation() -> None:
    # DuckDB pulls the first batch of this stream only once the query runs, so
    # the cancel lands mid-query; the stream is long enough that an interrupt
    # that did not work would be seen (the error would have no DuckDB cause).
    running = threading.Event()
    schema = pa.schema([("x", pa.int64())])

    def batches():
        batch = pa.record_batch([pa.array(np.arange(10_000))], schema=schema)
        running.set()
        for _ in range(1_000_000):
            yield batch

    cancellation = Cancellation()
    canceller = threading.Thread(target=lambda: (running.wait(), cancellation.cancel()))
    canceller.start()
    stream = pa.RecordBatchReader.from_batches(schema, batches())
    with duckdb.connect(":memory:") as con:
        con.register("stream", stream)
        with (
            pytest.raises(RequestCancelledError) as info,
            cancellation.interrupting(con),
        ):
            con.sql("SELECT count(*) FROM stream").fetchall()
        canceller.join()
        assert isinstance(info.value.__cause__, duckdb.InterruptException)
        assert con.sql("SELECT 42").fetchall() == [(42,)]  # the connection lives


def _big_join(n_views: int) -> tuple[pa.Table, list[ViewInput]]:
    """A join of ``n_views`` views, each some tenths of a second of DuckDB."""
    rng = np.random.default_rng(7)
    n_entity, n_feature = 1_000_000, 100_000
    entity = pa.table(
        {
            "k": rng.integers(0, 10_000, n_entity),
            "t": pa.array(T0 + rng.integers(0, 10**12, n_entity), TS),
        }
    )
    feature = pa.table(
        {
            "k": rng.integers(0, 10_000, n_feature),
            "e": pa.array(T0 + rng.integers(0, 10**12, n_feature), TS),
            "v": rng.random(n_feature),
        }
    )
    views = [
        ViewInput(
            name=f"v{i}",
            table=feature,  # one table, shared: no memory per view
            join_keys=["k"],
            event_timestamp_column="e",
            features=["v"],
            output_names=[f"v{i}"],
        )
        for i in range(n_views)
    ]
    return entity, views


def test_a_join_cancelled_while_it_runs_raises_the_cancellation() -> None:
    # A thousand views: the join is still running whenever the cancel comes,
    # most likely inside a view's DuckDB query (most of each view's time).
    entity, views = _big_join(1000)
    cancellation = Cancellation()
    outcome: list[BaseException | None] = []

    def join() -> None:
        try:
            point_in_time_rows(entity, "t", views, cancellation=cancellation)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=join)
    worker.start()
    worker.join(timeout=0.5)  # let it get into its views, then cancel
    cancellation.cancel()
    worker.join()
    (error,) = outcome
    # Wherever the cancel landed (between views, or in a query), the join
    # ends with the cancellation, never with DuckDB's InterruptException.
    assert isinstance(error, RequestCancelledError)
    assert not isinstance(error, duckdb.Error)
    assert error.__cause__ is None or isinstance(
        error.__cause__, duckdb.InterruptException
    )


def test_a_join_cancelled_before_it_starts_runs_no_view() -> None:
    entity, views = _big_join(1000)
    cancellation = Cancellation()
    cancellation.cancel()
    with pytest.raises(RequestCancelledError):
        point_in_time_rows(entity, "t", views, cancellation=cancellation)


def test_the_join_without_a_cancellation_is_unchanged() -> None:
    entity, views = _big_join(1)
    rows = point_in_time_rows(entity.slice(0, 1000), "t", views)
    assert rows.num_rows == 1000


@pytest.mark.timeout(120, method="thread")  # SIGALRM is this test's own
def test_a_ctrl_c_in_a_duckdb_query_is_a_keyboard_interrupt_again() -> None:
    # DuckDB takes a Ctrl-C that lands while it fetches a result and raises
    # RuntimeError("Query interrupted") (or InterruptException) instead:
    # `featurestore materialize` reported it as an unexpected error of one
    # view and went on with the next (exit 1, not 130).
    from featurestore.services.offline.cancellation import keyboard_interrupts

    # A kernel timer, as a Ctrl-C comes from outside: a Python thread sending
    # the signal may not run before the query ends (DuckDB can hold the GIL).
    # SIGALRM with Python's SIGINT handler is what a Ctrl-C runs.
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, signal.default_int_handler)
    with duckdb.connect(":memory:") as con:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        try:
            with pytest.raises(KeyboardInterrupt), keyboard_interrupts():
                # Seconds of fetching, 800 MB at most if never interrupted
                # (bounded, as a fetch of Python tuples would not be).
                con.sql("SELECT i FROM range(100000000) t(i)").to_arrow_table()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def test_only_duckdbs_interrupt_becomes_a_keyboard_interrupt() -> None:
    from featurestore.services.offline.cancellation import keyboard_interrupts

    with pytest.raises(RuntimeError, match="something else"), keyboard_interrupts():
        raise RuntimeError("something else")
