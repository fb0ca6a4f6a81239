"""Manage API keys: add-key --file F --principal P --role R."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from featurestore.services.auth.api_keys import add_key
from featurestore.services.auth.errors import AuthConfigError


def main(argv: list[str] | None = None) -> int:
    """Add a key to a key file and print it once (it is stored only as a hash)."""
    parser = argparse.ArgumentParser(
        prog="python -m featurestore.services.auth", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-key", help="create a key for a principal")
    add.add_argument("--file", type=Path, required=True, help="the API key file")
    add.add_argument("--principal", required=True, help="who the key speaks for")
    add.add_argument("--role", action="append", default=[], help="a role (repeatable)")
    args = parser.parse_args(argv)
    try:
        key = add_key(args.file, args.principal, args.role)
    except AuthConfigError as exc:  # a bad name or key file: fix and re-run
        print(f"error: {exc.reason}: {exc}", file=sys.stderr)
        return 2
    print(key)
    print(
        f"key for {args.principal!r} added to {args.file}; it is shown only now",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
