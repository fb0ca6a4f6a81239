"""Drift: score per feature over versions, and a histogram of baseline vs a version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from featurestore.services.ui import monitoring
from featurestore.services.ui.access import PROJECT
from featurestore.services.ui.pages.login import console_of

router = APIRouter()

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]


@router.get("/drift")
def drift_index(request: Request) -> Response:
    """Every table's last drift verdict (when monitoring is available)."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        tables = console.tables()
    health = monitoring.status(console)
    return console.render(request, "drift_index.html", tables=tables, monitoring=health)
