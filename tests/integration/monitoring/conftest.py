"""Monitoring tests run against the server itself and through fs-front."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["grpc-python", "fs-front"])
def transport(request: pytest.FixtureRequest) -> bool:
    """True when clients go through fs-front."""
    return bool(request.param == "fs-front")
