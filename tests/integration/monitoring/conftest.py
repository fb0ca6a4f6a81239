"""Monitoring tests run against the server itself and through fs-front."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import start_http_server

from tests.redis_harness import free_port


@pytest.fixture(params=["grpc-python", "fs-front"])
def transport(request: pytest.FixtureRequest) -> bool:
    """True when clients go through fs-front."""
    return bool(request.param == "fs-front")


@pytest.fixture(scope="session")
def metrics_port() -> Iterator[int]:
    """This process's Prometheus metrics, served over HTTP on 127.0.0.1."""
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1")
    yield port
    server.shutdown()
    thread.join()
