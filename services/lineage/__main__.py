"""Entry point for `python -m featurestore.services.lineage`."""

from __future__ import annotations

import sys

from featurestore.services.lineage._cli import main

if __name__ == "__main__":
    sys.exit(main())
