"""The ``microdl`` command line: thin wrappers that parse options and call the library.

Every mistake ends the same way: :func:`main` prints one line on stderr
(``microdl: error: ...``) and returns exit code 2, never a traceback. Usage
mistakes (unknown command or option, missing argument) print click's usage
block and its error instead, also with exit code 2. Ctrl-C returns 130; a bug
returns 1 with one line (``MICRODL_DEBUG=1`` shows the traceback).

Importing this package selects Matplotlib's headless ``Agg`` backend (unless
``MPLBACKEND`` is already set); the library itself never chooses a backend.
"""

from __future__ import annotations

import errno
import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything can import matplotlib

import typer  # noqa: E402

from microdl import __version__  # noqa: E402
from microdl.cli import catalog as _catalog  # noqa: E402
from microdl.cli import damage as _damage  # noqa: E402
from microdl.cli import ddd as _ddd  # noqa: E402
from microdl.cli import ddd_dataset as _ddd_dataset  # noqa: E402
from microdl.cli import ebsd as _ebsd  # noqa: E402
from microdl.cli import gnd as _gnd  # noqa: E402
from microdl.cli import micrograph as _micrograph  # noqa: E402
from microdl.cli import models as _models  # noqa: E402
from microdl.cli import strain as _strain  # noqa: E402
from microdl.exceptions import DataFileError, MicrodlError  # noqa: E402

CATALOG_ENV = "MICRODL_CATALOG"

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


def _use_catalog(location: str | None) -> str | None:
    """Point every command of this process at the catalog ``location`` (``MICRODL_CATALOG``)."""
    if location is None:
        return None
    if "://" not in location:  # a file: it must be able to exist before any work starts
        from microdl.io._atomic import check_output_file

        path = os.path.expanduser(location)
        if not os.path.isfile(path):
            check_output_file(path, option="--catalog")
        location = path
    os.environ[CATALOG_ENV] = location
    return location


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    catalog: str = typer.Option(
        None, "--catalog", callback=_use_catalog, metavar="URL_OR_PATH",
        help=f"Catalog to record datasets and runs in and to list them from: an SQLite file or a "
             f"database URL (postgresql://...). Sets {CATALOG_ENV} for this command; default: "
             f"${CATALOG_ENV}, else ~/.local/share/microdl/catalog.sqlite.",
    ),
) -> None:
    """Deep learning for materials microstructure."""


app.add_typer(_gnd.app, name="gnd")
_ddd.app.command("dataset")(_ddd_dataset.dataset)
_ddd.app.command("status")(_ddd_dataset.status)
_ddd.app.command("export")(_ddd_dataset.export)
_ddd.app.command("check")(_ddd_dataset.check)
_ddd.app.command("split")(_ddd_dataset.split)
app.add_typer(_ddd.app, name="ddd")
app.add_typer(_ebsd.app, name="ebsd")
app.command("taylor")(_ebsd.taylor)
app.add_typer(_micrograph.app, name="micrograph")
app.add_typer(_damage.app, name="damage")
app.add_typer(_models.app, name="models")
app.add_typer(_strain.app, name="strain")
app.add_typer(_catalog.data_app, name="data")
app.add_typer(_catalog.runs_app, name="runs")


def _usage_error_types() -> tuple[type, ...]:
    """Click's exception base classes (typer may bundle its own copy of click)."""
    types: list[type] = []
    try:
        import click

        types.append(click.ClickException)
    except ImportError:  # pragma: no cover - recent typer vendors click
        pass
    base = getattr(typer, "exceptions", None)
    if base is not None and hasattr(base, "TyperException"):
        types.append(base.TyperException)
    return tuple(types)


def _abort_types() -> tuple[type, ...]:
    types: list[type] = [typer.Abort]
    try:
        import click

        types.append(click.exceptions.Abort)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def _one_line(text: object) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _error(message: object) -> int:
    typer.echo(f"microdl: error: {_one_line(message)}", err=True)
    return 2


def _interrupted() -> int:
    typer.echo("microdl: interrupted (long jobs resume from their last checkpoint)", err=True)
    return 130


def _cause(exc: BaseException) -> BaseException | None:
    return exc.__cause__ or exc.__context__


_USER_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM}


def _os_error(exc: OSError) -> int | None:
    """Exit code 2 and one line for an OSError about a path the user gave; None for others."""
    name = exc.filename
    if isinstance(exc, FileNotFoundError):
        return _error(f"file not found: {name or exc}")
    if name is None and exc.errno not in _USER_ERRNOS:
        return None
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, IsADirectoryError):
        reason = "it is a folder, a file was expected"
    elif isinstance(exc, NotADirectoryError):
        reason = "a part of the path is a file, not a folder"
    where = f"{os.fspath(name)!r}" if name is not None else "the output"
    return _error(f"cannot use {where}: {reason}")


def _dispatch(argv: list[str] | None) -> int:
    try:
        app(args=argv, standalone_mode=False, prog_name="microdl")
    except MicrodlError as exc:
        return _error(exc)
    except OSError as exc:
        code = _os_error(exc)
        if code is None:
            raise
        return code
    except KeyboardInterrupt:
        return _interrupted()
    except typer.Exit as exc:
        if isinstance(_cause(exc), KeyboardInterrupt):
            return _interrupted()
        return exc.exit_code
    except _abort_types() as exc:
        cause = _cause(exc)
        if isinstance(cause, EOFError):  # an empty or truncated file read by a third-party library
            return _error(f"unexpected end of data: an input file is empty or truncated ({cause or 'EOF'})")
        if isinstance(cause, KeyboardInterrupt):
            return _interrupted()
        typer.echo("microdl: aborted", err=True)
        return 1
    except _usage_error_types() as exc:
        if hasattr(exc, "show"):
            exc.show()
        else:  # pragma: no cover
            typer.echo(f"microdl: error: {exc}", err=True)
        return getattr(exc, "exit_code", 2)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``microdl`` script; returns the exit code.

    Parameters
    ----------
    argv
        Arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 for a failed job or a bug, 2 for a user mistake
        (one line on stderr), 130 after Ctrl-C.
    """
    saved = os.environ.get(CATALOG_ENV)
    try:
        return _dispatch(argv)
    except Exception as exc:  # anything unexpected: a bug
        if os.environ.get("MICRODL_DEBUG"):
            raise
        typer.echo(f"microdl: internal error: {type(exc).__name__}: {_one_line(exc)} "
                   "(set MICRODL_DEBUG=1 to see the traceback, and please report it)", err=True)
        return 1
    finally:  # --catalog applies to this call only (main() may be called in-process)
        if saved is None:
            os.environ.pop(CATALOG_ENV, None)
        else:
            os.environ[CATALOG_ENV] = saved


__all__ = ["DataFileError", "app", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
