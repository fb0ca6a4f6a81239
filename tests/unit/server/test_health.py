"""The health servicer on a real grpc-python server: Check, Watch, the
deadlock grpc_health's own servicer has (a watcher closing while a status
is being sent stops the server), and the monitor that sets the statuses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import closing
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from featurestore.services.auth import AuditLog
from featurestore.services.server.health import (
    NOT_SERVING,
    SERVICE_UNKNOWN,
    SERVING,
    HealthMonitor,
    HealthServicer,
)
from featurestore.services.server.interceptors import ErrorAndMetricsInterceptor
from tests.full_disk import full_tmpfs


class Served:
    def __init__(self, max_watchers: int = 1000) -> None:
        self.health = HealthServicer(max_watchers)
        # The interceptor is the server's own: it must leave Watch threadless.
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2),
            interceptors=[ErrorAndMetricsInterceptor()],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = health_pb2_grpc.HealthStub(self.channel)

    def check(self, service: str = "") -> int:
        request = health_pb2.HealthCheckRequest(service=service)
        return int(self.stub.Check(request, timeout=5).status)

    def watch(self, service: str = "", timeout: float = 30) -> grpc.Call:
        request = health_pb2.HealthCheckRequest(service=service)
        return self.stub.Watch(request, timeout=timeout)

    def stop(self) -> None:
        self.channel.close()
        self.health.enter_graceful_shutdown()
        self.server.stop(0).wait()
        self.health.close()


@pytest.fixture
def served() -> Iterator[Served]:
    served = Served()
    yield served
    served.stop()


def test_check_answers_the_status_set_and_not_found_for_an_unknown_service(
    served: Served,
) -> None:
    assert served.check() == SERVING
    served.health.set("svc", NOT_SERVING)
    assert served.check("svc") == NOT_SERVING
    with pytest.raises(grpc.RpcError) as caught:
        served.check("nobody")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nobody" in caught.value.details()


def test_a_watcher_hears_each_change_in_order_and_unchanged_sets_send_nothing(
    served: Served,
) -> None:
    stream = served.watch("svc")
    assert next(stream).status == SERVICE_UNKNOWN
    served.health.set("svc", SERVING)
    assert next(stream).status == SERVING
    for _ in range(50):  # no change: nothing is sent
        served.health.set("svc", SERVING)
    served.health.set("svc", NOT_SERVING)
    assert next(stream).status == NOT_SERVING
    served.health.enter_graceful_shutdown()
    served.health.set("svc", SERVING)  # ignored from now on
    assert served.check("svc") == NOT_SERVING
    stream.cancel()


def test_watchers_closing_while_the_status_changes_do_not_stop_the_server(
    served: Served,
) -> None:
    # grpc_health's servicer sent under its lock and its close callback
    # (run on grpc's one completion-queue thread) took that lock: the first
    # round here never answered the Check.
    stop = threading.Event()

    def flap() -> None:
        while not stop.is_set():
            for status in (SERVING, NOT_SERVING):
                served.health.set("", status)

    flapper = threading.Thread(target=flap, daemon=True)
    flapper.start()
    try:
        for _ in range(20):
            watchers = [served.watch() for _ in range(6)]
            for watcher in watchers:
                assert next(watcher).status in (SERVING, NOT_SERVING)
            for watcher in watchers:
                watcher.cancel()
            assert served.check() in (SERVING, NOT_SERVING)
    finally:
        stop.set()
        flapper.join(timeout=30)
    assert not flapper.is_alive()


def test_graceful_shutdown_tells_watchers_not_serving(served: Served) -> None:
    stream = served.watch()
    assert next(stream).status == SERVING
    served.health.enter_graceful_shutdown()
    assert next(stream).status == NOT_SERVING
    stream.cancel()


def test_watchers_beyond_the_limit_are_resource_exhausted_until_one_leaves() -> None:
    served = Served(max_watchers=2)
    try:
        first, second = served.watch(), served.watch()
        assert next(first).status == next(second).status == SERVING
        with pytest.raises(grpc.RpcError) as caught:
            next(served.watch())
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_health_watchers" in caught.value.details()
        assert served.check() == SERVING  # Check is not limited
        first.cancel()
        deadline = time.monotonic() + 30
        while True:  # the server forgets the cancelled stream soon after
            try:
                third = served.watch()
                assert next(third).status == SERVING
                break
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert time.monotonic() < deadline, "a cancelled watcher stayed open"
                time.sleep(0.05)
        third.cancel()
        second.cancel()
    finally:
        served.stop()


def test_list_gives_every_status_and_refuses_more_than_its_limit(
    served: Served,
) -> None:
    # List (health.proto's newer method) answered UNIMPLEMENTED.
    from featurestore.services.server.health import MAX_LISTED_SERVICES

    served.health.set("a.Service", NOT_SERVING)
    reply = served.stub.List(health_pb2.HealthListRequest(), timeout=5)
    assert {k: v.status for k, v in reply.statuses.items()} == {
        "": SERVING,
        "a.Service": NOT_SERVING,
    }
    for i in range(MAX_LISTED_SERVICES):
        served.health.set(f"s{i}", SERVING)
    with pytest.raises(grpc.RpcError) as caught:
        served.stub.List(health_pb2.HealthListRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "TOO_MANY_SERVICES" in (caught.value.details() or "")


def test_an_audit_failing_during_a_check_leaves_health_not_serving(
    served: Served, tmp_path: Path
) -> None:
    # A check takes seconds (registry refresh, online ping); the audit failing
    # meanwhile set NOT_SERVING, then the check's stale True set SERVING while
    # every call was refused, until the next check.
    with (
        full_tmpfs(tmp_path / "disk") as disk,
        closing(
            AuditLog(disk / "audit.jsonl", interval=3600, retry_seconds=0)
        ) as audit,
    ):

        def check() -> bool:  # the audit's write fails while the store answers
            audit.record("r1", "alice", "/m", [], "allow", "OK", 0.0)
            audit._flush()
            assert audit.refusing
            return True

        monitor = HealthMonitor(
            served.health,
            check,
            ("svc",),
            3600,
            threading.Event(),
            blocked=lambda: audit.refusing,
        )
        audit.on_failing = monitor.not_serving
        monitor.check_once()
        assert (served.check(), served.check("svc")) == (NOT_SERVING, NOT_SERVING)

        # Room again: the next write succeeds, the next check serves.
        (disk / "filler").unlink()
        audit._flush()
        monitor.check = lambda: True
        monitor.check_once()
        assert (served.check(), served.check("svc")) == (SERVING, SERVING)
