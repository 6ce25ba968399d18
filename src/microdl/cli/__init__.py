"""The ``microdl`` command line: thin wrappers that parse options and call the library.

User mistakes raise :class:`microdl.exceptions.MicrodlError`; :func:`main` turns them
into one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from microdl import __version__
from microdl.cli import catalog as _catalog
from microdl.cli import ddd as _ddd
from microdl.cli import ddd_dataset as _ddd_dataset
from microdl.cli import gnd as _gnd
from microdl.cli import models as _models
from microdl.exceptions import MicrodlError

app = typer.Typer(
    name="microdl",
    help="Deep learning for materials microstructure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"microdl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Deep learning for materials microstructure."""


app.add_typer(_gnd.app, name="gnd")
_ddd.app.command("dataset")(_ddd_dataset.dataset)
_ddd.app.command("status")(_ddd_dataset.status)
_ddd.app.command("export")(_ddd_dataset.export)
app.add_typer(_ddd.app, name="ddd")
app.add_typer(_models.app, name="models")
app.add_typer(_catalog.data_app, name="data")
app.add_typer(_catalog.runs_app, name="runs")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``microdl`` script; returns the exit code."""
    try:
        app(args=argv, standalone_mode=False, prog_name="microdl")
    except MicrodlError as exc:
        typer.echo(f"microdl: error: {exc}", err=True)
        return 2
    except FileNotFoundError as exc:
        typer.echo(f"microdl: error: file not found: {exc.filename or exc}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("microdl: interrupted (long jobs resume from their last checkpoint)", err=True)
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("microdl: aborted", err=True)
        return 1
    except Exception as exc:  # click usage errors, then anything unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if os.environ.get("MICRODL_DEBUG"):
            raise
        typer.echo(f"microdl: internal error: {type(exc).__name__}: {exc} "
                   "(set MICRODL_DEBUG=1 to see the traceback, and please report it)", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
