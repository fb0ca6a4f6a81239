"""The top-level group, ``version`` and ``main``."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import click

from featurestore.services.cli._common import (
    INTERRUPTED,
    USAGE,
    echo_json,
    json_option,
)

_HELP = """Contract-checked Delta feature tables, a Feast repo and a gRPC service.

\b
Exit codes:
  0  ok
  1  contract or validation failure (findings, failing rows, a failed job)
  2  usage: unknown command, flag, name or file; unusable settings
"""

_PACKAGES = ("featurestore", "feast", "pyspark", "deltalake")


class _Group(click.Group):
    """The root group: a project that cannot be found or read, or an object
    URI no store can take, is usage (exit 2); Ctrl-C is one line and exit 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            from featurestore.services.project import ProjectError
            from featurestore.services.storage import ObjectUriError
        except ImportError:  # an installation without project support
            return super().invoke(ctx)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C: one line, 128 + SIGINT
            click.echo("featurestore: interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None
        except ProjectError as exc:
            click.echo(f"error: {exc.reason.value}: {exc}", err=True)
            raise click.exceptions.Exit(USAGE) from exc
        except ObjectUriError as exc:  # s3://b/a//x, s3://b/a/../x from a user
            click.echo(f"error: {exc.reason}: {exc}", err=True)
            raise click.exceptions.Exit(USAGE) from exc


@click.group(
    cls=_Group,
    help=_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def cli() -> None:
    """The ``featurestore`` group (subcommands are registered below)."""


@cli.command("version", short_help="Versions of featurestore and its engines.")
@json_option
def version_command(as_json: bool) -> None:
    """Print the package version and those of Python, Feast, pyspark, deltalake."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    if as_json:
        echo_json(versions)
        return
    for name, value in versions.items():
        click.echo(f"{name}\t{value or '-'}")


def _register() -> None:
    # The command modules import this one for ``cli``; they are added here so
    # ``import featurestore.services.cli`` gives the complete group.
    from featurestore.services.cli import (
        _contracts,
        _data,
        _jobs,
        _monitor,
        _monitor_drift,
        _project,
        _serve,
        _training,
        _ui,
    )

    modules = (_contracts, _data, _jobs, _monitor, _monitor_drift, _project, _serve)
    for module in (*modules, _training, _ui):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``featurestore``; return its exit code (0 ok, 1 failure, 2 usage)."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else sys.argv[1:],
            prog_name="featurestore",
            standalone_mode=False,
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C, SIGINT
            click.echo("featurestore: interrupted", err=True)
            return INTERRUPTED
        click.echo("Aborted!", err=True)  # end of input at a prompt
        return 1
    except KeyboardInterrupt:  # raised outside click's own handling
        click.echo("featurestore: interrupted", err=True)
        return INTERRUPTED
    return result if isinstance(result, int) else 0
