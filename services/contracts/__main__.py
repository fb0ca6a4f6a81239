"""Entry point for `python -m services.contracts`."""

from __future__ import annotations

import sys

from services.contracts._cli import main

if __name__ == "__main__":
    sys.exit(main())
