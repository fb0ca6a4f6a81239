"""The console's pages, one router per area."""

from __future__ import annotations

from featurestore.services.ui.pages import (
    catalog,
    contracts,
    drift,
    login,
    lookup,
    tables,
    training,
)

ROUTERS = [
    login.router,
    catalog.router,
    contracts.router,
    tables.router,
    drift.router,
    lookup.router,
    training.router,
]
"""Every router, in the order the app includes them."""
