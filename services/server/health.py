"""gRPC health: each service's status, ``Check``, ``List`` and ``Watch`` streams.

grpc_health's ``HealthServicer`` sends every watcher's update while holding
its lock, and ``_send_response`` blocks until the message is on the wire.
grpc-python runs a stream's close callbacks (which take that same lock) on
its one completion-queue thread, so a watcher going away while a status is
being sent stops the whole server: the sender waits for the queue thread,
the queue thread waits for the lock (grpc/grpc#43403 is the upstream fix,
unreleased). Here sending happens on one sender thread with no lock held,
``set`` only queues a status that changed, and each watcher keeps only its
latest unsent status, so a client that never reads costs one slot and
delays the others' updates at worst; it never blocks ``set`` or ``Check``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

MAX_LISTED_SERVICES = 100
"""``List`` answers RESOURCE_EXHAUSTED above this many services, as grpc-go's
health server does (health.proto lets a server refuse a list too long)."""

_Send = Callable[[health_pb2.HealthCheckResponse], Any]


class _Watcher:
    __slots__ = ("closed", "pending", "queued", "send", "service")

    def __init__(self, service: str, send: _Send, status: int) -> None:
        self.service, self.send = service, send
        self.pending: int | None = status
        self.queued = self.closed = False


class HealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Status per service name ("" is the whole server), served by Check, List
    and Watch (at most ``max_watchers`` streams open at once); ``close`` stops
    the sender thread."""

    def __init__(self, max_watchers: int = 1000) -> None:
        self._max_watchers, self._open_watchers = max_watchers, 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._status: dict[str, int] = {"": SERVING}
        self._watchers: dict[str, set[_Watcher]] = {}
        self._ready: deque[_Watcher] = deque()
        self._shutting_down = self._closed = False
        self._sender = threading.Thread(
            target=self._send_forever, name="health-watch-sender", daemon=True
        )
        self._sender.start()

    def set(self, service: str, status: int) -> None:
        """Record ``service``'s status; watchers hear of it when it changed."""
        with self._lock:
            if not self._shutting_down:
                self._record(service, status)

    def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING from now on; later ``set`` calls are ignored."""
        with self._lock:
            for service in list(self._status):
                self._record(service, NOT_SERVING)
            self._shutting_down = True

    def close(self) -> None:
        """Stop the sender (after the server has stopped)."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._sender.join(timeout=5)

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        with self._lock:
            status = self._status.get(request.service)
        if status is None:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}"
            )
        return health_pb2.HealthCheckResponse(status=status)

    def List(
        self, request: health_pb2.HealthListRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthListResponse:
        """Every registered service's status ("" included), one snapshot."""
        with self._lock:
            statuses = dict(self._status)
        if len(statuses) > MAX_LISTED_SERVICES:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"TOO_MANY_SERVICES: {len(statuses)} services exceed the "
                f"{MAX_LISTED_SERVICES} health List answers; use Check per service",
            )
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in statuses.items()
            }
        )

    def Watch(
        self,
        request: health_pb2.HealthCheckRequest,
        context: grpc.ServicerContext,
        send_response_callback: _Send | None = None,
    ) -> None:
        if send_response_callback is None:  # pragma: no cover - grpc always passes it
            raise RuntimeError("Watch needs grpc-python's non-blocking streams")
        service = request.service
        with self._lock:
            full = self._open_watchers >= self._max_watchers
            if not full:
                self._open_watchers += 1
                status = self._status.get(service, SERVICE_UNKNOWN)
                watcher = _Watcher(service, send_response_callback, status)
                self._watchers.setdefault(service, set()).add(watcher)
                self._queue(watcher)
        if full:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"TOO_MANY_WATCHERS: {self._max_watchers} health Watch streams "
                "are open (setting max_health_watchers); use Check or retry later",
            )
        if not context.add_callback(lambda: self._forget(watcher)):
            self._forget(watcher)  # the stream already ended

    # grpc-python calls a non-blocking handler with a send callback and no
    # thread of its own for the stream's life.
    Watch.experimental_non_blocking = True  # type: ignore[attr-defined]
    Watch.experimental_thread_pool = None  # type: ignore[attr-defined]

    def _record(self, service: str, status: int) -> None:
        # Caller holds the lock.
        if self._status.get(service) == status:
            return
        self._status[service] = status
        for watcher in self._watchers.get(service, ()):
            watcher.pending = status
            self._queue(watcher)

    def _queue(self, watcher: _Watcher) -> None:
        # Caller holds the lock.
        if not watcher.queued:
            watcher.queued = True
            self._ready.append(watcher)
            self._wake.notify()

    def _forget(self, watcher: _Watcher) -> None:
        with self._lock:
            if watcher.closed:
                return
            watcher.closed = True
            self._open_watchers -= 1
            watchers = self._watchers.get(watcher.service)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._watchers[watcher.service]

    def _send_forever(self) -> None:
        while True:
            with self._lock:
                while not self._ready and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                watcher = self._ready.popleft()
                watcher.queued = False
                status, watcher.pending = watcher.pending, None
                if watcher.closed or status is None:
                    continue
            try:
                watcher.send(health_pb2.HealthCheckResponse(status=status))
            except Exception:  # a stream that ended mid-send
                log.debug("health watch send failed", exc_info=True)


class HealthMonitor(threading.Thread):
    """Runs ``check`` every ``interval`` s until ``stop`` and sets every name
    in ``services`` SERVING when it returns True and ``blocked`` (read as the
    status is set) returns False, NOT_SERVING otherwise (or when ``check``
    raises; the error is logged). ``not_serving`` sets NOT_SERVING at once.

    ``blocked`` is read, and statuses are set, under one lock that
    ``not_serving`` takes too: a check takes seconds (a registry refresh, an
    online ping), and its result, set after a ``not_serving`` that came in
    meanwhile (the audit failing), reported SERVING while every call was
    refused, until the next check.
    """

    def __init__(
        self,
        servicer: HealthServicer,
        check: Callable[[], bool],
        services: tuple[str, ...],
        interval: float,
        stop: threading.Event,
        blocked: Callable[[], bool] = lambda: False,
    ) -> None:
        super().__init__(name="health-monitor", daemon=True)
        self.servicer, self.check, self.services = servicer, check, services
        self.interval, self.stop_event, self.blocked = interval, stop, blocked
        self._setting = threading.Lock()

    def check_once(self) -> None:
        try:
            ok = bool(self.check())
        except Exception:
            log.exception("health check failed")
            ok = False
        with self._setting:
            self._set(SERVING if ok and not self.blocked() else NOT_SERVING)

    def not_serving(self) -> None:
        """Report NOT_SERVING now, until a check finds ``blocked`` false."""
        with self._setting:
            self._set(NOT_SERVING)

    def _set(self, status: int) -> None:
        for name in ("", *self.services):
            self.servicer.set(name, status)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.check_once()
