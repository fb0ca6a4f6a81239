"""Entry point for `python -m services.lineage`."""

from __future__ import annotations

import sys

from services.lineage._cli import main

if __name__ == "__main__":
    sys.exit(main())
