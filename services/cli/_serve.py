"""``featurestore serve`` (the server's own flags) and ``featurestore auth``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from featurestore.services.cli._common import USAGE, announce_project, json_option

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from featurestore.services.server.settings import ServerSettings

    _F = TypeVar("_F", bound=Callable[..., Any])

_SERVE_HELP = """Run the gRPC server until SIGTERM/SIGINT (then drain and exit 0).

Takes every flag of the server (FS_* environment variables, overridden by
flags): --address, --repo, TLS, auth, --workers, --front and the rest;
`featurestore serve --help` lists them. --ui-address also serves the web
console from this process.
"""

_UI_FLAG = (
    (
        "--ui-address",
        "HOST:PORT",
        "also serve the web console (featurestore ui) on HOST:PORT from this "
        "process, with the same project, auth, TLS and audit settings "
        "(env FS_UI_ADDRESS)",
    ),
)


@click.command(
    "serve",
    help=_SERVE_HELP,
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve(server_args: tuple[str, ...]) -> None:
    # The flags are the server's argparse parser (services/server/cli.py), so
    # this command, `python -m featurestore.services.server` and the workers
    # that supervise() starts with the same flags all take exactly the same.
    from featurestore.services.server.__main__ import run as run_server
    from featurestore.services.server.cli import settings_from_args

    argv, prog = list(server_args), "featurestore serve"
    argv, ui_address = _ui_address(argv)
    try:
        settings = settings_from_args(argv, _SERVE_HELP, prog, _UI_FLAG)
    except SystemExit as exc:  # argparse: --help (0), a bad flag or value (2)
        code = exc.code if isinstance(exc.code, int) else USAGE
        raise click.exceptions.Exit(code) from None
    repo_given = _repo_flag_given(argv)
    if ui_address is not None:
        stop_console = _console_beside(settings, ui_address, prog)
    try:
        code = run_server(
            settings,
            argv,
            prog=prog,
            started=lambda: announce_project(settings.repo_path, repo_given),
        )
    finally:
        if ui_address is not None:
            stop_console()
    if code:
        raise click.exceptions.Exit(code)


def _repo_flag_given(argv: list[str]) -> bool:
    """Whether ``argv`` sets --repo (as the server's parser reads it,
    abbreviations included)."""
    from featurestore.services.server.cli import build_parser

    return build_parser().parse_known_args(argv)[0].repo_path is not None


def _ui_address(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` without ``--ui-address X``, and X (else $FS_UI_ADDRESS or None)."""
    import os

    rest, address = [], os.environ.get("FS_UI_ADDRESS") or None
    args = iter(argv)
    for arg in args:
        if arg == "--ui-address":
            address = next(args, None)
            if address is None:
                raise click.UsageError("--ui-address needs HOST:PORT")
        elif arg.startswith("--ui-address="):
            address = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, address


def _console_beside(
    settings: ServerSettings, address: str, prog: str
) -> Callable[[], None]:
    """Start the web console on ``address`` in a thread of this process; return
    what stops it (the thread must end before the interpreter does: a daemon
    thread still in native code at exit can crash the process)."""
    import threading

    from featurestore.services.auth import AuthConfigError
    from featurestore.services.server.transport import ConfigError
    from featurestore.services.ui import UiSettings, build_server

    try:
        ui = UiSettings(**{**settings.model_dump(), "ui_address": address})
        console = build_server(ui)
    except (ConfigError, AuthConfigError, ValueError) as exc:
        click.echo(f"{prog}: console: {exc}", err=True)
        raise click.exceptions.Exit(USAGE) from exc
    thread = threading.Thread(target=console.run, name="console", daemon=True)
    thread.start()
    click.echo(f"console: {ui.base_url}", err=True)

    def stop() -> None:
        console.should_exit = True
        thread.join(timeout=10)

    return stop


@click.group("auth")
def auth() -> None:
    """Manage API keys (the file a server reads with --api-keys-file).

    A key reads fsk_<id>_<secret>; revoke-key and rotate-key take its id,
    as list-keys shows it. The file holds only argon2id hashes.
    """


def _key_file(help_text: str = "the API key file") -> Callable[[_F], _F]:
    return click.option(
        "--file",
        "key_file",
        type=click.Path(path_type=Path, dir_okay=False),
        required=True,
        help=help_text,
    )


def _auth_main(*argv: str) -> None:
    # The commands are `python -m featurestore.services.auth`'s: one
    # implementation of each, and of what they print (a new key, once).
    from featurestore.services.auth.__main__ import main as auth_main

    code = auth_main(list(argv))
    if code:
        raise click.exceptions.Exit(code)


@auth.command("add-key", short_help="Create a key for a principal, printed once.")
@_key_file("the API key file (created when missing)")
@click.option("--principal", required=True, help="who the key speaks for")
@click.option("--role", "roles", multiple=True, help="a role (repeatable)")
def add_key(key_file: Path, principal: str, roles: tuple[str, ...]) -> None:
    """Create a key for a principal; print it once (only its hash is stored)."""
    argv = ["add-key", "--file", str(key_file), "--principal", principal]
    for role in roles:
        argv += ["--role", role]
    _auth_main(*argv)


@auth.command("list-keys", short_help="List the keys: id, principal, roles, created.")
@_key_file()
@json_option
def list_keys(key_file: Path, as_json: bool) -> None:
    """Every key's id, principal, roles and creation time (never a hash)."""
    _auth_main("list-keys", "--file", str(key_file), *(["--json"] if as_json else []))


@auth.command(
    "revoke-key", short_help="Remove a key; servers refuse it within a second."
)
@_key_file()
@click.argument("key_id")
def revoke_key(key_file: Path, key_id: str) -> None:
    """Remove the key KEY_ID; running servers refuse it within about a second.

    An unknown KEY_ID is an error (exit 2) and the file is left as it was.
    """
    _auth_main("revoke-key", "--file", str(key_file), key_id)


@auth.command("rotate-key", short_help="Replace a key with a new one, printed once.")
@_key_file()
@click.argument("key_id")
def rotate_key(key_file: Path, key_id: str) -> None:
    """Replace the key KEY_ID with a new key (new id, same principal and roles).

    The new key is printed once; running servers refuse the old one within
    about a second.
    """
    _auth_main("rotate-key", "--file", str(key_file), key_id)


COMMANDS = [serve, auth]
