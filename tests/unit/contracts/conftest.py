"""Fixtures for the contracts tests."""

from __future__ import annotations

import pytest

from featurestore.services.contracts import Contract, parse_contract
from tests.unit.contracts._support import BASE_YAML


@pytest.fixture
def base() -> Contract:
    """The base contract, using every check kind."""
    return parse_contract(BASE_YAML, "spend/1.0.0.yaml")
