"""The web console: server-rendered pages over the registry, contracts and tables."""

from __future__ import annotations

from featurestore.services.ui.app import create_app
from featurestore.services.ui.server import build_server, run_console
from featurestore.services.ui.settings import UiSettings

__all__ = ["UiSettings", "build_server", "create_app", "run_console"]
