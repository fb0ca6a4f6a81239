"""``featurestore serve`` (the server's own flags) and ``featurestore auth add-key``."""

from __future__ import annotations

from pathlib import Path

import click

from featurestore.services.cli._common import USAGE

_SERVE_HELP = """Run the gRPC server until SIGTERM/SIGINT (then drain and exit 0).

Takes every flag of the server (FS_* environment variables, overridden by
flags): --address, --repo, TLS, auth, --workers, --front and the rest;
`featurestore serve --help` lists them.
"""


@click.command(
    "serve",
    help=_SERVE_HELP,
    short_help="Run the gRPC server (see serve --help for its flags).",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve(server_args: tuple[str, ...]) -> None:
    # The flags are the server's argparse parser (services/server/cli.py), so
    # this command, `python -m featurestore.services.server` and the workers
    # that supervise() starts with the same flags all take exactly the same.
    import pydantic

    from featurestore.services.server.__main__ import run as run_server
    from featurestore.services.server.cli import settings_from_args

    argv, prog = list(server_args), "featurestore serve"
    try:
        settings = settings_from_args(argv, _SERVE_HELP, prog=prog)
    except SystemExit as exc:  # argparse: --help (0) or a bad flag (2)
        code = exc.code if isinstance(exc.code, int) else USAGE
        raise click.exceptions.Exit(code) from None
    except pydantic.ValidationError as exc:
        click.echo(f"{prog}: {exc}", err=True)
        raise click.exceptions.Exit(USAGE) from exc
    code = run_server(settings, argv, prog=prog)
    if code:
        raise click.exceptions.Exit(code)


@click.group("auth")
def auth() -> None:
    """Manage API keys."""


@auth.command("add-key")
@click.option(
    "--file",
    "key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="the API key file (created when missing)",
)
@click.option("--principal", required=True, help="who the key speaks for")
@click.option("--role", "roles", multiple=True, help="a role (repeatable)")
def add_key(key_file: Path, principal: str, roles: tuple[str, ...]) -> None:
    """Create a key for a principal; print it once (only its hash is stored)."""
    from featurestore.services.auth.__main__ import main as auth_main

    argv = ["add-key", "--file", str(key_file), "--principal", principal]
    for role in roles:
        argv += ["--role", role]
    code = auth_main(argv)
    if code:
        raise click.exceptions.Exit(code)


COMMANDS = [serve, auth]
