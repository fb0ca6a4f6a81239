"""Manage API keys: add-key, list-keys, revoke-key, rotate-key (--file F)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from featurestore.services.auth.api_keys import (
    ApiKeyInfo,
    add_key,
    list_keys,
    revoke_key,
    rotate_key,
)
from featurestore.services.auth.errors import AuthError

_SEEN_ONCE = "shown only now"
_RELOAD = "servers using the file refuse it once they re-read it (about a second)"
_RELOAD_OLD = (
    "servers using the file refuse the old key once they re-read it (about a second)"
)


def main(argv: list[str] | None = None) -> int:
    """Run one key command; 0 ok, 2 a bad name, id or key file (nothing written).

    Only a new key is ever printed (on stdout, once: the file holds its hash);
    never a hash, never another key.
    """
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except AuthError as exc:  # a bad name, id or key file: fix and re-run
        print(f"error: {exc.reason}: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m featurestore.services.auth", description=__doc__
    )
    key_file = argparse.ArgumentParser(add_help=False)
    key_file.add_argument("--file", type=Path, required=True, help="the API key file")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser(
        "add-key", parents=[key_file], help="create a key for a principal"
    )
    add.add_argument("--principal", required=True, help="who the key speaks for")
    add.add_argument("--role", action="append", default=[], help="a role (repeatable)")
    add.set_defaults(run=_add)
    listing = commands.add_parser(
        "list-keys", parents=[key_file], help="ids, principals, roles, created"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(run=_list)
    for name, run, what in (
        ("revoke-key", _revoke, "remove a key"),
        ("rotate-key", _rotate, "replace a key with a new one"),
    ):
        command = commands.add_parser(name, parents=[key_file], help=what)
        command.add_argument("key_id", metavar="KEY_ID", help="the key's id")
        command.set_defaults(run=run)
    return parser


def _add(args: argparse.Namespace) -> int:
    key = add_key(args.file, args.principal, args.role)
    print(key)
    print(
        f"key {key.split('_', 2)[1]} for {args.principal!r} added to {args.file}; "
        f"it is {_SEEN_ONCE}",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    keys = list_keys(args.file)
    if args.json:
        print(json.dumps([_as_json(k) for k in keys], indent=2, sort_keys=True))
    elif keys:
        rows = [("ID", "PRINCIPAL", "ROLES", "CREATED")]
        rows += [
            (k.id, k.principal, ",".join(k.roles) or "-", k.created or "-")
            for k in keys
        ]
        widths = [max(len(row[n]) for row in rows) for n in range(4)]
        for row in rows:
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            print("  ".join(cells).rstrip())
    if not keys and not args.json:  # "[]" says it to a script
        print(f"no API keys in {args.file}", file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    gone = revoke_key(args.file, args.key_id)
    print(
        f"key {gone.id} of {gone.principal!r} revoked in {args.file}; {_RELOAD}",
        file=sys.stderr,
    )
    return 0


def _rotate(args: argparse.Namespace) -> int:
    key, new = rotate_key(args.file, args.key_id)
    print(key)
    print(
        f"key {args.key_id} of {new.principal!r} replaced by key {new.id} (same "
        f"roles) in {args.file}; {_RELOAD_OLD}; the new key is {_SEEN_ONCE}",
        file=sys.stderr,
    )
    return 0


def _as_json(key: ApiKeyInfo) -> dict[str, object]:
    return {
        "id": key.id,
        "principal": key.principal,
        "roles": list(key.roles),
        "created": key.created,
    }


if __name__ == "__main__":
    sys.exit(main())
