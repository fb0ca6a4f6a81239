"""How the server processes and the console log: INFO lines to stderr."""

from __future__ import annotations

import logging

QUIET = ("feast.infra.registry.registry",)
"""Loggers kept to WARNING: Feast's registry says "Registry cache expired, so
refreshing" at INFO on every refresh (each ``registry_refresh_seconds``, in
every process), which drowned the lines an operator acts on."""


def log_to_stderr(line_format: str) -> None:
    """INFO and above to stderr in ``line_format``; ``QUIET`` at WARNING."""
    logging.basicConfig(level=logging.INFO, format=line_format)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
