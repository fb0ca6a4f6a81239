"""Entry point for `python -m featurestore.services.contracts`."""

from __future__ import annotations

import sys

from featurestore.services.contracts._cli import main

if __name__ == "__main__":
    sys.exit(main())
