"""The ``featurestore`` command line: jobs, contracts, lineage and serving."""

from __future__ import annotations

from featurestore.services.cli._root import cli, main

__all__ = ["cli", "main"]
