"""Entry point for `python -m featurestore.services.cli` (same as `featurestore`)."""

from __future__ import annotations

import sys

from featurestore.services.cli import main

if __name__ == "__main__":
    sys.exit(main())
