"""The `contextwise` command line. One module per command group; each defines `register(group)`."""

from __future__ import annotations

import importlib
import sys

import click

from contextwise.errors import ContextwiseError

# Each module adds its commands to the group; a module that is not there yet is simply absent.
COMMAND_MODULES = ("count", "models", "budget", "demo", "evals", "stats", "install", "cache")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="contextwise")
def cli() -> None:
    """Make every LLM call fit, cost less and remember more."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"contextwise.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"contextwise.cli.{_name}":
            raise
        continue
    _module.register(cli)


def main() -> None:
    """Entry point: run the CLI; a ContextwiseError becomes a one-line message and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ContextwiseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "), err=True)
        sys.exit(2)
