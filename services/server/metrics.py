"""Online-store latency metrics: a reader wrapper timing every read and ping."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from featurestore.services.online import OnlineReader, ViewRequest, ViewResult

__all__ = ["STORE_ERRORS", "STORE_LATENCY", "TimedReader"]

STORE_LATENCY = Histogram(
    "featurestore_online_store_read_seconds",
    "Online store read latency per request (all views of one RPC).",
    ["store"],
    buckets=(0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 5),
)
STORE_ERRORS = Counter(
    "featurestore_online_store_errors_total",
    "Online store reads that raised, by exception type.",
    ["store", "error"],
)


class TimedReader:
    """An ``OnlineReader`` that records latency and errors of the wrapped one."""

    def __init__(self, inner: OnlineReader, store: str) -> None:
        self.inner, self.store = inner, store
        self._latency = STORE_LATENCY.labels(store)

    def read(
        self,
        project: str,
        views: Sequence[ViewRequest],
        entity_rows: Mapping[str, Sequence[object]],
        now: datetime,
    ) -> list[ViewResult]:
        """Delegate to the wrapped reader, timing the call."""
        started = time.perf_counter()
        try:
            return self.inner.read(project, views, entity_rows, now)
        except Exception as exc:
            STORE_ERRORS.labels(self.store, type(exc).__name__).inc()
            raise
        finally:
            self._latency.observe(time.perf_counter() - started)

    def ping(self) -> bool:
        """Whether the wrapped store answers."""
        return self.inner.ping()

    def close(self) -> None:
        """Close the wrapped reader."""
        self.inner.close()
